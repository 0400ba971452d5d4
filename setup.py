"""Extension list for fastbatch; all metadata lives in pyproject.toml.

Set ``FASTBATCH_DEBUG=1`` to build with bounds checks, wraparound and initialisation
checks turned back on (slow; for chasing a crash).  Set ``FASTBATCH_NATIVE=1`` to build
for this machine's CPU only (``-march=native``): the result must not be shipped.  Set
``FASTBATCH_SANITIZE=1`` to build with AddressSanitizer and UndefinedBehaviorSanitizer
(``make sanitize`` builds that way and runs the test suite with the runtimes preloaded).
"""

import glob
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTBATCH_DEBUG", "0") not in ("", "0")
NATIVE = os.environ.get("FASTBATCH_NATIVE", "0") not in ("", "0")
SANITIZE = os.environ.get("FASTBATCH_SANITIZE", "0") not in ("", "0")

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
# linear-regression loops (see fastbatch/linear_model/src/linreg_rows.h) give bit-identical results.
# -pthread: the kernels start POSIX threads (see fastbatch/_kernels/src/parallel.h).
extra_compile_args = ["-O3" if not DEBUG else "-O0", "-ffp-contract=off", "-pthread"]
if DEBUG:
    extra_compile_args.append("-g")
if NATIVE:
    extra_compile_args.append("-march=native")
# Every report is fatal (-fno-sanitize-recover): a sanitizer finding fails the test run.
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
              "-fno-omit-frame-pointer", "-g"]
extra_link_args = ["-pthread"] + (SANITIZERS if SANITIZE else [])
if SANITIZE:
    extra_compile_args += SANITIZERS
# FASTBATCH_NO_THREADS=1 builds without threads: every kernel then runs on the calling
# thread (fastbatch/_kernels/src/parallel.h, the one thread runtime, falls back), with the
# same results.
if os.environ.get("FASTBATCH_NO_THREADS", "0") not in ("", "0"):
    extra_compile_args.append("-DFB_NO_THREADS")

# The compiled modules, by room (see ARCHITECTURE.md); C sources live in each room's src/.
MODULES = ["_kernels.shuffle", "_kernels.take", "_kernels.threads", "_kernels.bijection",
           "sources._source", "sources._table", "sources._parquet", "loader._progress",
           "loader._read_ahead", "loader._iterator", "linear_model._linreg", "_bench._limits"]
INCLUDE_DIRS = [np.get_include(), "fastbatch/_kernels/src", "fastbatch/linear_model/src"]

extensions = [
    Extension(
        f"fastbatch.{name}",
        [f"fastbatch/{name.replace('.', '/')}.pyx"],
        include_dirs=INCLUDE_DIRS,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
        # Headers included by other headers are invisible to Cython's dependency
        # tracking; listing them all makes an edit to any of them rebuild the modules.
        depends=sorted(glob.glob("fastbatch/*/src/*.h")),
    )
    for name in MODULES
]

setup(ext_modules=cythonize(extensions, compiler_directives=compiler_directives))
