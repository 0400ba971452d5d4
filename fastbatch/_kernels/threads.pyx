"""How many threads fastbatch's kernels may use: ``get_num_threads``/``set_num_threads``.

The count lives in C so that kernels read it without the GIL and so that threadpoolctl can
find and change it like a BLAS library's (through two exported C symbols).  The threads
themselves are started per call by the kernels (see ``src/parallel.h``), so this is only a
limit: no pool exists, nothing survives a call, nothing is inherited across ``fork``.
"""
import os
import warnings

from fastbatch._validation import check_int

cdef extern from *:
    """
    /* Exported (default visibility) so that threadpoolctl's controller can call them
     * through ctypes on this module's shared object. */
    static int fb_thread_limit = 1;
    __attribute__((visibility("default"))) int fastbatch_get_num_threads(void) {
        return __atomic_load_n(&fb_thread_limit, __ATOMIC_RELAXED);
    }
    __attribute__((visibility("default"))) void fastbatch_set_num_threads(int n) {
        if (n >= 1)
            __atomic_store_n(&fb_thread_limit, n, __ATOMIC_RELAXED);
    }
    """
    int fastbatch_get_num_threads() noexcept nogil
    void fastbatch_set_num_threads(int n) noexcept nogil

# More threads than this are never useful to a memory-bound kernel and would only cost
# thread start-up time (and the limit keeps every count in a C int).
MAX_THREADS = 256
ENV_VAR = "FASTBATCH_NUM_THREADS"


cdef int num_threads() noexcept nogil:
    return fastbatch_get_num_threads()


def default_num_threads():
    """``$FASTBATCH_NUM_THREADS`` if set, else the CPUs this process may run on."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        try:
            n = int(value)
            if not 1 <= n <= MAX_THREADS:
                raise ValueError
            return n
        except ValueError:
            warnings.warn(f"ignoring {ENV_VAR}={value!r}: expected an integer between 1 "
                          f"and {MAX_THREADS}", RuntimeWarning, stacklevel=2)
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_THREADS))


def get_num_threads():
    """Return the number of threads fastbatch's kernels may use.

    The default is the number of CPUs this process may run on
    (``os.sched_getaffinity``), or the ``FASTBATCH_NUM_THREADS`` environment variable
    when it is set.  Results never depend on this number, only speed does.

    Examples
    --------
    >>> import fastbatch as fb
    >>> fb.get_num_threads() >= 1
    True
    """
    return fastbatch_get_num_threads()


class _ThreadLimit:
    """Returned by ``set_num_threads``: restores the previous count when used in ``with``."""

    __slots__ = ("previous",)

    def __init__(self, previous):
        self.previous = previous

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        fastbatch_set_num_threads(self.previous)
        return False

    def __repr__(self):
        return f"<fastbatch thread limit {get_num_threads()} (was {self.previous})>"


def set_num_threads(n):
    """Set the number of threads fastbatch's kernels may use, process-wide.

    Takes effect at once.  Also a context manager: ``with fb.set_num_threads(1): ...``
    restores the previous count on exit.  Results are bit-identical for every count.

    Parameters
    ----------
    n : int
        Between 1 and 256.

    Returns
    -------
    context manager
        Restores the previous count when its ``with`` block ends.

    Examples
    --------
    >>> import fastbatch as fb
    >>> before = fb.get_num_threads()
    >>> with fb.set_num_threads(1):
    ...     fb.get_num_threads()
    1
    >>> fb.get_num_threads() == before
    True
    """
    n = check_int(n, "n", minimum=1)
    if n > MAX_THREADS:
        raise ValueError(f"n must be <= {MAX_THREADS}, got {n}")
    previous = fastbatch_get_num_threads()
    fastbatch_set_num_threads(n)
    return _ThreadLimit(previous)


def _register_threadpoolctl():
    # threadpoolctl finds libraries by scanning the shared objects loaded in the process
    # for a filename prefix, then checks for a symbol: this module's file and its two
    # exported functions.  Optional: nothing happens without threadpoolctl.
    try:
        import threadpoolctl
    except ImportError:
        return
    if not hasattr(threadpoolctl, "register"):       # threadpoolctl < 3.5
        return
    prefix = os.path.basename(__file__).split(".")[0]

    class FastbatchController(threadpoolctl.LibController):
        user_api = "fastbatch"
        internal_api = "fastbatch"
        filename_prefixes = (prefix,)
        check_symbols = ("fastbatch_get_num_threads", "fastbatch_set_num_threads")

        def get_num_threads(self):
            return self.dynlib.fastbatch_get_num_threads()

        def set_num_threads(self, num_threads):
            self.dynlib.fastbatch_set_num_threads(int(num_threads))

        def get_version(self):
            from fastbatch._version import __version__
            return __version__

    threadpoolctl.register(FastbatchController)


fastbatch_set_num_threads(default_num_threads())
_register_threadpoolctl()
