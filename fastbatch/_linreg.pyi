import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float32] | NDArray[np.float64]
F64 = NDArray[np.float64]

def sgd_epoch(X: Floats, y: F64, order: NDArray[np.int64] | None, batch_size: int,
              mean: F64, inv_scale: F64, beta: F64, intercept: float, lr: float,
              alpha: float) -> tuple[int, float]: ...
def loss(X: Floats, y: F64, mean: F64, inv_scale: F64, beta: F64, intercept: float,
         alpha: float) -> float: ...
def gradient_sums(X: Floats, y: F64, idx: NDArray[np.int64], mean: F64, inv_scale: F64,
                  beta: F64, intercept: float) -> tuple[F64, float, float, int]: ...
def column_moments(X: Floats) -> tuple[F64, F64]: ...
