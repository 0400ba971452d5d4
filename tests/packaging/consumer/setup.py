"""fb-consumer: a minimal downstream package that cimports fastbatch's C-API.

Build it in an environment where fastbatch, Cython, numpy and setuptools are installed
(``pip install --no-build-isolation .``).  ``from fastbatch cimport ...`` reads
``fastbatch/__init__.pxd``; ``fastbatch.get_include()`` puts the folder holding the package
on Cython's include path, which a regular install does not need (site-packages is searched)
but an editable install (``pip install -e``) does.
"""

import fastbatch
import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "fb_consumer",
        ["fb_consumer.pyx"],
        # numpy/random/bitgen.h, reached through numpy.random's bitgen_t.
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
    )
]

setup(
    name="fb-consumer",
    version="0.0.0",
    description="Test package: cimports fastbatch's kernels from another project.",
    install_requires=["fastbatch", "numpy"],
    ext_modules=cythonize(extensions, include_path=[fastbatch.get_include()],
                          compiler_directives={"language_level": 3}),
)
