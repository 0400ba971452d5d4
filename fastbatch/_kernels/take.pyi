import numpy as np
from numpy.typing import NDArray

def take_into(src: np.ndarray, idx: NDArray[np.int64], out: np.ndarray) -> np.ndarray: ...
