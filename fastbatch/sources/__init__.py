"""Where a loader's rows come from: arrays (in memory, strided, memory-mapped), Arrow
tables / Hugging Face datasets and files (``open_files``), each read through the one ``Source`` interface
(``fastbatch.sources._source``) by the one batch iterator."""

import mmap

import numpy as np

from fastbatch._validation import as_sample_arrays
from fastbatch.sources._source import ArraySource
from fastbatch.sources.arrow import arrow_source_for
from fastbatch.sources.files import FileSource

__all__ = ["is_memory_mapped", "source_for"]


def source_for(inputs, *, columns=None, pad_to=None, pad_value=0, fill_null=None):
    """The ``Source`` a loader reads ``inputs`` through, and a short description of them.

    One ``FileSource`` (``open_files``) gives its Source (the table options apply to
    Arrow files); one Arrow table or Hugging Face ``Dataset`` gives its ``TableSource``
    (the table options apply); anything else is validated as arrays sharing axis 0 and gives an
    ``ArraySource`` (memory-mapped arrays read in file order).

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch.sources import source_for
    >>> source, inputs = source_for([np.zeros((4, 2)), np.arange(4)])
    >>> len(source), inputs
    (4, '2 array(s)')
    """
    files = [i for i, a in enumerate(inputs) if isinstance(a, FileSource)]
    if files and len(inputs) > 1:
        raise TypeError(f"input {files[0]} is a FileSource: it must be the only input (got "
                        f"{len(inputs)} inputs); open aligned .npy files as a dict")
    if files:
        files = inputs[0]
        source = files.loader_source(columns=columns, pad_to=pad_to, pad_value=pad_value,
                                     fill_null=fill_null)
        # Blocks never span two files, and the files are read ahead (block shuffle).
        source.natural_bounds = np.concatenate([[0], np.cumsum(files.block_rows)])
        source.mapped = True
        return source, f"{files.format} files"
    table = arrow_source_for(inputs, columns=columns, pad_to=pad_to, pad_value=pad_value,
                             fill_null=fill_null)
    if table is not None:
        return table.source, f"a table of {len(table.names)} column(s)"
    arrays = as_sample_arrays(inputs)
    return (ArraySource(arrays, [is_memory_mapped(a) for a in arrays]),
            f"{len(arrays)} array(s)")


def is_memory_mapped(array):
    """True for np.memmap arrays and views whose memory belongs to an mmap.

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch.sources import is_memory_mapped
    >>> is_memory_mapped(np.zeros(3))
    False
    """
    while isinstance(array, np.ndarray):
        if isinstance(array, np.memmap):
            return True
        array = array.base
    return isinstance(array, mmap.mmap)
