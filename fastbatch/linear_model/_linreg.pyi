from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from fastbatch.sources._source import ArraySource

F64 = NDArray[np.float64]
Rows = NDArray[np.int64] | None

LOSSES: dict[str, int]

class EpochOptions:
    l1_applied: F64
    average_coef: F64
    def __init__(self, d: int, *, loss: str = ..., epsilon: float = ..., l1: float = ...,
                 power_t: float = ..., steps: int = ..., average_from: int = ...,
                 l1_applied: F64 | None = ..., l1_total: float = ...,
                 average_coef: F64 | None = ..., average_intercept: float = ...) -> None: ...
    @property
    def steps(self) -> int: ...
    @property
    def l1_total(self) -> float: ...
    @property
    def average_intercept(self) -> float: ...
    @property
    def average_from(self) -> int: ...
    @property
    def averaging(self) -> bool: ...
    def copy(self) -> EpochOptions: ...

class LinregData:
    X: NDArray[np.float32] | NDArray[np.float64]
    source: ArraySource
    def __init__(self, source: ArraySource, y: F64,
                 sample_weight: F64 | None, mean: F64, inv_scale: F64,
                 threads: int) -> None: ...
    def sgd_epoch(self, order: Rows, beta: F64, intercept: float, batch_size: int,
                  learning_rate: float, alpha: float, fit_intercept: bool,
                  previous: bool, windows: NDArray[np.int64] | None = ...,
                  on_window: Callable[[int], object] | None = ...,
                  options: EpochOptions | None = ...
                  ) -> tuple[int, float, tuple[float, float] | None]: ...
    def loss_sums(self, order: Rows, beta: F64, intercept: float, loss: str = ...,
                  epsilon: float = ...) -> tuple[float, float]: ...
    def gradient(self, order: Rows, beta: F64,
                 intercept: float) -> tuple[int, F64, tuple[float, float, float]]: ...
    def moments(self, order: Rows = None) -> tuple[F64, F64, float]: ...
