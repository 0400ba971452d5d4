from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from fastbatch.loader._progress import Progress
from fastbatch.sources._source import Source


class _Order(Protocol):
    def __len__(self) -> int: ...
    def stride(
        self,
    ) -> (tuple[NDArray[np.int64] | None, int, int, int]
          | tuple[NDArray[np.int64] | None, int, int, int, tuple[int, int] | None]): ...
    def sample_indices(self, i: int, j: int) -> NDArray[np.int64]: ...

class BatchIterator:
    def __init__(self, source: Source, order: _Order, batch_size: int, drop_last: bool,
                 first_batch: int = ..., *, progress: Progress | None = ...,
                 generation: int = ...) -> None: ...
    def __iter__(self) -> BatchIterator: ...
    def __next__(self) -> object: ...
    def __len__(self) -> int: ...
