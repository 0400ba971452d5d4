"""Extension list for fastbatch; all metadata lives in pyproject.toml.

Set ``FASTBATCH_DEBUG=1`` to build with bounds checks, wraparound and initialisation
checks turned back on (slow; for chasing a crash).  Set ``FASTBATCH_NATIVE=1`` to build
for this machine's CPU only (``-march=native``): the result must not be shipped.  Set
``FASTBATCH_SANITIZE=1`` to build with AddressSanitizer and UndefinedBehaviorSanitizer
(``make sanitize`` builds that way and runs the test suite with the runtimes preloaded).

The extensions compile in parallel, one job per CPU this process may use (pip passes no
``-j``); ``setup.py build_ext -j N`` still chooses.  ``make wheel`` builds a manylinux wheel
that installs without a compiler.
"""

import glob
import os
import shutil
import sysconfig
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext
from setuptools.errors import CompileError, PlatformError

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


# Said instead of the compiler's own failure, which pip buries under a traceback.
GET_A_WHEEL = ("or install a prebuilt wheel instead (`make wheel` in a fastbatch checkout "
               "on a machine with a compiler writes one to dist/)")


class build_ext(_build_ext):
    """Parallel by default, one clear line when the toolchain is missing, no -Wpsabi note."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
                else (os.cpu_count() or 1)

    def build_extensions(self):
        self._check_toolchain()
        # GCC notes an ABI change for vector arguments at every -O3 build of the multiversioned
        # loops (-Wpsabi); the loops are internal, so the note says nothing to a user.
        if self._accepts_flag("-Wno-psabi"):
            for ext in self.extensions:
                ext.extra_compile_args = [*ext.extra_compile_args, "-Wno-psabi"]
        super().build_extensions()

    def _compiler_command(self):
        return getattr(self.compiler, "compiler_so", None) or []

    def _check_toolchain(self):
        command = self._compiler_command()
        if command and shutil.which(command[0]) is None:
            raise PlatformError(
                f"fastbatch needs a C compiler to build from source, and {command[0]!r} "
                f"(from $CC or Python's build settings) was not found: install one "
                f"(Debian/Ubuntu: apt-get install gcc python3-dev) {GET_A_WHEEL}")
        include = sysconfig.get_paths()["include"]
        if not os.path.exists(os.path.join(include, "Python.h")):
            raise PlatformError(
                f"fastbatch needs Python's C headers to build from source, and Python.h is "
                f"not in {include}: install them (Debian/Ubuntu: apt-get install python3-dev) "
                f"{GET_A_WHEEL}")

    def _accepts_flag(self, flag):
        if not self._compiler_command():
            return False
        with tempfile.TemporaryDirectory() as tmp:
            probe = os.path.join(tmp, "probe.c")
            with open(probe, "w") as f:
                f.write("int fastbatch_probe(void) { return 0; }\n")
            try:
                self.compiler.compile([probe], output_dir=tmp, extra_postargs=[flag, "-Werror"])
            except CompileError:
                return False
        return True


setup(ext_modules=cythonize(extensions, compiler_directives=compiler_directives),
      cmdclass={"build_ext": build_ext})
