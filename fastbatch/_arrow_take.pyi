import numpy as np
from numpy.typing import NDArray

KIND_FIXED: int
KIND_BITS: int
KIND_LIST: int

class ArrowTake:
    def __init__(self, starts: NDArray[np.int64], table: NDArray[np.int64], shift: int,
                 kinds: NDArray[np.int32], row_bytes: NDArray[np.int64],
                 offset_widths: NDArray[np.int32], bases: NDArray[np.int64],
                 values: NDArray[np.int64], extents: NDArray[np.int64],
                 owners: object) -> None: ...
    def list_offsets(self, idx: NDArray[np.int64], loc: NDArray[np.int64],
                     offsets: list[NDArray[np.int64] | None],
                     stats: NDArray[np.int64]) -> int: ...
    def take(self, idx: NDArray[np.int64], loc: NDArray[np.int64], located: bool,
             outs: list[np.ndarray | None], offsets: list[NDArray[np.int64] | None] | None,
             pad_widths: NDArray[np.int64]) -> None: ...
