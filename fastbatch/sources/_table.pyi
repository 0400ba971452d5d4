from collections.abc import Callable, Iterable
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from fastbatch.sources._source import Source

KIND_FIXED: int
KIND_BITS: int
KIND_LIST: int

class TableSource(Source):
    def __init__(self, starts: NDArray[np.int64], table: NDArray[np.int64], shift: int,
                 kinds: NDArray[np.int32], row_bytes: NDArray[np.int64],
                 offset_widths: NDArray[np.int32], bases: NDArray[np.int64],
                 values: NDArray[np.int64], extents: NDArray[np.int64],
                 type_nums: NDArray[np.int32], names: tuple[str, ...],
                 shapes: list[tuple[int, ...]], pad_to: int, pad_value: float,
                 ragged: Callable[[np.ndarray, np.ndarray], object], owners: object,
                 rows: NDArray[np.int64] | None,
                 view: Callable[..., dict[str, object]],
                 corrupt: Callable[[int], Exception],
                 check_rows: Callable[[int], None],
                 assemble: Literal["dict", "tuple", "single"] = ...) -> None: ...
    def views_py(self, start: int, stop: int, step: int) -> dict[str, object]: ...
    def gather(self, idx: NDArray[np.int64],
               wanted: Iterable[int] | None = ...) -> dict[str, object]: ...
