"""Extension list for fastbatch; all metadata lives in pyproject.toml.

Set ``FASTBATCH_DEBUG=1`` to build with bounds checks, wraparound and initialisation
checks turned back on (slow; for chasing a crash).  Set ``FASTBATCH_NATIVE=1`` to build
for this machine's CPU only (``-march=native``): the result must not be shipped.
"""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTBATCH_DEBUG", "0") not in ("", "0")
NATIVE = os.environ.get("FASTBATCH_NATIVE", "0") not in ("", "0")

compiler_directives = {
    "language_level": 3,
    # Validation happens in Python before any kernel runs, so the kernels skip checks.
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    # C semantics for / and %: the kernels only divide by values they know are positive.
    "cdivision": True,
    # Kernels are declared noexcept explicitly; this keeps stray cdef helpers cheap too.
    "legacy_implicit_noexcept": False,
    "embedsignature": True,
}

# -O3 for auto-vectorisation; never -ffast-math (it flushes denormals process-wide).
# -ffp-contract=off: no fused multiply-add, so the instruction-set versions of the
# linear-regression loops (see fastbatch/_linreg_rows.h) give bit-identical results.
extra_compile_args = ["-O3" if not DEBUG else "-O0", "-ffp-contract=off"]
if DEBUG:
    extra_compile_args.append("-g")
if NATIVE:
    extra_compile_args.append("-march=native")

MODULES = ["_kernels", "_random", "_gather", "_iterator", "_linreg", "_arrow_take"]

extensions = [
    Extension(
        f"fastbatch.{name}",
        [f"fastbatch/{name}.pyx"],
        include_dirs=[np.get_include(), "fastbatch"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
        extra_compile_args=extra_compile_args,
    )
    for name in MODULES
]

setup(ext_modules=cythonize(extensions, compiler_directives=compiler_directives))
