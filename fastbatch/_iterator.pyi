from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

class Progress:
    step: int
    position: int
    generation: int
    def __init__(self, step: int = ..., position: int = ...) -> None: ...

class BatchIterator:
    def __init__(self, arrays: list[np.ndarray], order: NDArray[np.int64] | None,
                 n_items: int, batch_size: int, n_batches: int, first_batch: int,
                 single: bool, progress: Progress, on_exhausted: Callable[[], object],
                 sorted_reads: list[bool], first_row: int = ...,
                 row_step: int = ...) -> None: ...
    def __iter__(self) -> BatchIterator: ...
    def __next__(self) -> np.ndarray | tuple[np.ndarray, ...]: ...
    def __len__(self) -> int: ...
