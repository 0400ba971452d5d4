"""Parquet files as a Source: row groups decoded on demand, rows read from the decoded ones.

A Parquet file's rows are not addressable until pyarrow decodes their row group.
``ParquetSource`` keeps the decoded row groups (held by
``fastbatch.sources.parquet_files.RowGroups``, which decodes, reads ahead and frees them)
as one Arrow table in file order, read through a ``TableSource`` (``_table.pyx``, the same
column rules as tables in memory), and translates the loader's sample numbers to rows of
that table: sample ``r`` of row group ``g`` is resident row ``slots[g] + r - starts[g]``.
Before rows are filled (``prepare_rows``, with the GIL) their row groups are made
resident; the fill itself then runs without the GIL, on the kernels' threads.
"""
cimport numpy as cnp
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

from fastbatch._kernels.status cimport FB_ENOMEM
from fastbatch.sources._source cimport Source

import numpy as np

cnp.import_array()


cdef class ParquetSource(Source):
    """The ``Source`` over the row groups of Parquet files (built by
    ``fastbatch.sources.parquet_files``).

    Parameters
    ----------
    groups : fastbatch.sources.parquet_files.RowGroups
        Decodes, reads ahead and frees the row groups; ``groups.starts`` (int64,
        ``n_groups + 1``) are their first rows, then the row count.
    """
    cdef Source inner
    cdef object groups, starts_array, slots_array
    cdef const int64_t *starts
    cdef const int64_t *slots
    cdef Py_ssize_t n_groups
    # Row groups of a window already served are still resident: freed at the next
    # prepare_rows that does not need them.
    cdef bint retiring
    # Set by the file sources (see fastbatch.sources.source_for).
    cdef public object natural_bounds
    cdef public bint mapped

    def __init__(self, groups):
        cdef Source template
        self.groups = groups
        self.starts_array = np.ascontiguousarray(groups.starts, dtype=np.int64)
        self.starts = <const int64_t *>cnp.PyArray_DATA(self.starts_array)
        self.n_groups = self.starts_array.shape[0] - 1
        self.n_samples = self.starts[self.n_groups]
        self.install(groups.resident())
        template = self.inner
        self.init_fills(template.n_outputs)
        for o in range(template.n_outputs):
            self.fills[o] = template.fills[o]
        self.row_bytes, self.fixed = template.row_bytes, template.fixed

    cdef int install(self, resident) except -1:
        # resident: (TableSource over the resident row groups, their slots, retiring).
        self.inner, self.slots_array, self.retiring = resident
        self.slots = <const int64_t *>cnp.PyArray_DATA(self.slots_array)
        return 0

    cdef inline Py_ssize_t group_of(self, int64_t r) noexcept nogil:
        cdef Py_ssize_t lo = 0, hi = self.n_groups - 1, mid
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if self.starts[mid] <= r:
                lo = mid
            else:
                hi = mid - 1
        return lo

    cdef int prepare_rows(self, const int64_t *idx, Py_ssize_t k) except -1:
        cdef Py_ssize_t i
        cdef bint missing = False
        for i in range(k):
            if self.slots[self.group_of(idx[i])] < 0:
                missing = True
                break
        if not missing and not self.retiring:
            return 0
        cdef cnp.npy_intp dims[1]
        dims[0] = k
        rows = cnp.PyArray_SimpleNewFromData(1, dims, cnp.NPY_INT64, <void *>idx)
        needed = np.unique(np.searchsorted(self.starts_array, rows, side="right") - 1)
        self.install(self.groups.ensure(needed))
        # fill trusts the slots: a row group left out would be read at slot -1.
        if (self.slots_array[needed] < 0).any():
            raise SystemError(f"row groups {needed[self.slots_array[needed] < 0]} were "
                              "not made resident")
        return 0

    cdef int translate(self, const int64_t *idx, Py_ssize_t k,
                       int64_t *out) noexcept nogil:
        cdef Py_ssize_t i, g
        for i in range(k):
            g = self.group_of(idx[i])
            out[i] = self.slots[g] + idx[i] - self.starts[g]
        return 0

    cdef int fill(self, const int64_t *idx, Py_ssize_t k, char **dst,
                  bint serial) noexcept nogil:
        cdef int64_t *rows = <int64_t *>malloc(max(k, 1) * sizeof(int64_t))
        cdef int status
        if rows == NULL:
            return FB_ENOMEM
        self.translate(idx, k, rows)
        status = self.inner.fill(rows, k, dst, serial)
        free(rows)
        return status

    cdef object views(self, Py_ssize_t first, Py_ssize_t k, Py_ssize_t step):
        cdef int64_t edge[2]
        cdef int64_t at[1]
        if k == 0:
            return self.inner.views(0, 0, step)
        edge[0], edge[1] = first, first + (k - 1) * step
        # Resident row groups lie in file order: when every group from the first row's
        # to the last row's is resident, the rows are one run of the resident table.
        self.prepare_groups(self.group_of(edge[0]), self.group_of(edge[1]))
        self.translate(edge, 1, at)
        return self.inner.views(at[0], k, step)

    cdef int prepare_groups(self, Py_ssize_t g0, Py_ssize_t g1) except -1:
        cdef Py_ssize_t g
        for g in range(g0, g1 + 1):
            if self.slots[g] < 0 or self.retiring:
                self.install(self.groups.ensure(np.arange(g0, g1 + 1, dtype=np.int64)))
                break
        for g in range(g0, g1 + 1):
            if self.slots[g] < 0:
                raise SystemError(f"row group {g} was not made resident")
        return 0

    cdef cnp.ndarray empty_output(self, Py_ssize_t o, Py_ssize_t k):
        return self.inner.empty_output(o, k)

    cdef object fill_python(self, Py_ssize_t o, object indices, cnp.ndarray out):
        return self.inner.fill_python(o, self.resident_rows(indices), out)

    cdef dict gather_variable(self, object indices):
        return self.inner.gather_variable(self.resident_rows(indices))

    cdef object resident_rows(self, object indices):
        # Rows prepared by prepare_rows: their row groups are resident.
        groups = np.searchsorted(self.starts_array, indices, side="right") - 1
        return np.ascontiguousarray(self.slots_array[groups] + indices
                                    - self.starts_array[groups], dtype=np.int64)

    cdef object assemble(self, tuple outputs):
        return self.inner.assemble(outputs)

    def check_batch_rows(self, rows):
        self.inner.check_batch_rows(rows)

    def check_shuffle_method(self, method):
        self.groups.check_shuffle_method(method)

    def block_bounds(self, block_size=None):
        """Row groups (the natural unit), or ``block_size`` rows never across one."""
        starts = self.starts_array
        if block_size is None:
            natural = starts if self.natural_bounds is None else self.natural_bounds
            return np.array(natural, dtype=np.int64)
        cuts = [np.arange(a, b, block_size, dtype=np.int64)
                for a, b in zip(starts[:-1].tolist(), starts[1:].tolist())]
        return np.concatenate(cuts + [starts[-1:]])

    def will_need_rows(self, ranges, bint now=False):
        # The row groups of those rows: decoded in the background, in file order, or
        # (now) before returning, the groups of the window served before them retired.
        ranges = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
        ranges = ranges[ranges[:, 1] > ranges[:, 0]]
        firsts = np.searchsorted(self.starts_array, ranges[:, 0], side="right") - 1
        lasts = np.searchsorted(self.starts_array, ranges[:, 1] - 1, side="right") - 1
        groups = (np.unique(np.concatenate([np.arange(a, b + 1) for a, b in
                                            zip(firsts.tolist(), lasts.tolist())]))
                  if len(ranges) else np.empty(0, dtype=np.int64))
        resident = self.groups.will_need(groups.astype(np.int64), now)
        if resident is not None:
            self.install(resident)

    @property
    def resident_groups(self):
        """Row groups decoded and readable now (int64, in file order)."""
        return np.flatnonzero(self.slots_array >= 0)
