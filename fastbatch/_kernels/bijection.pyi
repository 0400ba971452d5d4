import numpy as np
from numpy.typing import NDArray

ROUNDS: int
ROUNDS_SMALL: int
SMALL_N: int
CHUNK_PER_THREAD: int

def apply_into(src: NDArray[np.int64], out: NDArray[np.int64], n: int, key0: int, key1: int,
               inverse: bool, num_threads: int, chunk: int = 0) -> bool: ...
def _round_keys_py(n: int, key0: int, key1: int) -> list[int]: ...
def _one_py(x: int, n: int, key0: int, key1: int, inverse: bool) -> int: ...
