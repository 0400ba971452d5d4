"""The kernels every room shares: status codes and Ctrl-C, the one parallel-for, NumPy
array helpers, permutations, the keyed bijection and row gathers (C sources in ``src/``).

Private: the public names are re-exported by ``fastbatch`` and the C-API by
``fastbatch/__init__.pxd``.
"""
