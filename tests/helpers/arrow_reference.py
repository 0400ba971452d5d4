"""References for Arrow batches: pyarrow's own ``take``, and batches as Python lists."""

import numpy as np

import fastbatch as fb


def as_lists(batch):
    """A batch's columns as Python lists (ragged columns rebuilt from values + offsets)."""
    out = {}
    for name, value in batch.items():
        if isinstance(value, fb.RaggedBatch):
            bounds = zip(value.offsets[:-1], value.offsets[1:])
            out[name] = [value.values[a:b].tolist() for a, b in bounds]
        else:
            out[name] = value.tolist()
    return out


def reference(table, idx, columns=None):
    """Rows ``idx`` of ``table`` as pyarrow's ``take`` gives them, as Python lists."""
    import pyarrow as pa
    taken = table.take(pa.array(np.asarray(idx, dtype=np.int64)))
    return {name: taken.column(name).to_pylist() for name in (columns or table.column_names)}
