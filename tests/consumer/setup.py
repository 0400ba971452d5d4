"""fb-consumer: a minimal downstream package that cimports fastbatch's C-API.

Build it in an environment where fastbatch, Cython, numpy and setuptools are installed
(``pip install --no-build-isolation .``): Cython finds ``fastbatch/_kernels.pxd`` in the
installed package, as it would for any library that builds on fastbatch.
"""

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
    ext_modules=cythonize(extensions, compiler_directives={"language_level": 3}),
)
