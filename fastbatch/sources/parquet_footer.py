"""The byte ranges of a Parquet file's row groups, read from its footer without pyarrow.

pyarrow (26.0) ends the whole process (an uncaught C++ ``ParquetException``: ``terminate
called ...``) when ``RowGroupMetaData.column(i)`` meets a column chunk whose metadata does
not check out, e.g. a definition-level histogram of the wrong size in a damaged footer.
The read-ahead only needs where each row group's column chunks lie, so those offsets are
read here from the footer's Thrift (compact protocol), by a small reader that checks every
length and stops at the first thing it does not expect.  A damaged row group is then
reported cleanly by pyarrow when it is decoded (``read_row_group`` raises).

Only the fields the read-ahead uses are kept: per row group, per column chunk, the
``ColumnMetaData`` fields ``total_compressed_size`` (7), ``data_page_offset`` (9) and
``dictionary_page_offset`` (11).  Everything else is skipped by type.
"""

import os
import struct

__all__ = ["row_group_byte_ranges"]

MAGIC = b"PAR1"
MAX_DEPTH = 16                   # Parquet's FileMetaData nests 6 deep; more is damage

# Thrift compact protocol types.
STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)
INTEGERS = (I16, I32, I64)


class _Damaged(Exception):
    pass


class _Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def byte(self):
        if self.at >= len(self.data):
            raise _Damaged
        self.at += 1
        return self.data[self.at - 1]

    def varint(self):
        value = shift = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value
            shift += 7
            if shift > 63:
                raise _Damaged

    def zigzag(self):
        v = self.varint()
        return (v >> 1) ^ -(v & 1)

    def skip(self, n):
        if n < 0 or self.at + n > len(self.data):
            raise _Damaged
        self.at += n

    def fields(self):
        """``(field id, type)`` of a struct's fields, up to its STOP."""
        last = 0
        while True:
            head = self.byte()
            kind = head & 0x0F
            if kind == STOP:
                return
            delta = head >> 4
            last = last + delta if delta else self.zigzag()
            yield last, kind

    def list_header(self):
        head = self.byte()
        size = head >> 4
        if size == 15:
            size = self.varint()
        if size > len(self.data) - self.at:       # every element takes a byte at least
            raise _Damaged
        return size, head & 0x0F

    def value(self, kind, depth, in_container=False):
        """Skip a value of ``kind``; integers are returned."""
        if depth > MAX_DEPTH:
            raise _Damaged
        if kind in (TRUE, FALSE):
            if in_container:                      # a bool element takes a byte
                self.byte()
        elif kind == BYTE:
            self.byte()
        elif kind in INTEGERS:
            return self.zigzag()
        elif kind == DOUBLE:
            self.skip(8)
        elif kind == BINARY:
            self.skip(self.varint())
        elif kind in (LIST, SET):
            size, element = self.list_header()
            for _ in range(size):
                self.value(element, depth + 1, True)
        elif kind == MAP:
            size = self.varint()
            if size:
                if size > len(self.data) - self.at:
                    raise _Damaged
                types = self.byte()
                for _ in range(size):
                    self.value(types >> 4, depth + 1, True)
                    self.value(types & 0x0F, depth + 1, True)
        elif kind == STRUCT:
            for _, inner in self.fields():
                self.value(inner, depth + 1)
        else:
            raise _Damaged
        return None


def _column_range(r, depth):
    """``(first byte, stop)`` of a ColumnChunk's pages, or None without its metadata."""
    found = None
    for field, kind in r.fields():
        if field == 3 and kind == STRUCT:         # ColumnChunk.meta_data
            meta = {}
            for inner, inner_kind in r.fields():
                value = r.value(inner_kind, depth + 2)
                if inner in (7, 9, 11) and inner_kind == I64:
                    meta[inner] = value
            if 7 in meta and 9 in meta:
                start = meta[9]
                if meta.get(11):                  # a dictionary page comes first
                    start = min(start, meta[11])
                found = (start, start + meta[7])
        else:
            r.value(kind, depth + 1)
    return found


def _row_group_range(r, depth):
    first, stop = None, 0
    for field, kind in r.fields():
        if field == 1 and kind == LIST:           # RowGroup.columns
            size, element = r.list_header()
            if element != STRUCT:
                raise _Damaged
            for _ in range(size):
                found = _column_range(r, depth + 2)
                if found is not None:
                    first = found[0] if first is None else min(first, found[0])
                    stop = max(stop, found[1])
        else:
            r.value(kind, depth + 1)
    first = max(first or 0, 0)
    return first, max(stop - first, 0)


def parse_row_group_ranges(footer):
    """``[(first byte, length), ...]`` per row group of a FileMetaData's Thrift bytes."""
    r = _Reader(footer)
    ranges = []
    for field, kind in r.fields():
        if field == 4 and kind == LIST:           # FileMetaData.row_groups
            size, element = r.list_header()
            if element != STRUCT:
                raise _Damaged
            ranges = [_row_group_range(r, 2) for _ in range(size)]
        else:
            r.value(kind, 1)
    return ranges


def row_group_byte_ranges(path, num_row_groups):
    """``(first byte, length)`` of each row group of the Parquet file at ``path``.

    A hint only: ``(0, 0)`` for every row group when the footer cannot be read this way
    (damaged, encrypted, or not matching ``num_row_groups``, pyarrow's count).
    """
    unknown = [(0, 0)] * num_row_groups
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 12:
                return unknown
            f.seek(size - 8)
            tail = f.read(8)
            length = struct.unpack("<I", tail[:4])[0]
            if tail[4:] != MAGIC or length > size - 12:
                return unknown
            f.seek(size - 8 - length)
            footer = f.read(length)
        ranges = parse_row_group_ranges(footer)
    except (OSError, _Damaged, RecursionError):
        return unknown
    if len(ranges) != num_row_groups:
        return unknown
    return [(first, length) if first + length <= size else (0, 0)
            for first, length in ranges]
