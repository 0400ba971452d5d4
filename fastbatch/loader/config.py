"""A loader's configuration: fixed when the loader is built, read-only afterwards."""

from typing import NamedTuple


class LoaderConfig(NamedTuple):
    """A loader's configuration, fixed when it is built."""

    n_samples: int
    batch_size: int
    shuffle: bool
    shuffle_method: str
    drop_last: bool
    rank: int
    world_size: int
    shard_remainder: str
    prefetch: int
    samples_per_epoch: int
    block_size: object = None
    shuffle_window: int = 16
    #: A block shuffle's layout: [blocks, shuffle_window, CRC-32 of the block bounds].
    block_layout: object = None


class ConfigField:
    """One read-only field of the loader's configuration (assigning raises)."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, loader, owner=None):
        if loader is None:
            return self
        return getattr(loader._config, self.name)

    def __set__(self, loader, value):
        raise AttributeError(
            f"{type(loader).__name__}.{self.name} is read-only: a loader's configuration "
            "is fixed when it is built; make a new loader to change it")

    def __delete__(self, loader):
        self.__set__(loader, None)
