import numpy as np

from fastbatch.sources._source import Source

class ParquetSource(Source):
    natural_bounds: np.ndarray | None
    mapped: bool
    def __init__(self, groups: object) -> None: ...
    @property
    def resident_groups(self) -> np.ndarray: ...
