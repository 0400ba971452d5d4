# How fastbatch's kernels report back: status codes, pending signals, and the one place
# where a code becomes a Python exception.
#
# Kernels run without the GIL and never raise.  They return FB_OK or a negative FB_E* code,
# and the glue turns that into an exception right after its ``nogil`` block:
#
#     with nogil:
#         status = some_kernel(..., &intr)
#     raise_for_status(status, &intr)
#
# Interrupts (Ctrl-C).  A kernel that can run for more than a fraction of a second takes an
# ``fb_interrupt *`` (NULL: never look) and calls ``fb_interrupt_poll(intr, units)`` between
# chunks of its work, ``units`` being the work done since the last poll (items, rows,
# bytes: the kernel's choice).  The glue sets it up with the GIL, before the block:
#
#     cdef fb_interrupt intr
#     fb_interrupt_init(&intr, every)      # units between two looks
#     with nogil:
#         status = some_kernel(..., &intr)
#     raise_for_status(status, &intr)
#
# A poll is a subtraction until ``every`` units have passed; then it takes the GIL briefly
# and runs Python's signal handlers (``PyErr_CheckSignals``).  If a handler raised
# (KeyboardInterrupt), the exception is kept in the ``fb_interrupt``, the poll returns
# FB_EINTR, the kernel frees what it allocated and returns FB_EINTR at once, and
# ``raise_for_status`` re-raises the exception after the ``nogil`` block (and after any
# lock is released: nothing runs with an exception set).  Only Python's main thread runs
# signal handlers, so in any other thread the polls never take the GIL.  Choose ``every``
# so that a look comes every ~10-100 ms of work: a look costs one GIL hand-off, which can
# wait for another thread (up to the 5 ms switch interval), so it must stay rare.
#
# Every look is ``fb_signals_raised``.  Kernels written in C headers take a hook instead
# of an ``fb_interrupt`` and pace it by their own clock: the permutation's check
# (``look_for_signals`` in shuffle.pyx, through ``fb_interrupt_poll``) and the linear
# regression's C-API hook ``fb_linreg_data.interrupted``, for which the glue passes
# ``fb_signals_raised`` itself (the exception stays set; ``raise_for_status(FB_EINTR,
# NULL)`` re-raises it).
#
# The codes are defined once, in C (the block below): C headers use the same names and
# stop with ``#error`` if the block is missing, and downstream packages that
# ``from fastbatch cimport FB_OK`` get the definitions without a header.
#
# Public C functions (``fastbatch/__init__.pxd``) pass NULL: they never run Python code.
from cpython.exc cimport PyErr_Fetch, PyErr_Occurred, PyErr_Restore
from cpython.object cimport PyObject
from libc.stdint cimport INT64_MAX, int64_t

# The codes, defined once, in C: this block is copied into every module that cimports this
# file (the fastbatch C-API's users too), ahead of the module's own headers, so C headers
# use the same names (linear_model/src/linreg_passes.h stops with #error without them).
cdef extern from *:
    """
    #ifndef FB_STATUS_CODES
    #define FB_STATUS_CODES
    enum {
        FB_OK = 0,
        FB_ENOMEM = -1,        /* a temporary buffer could not be allocated */
        FB_ENONFINITE = -2,    /* a non-finite residual or parameter (training diverged) */
        FB_EINTR = -3,         /* a signal handler raised (Ctrl-C) */
        FB_EOUTOFRANGE = -4    /* an input index outside [0, n) */
    };
    #endif
    """
    enum:
        FB_OK
        FB_ENOMEM
        FB_ENONFINITE
        FB_EINTR
        FB_EOUTOFRANGE

cdef extern from "Python.h":
    # Declared here without ``except -1``: the poll keeps the exception instead of
    # letting Cython report it as unraisable.
    int fb_check_signals "PyErr_CheckSignals"() noexcept


cdef struct fb_interrupt:
    int64_t every         # units of work between two looks at the signal handlers
    int64_t due           # units left before the next look
    PyObject *exc_type    # the exception a handler raised, until raise_for_status
    PyObject *exc_value
    PyObject *exc_tb


cdef inline int fb_interrupt_init(fb_interrupt *intr, int64_t every) except -1:
    # Needs the GIL (called before the nogil block).  Only the main thread runs signal
    # handlers: in any other thread the kernel never looks.  Decided here, because a
    # look must run no Python code (the eval loop would handle the signal itself).
    import threading
    intr.every = every if threading.get_ident() == threading.main_thread().ident else 0
    intr.due = intr.every if intr.every > 0 else INT64_MAX
    intr.exc_type = NULL
    intr.exc_value = NULL
    intr.exc_tb = NULL
    return 0


cdef inline int fb_signals_raised() noexcept nogil:
    # THE look at Python's signal handlers: takes the GIL and runs them.  Nonzero when one
    # raised; its exception is then left set, for the caller to keep (fb_interrupt_look)
    # or for raise_for_status to re-raise after the nogil block.  Also the glue's
    # implementation of fb_linreg_data.interrupted (fastbatch/linear_model/_linreg.pxd).
    with gil:
        return fb_check_signals() < 0


cdef inline int fb_interrupt_look(fb_interrupt *intr) noexcept nogil:
    if fb_signals_raised():
        with gil:
            PyErr_Fetch(&intr.exc_type, &intr.exc_value, &intr.exc_tb)
        intr.due = INT64_MAX
        return FB_EINTR
    intr.due = intr.every
    return FB_OK


cdef inline int fb_interrupt_poll(fb_interrupt *intr, int64_t units) noexcept nogil:
    # FB_OK, or FB_EINTR once a signal handler has raised.
    if intr == NULL:
        return FB_OK
    intr.due -= units
    if intr.due > 0:
        return FB_OK
    return fb_interrupt_look(intr)


cdef inline int raise_for_status(int status, fb_interrupt *intr) except -1:
    # Needs the GIL; intr may be NULL when the kernel took none (or polled through
    # fb_signals_raised, which leaves the handler's exception set).
    if intr != NULL and intr.exc_type != NULL:
        # Restore steals the references; a status other than FB_EINTR cannot come with
        # a kept exception, but it is never dropped either.
        PyErr_Restore(intr.exc_type, intr.exc_value, intr.exc_tb)
        intr.exc_type = intr.exc_value = intr.exc_tb = NULL
        return -1
    if status == FB_OK:
        return 0
    if status == FB_ENOMEM:
        raise MemoryError("fastbatch: not enough memory for a kernel's temporary buffers")
    if status == FB_ENONFINITE:
        raise FloatingPointError("fastbatch: a kernel met a non-finite value")
    if status == FB_EINTR:
        if PyErr_Occurred() != NULL:
            return -1
        raise KeyboardInterrupt
    if status == FB_EOUTOFRANGE:
        raise IndexError("fastbatch: an index is outside [0, n)")
    raise SystemError(f"fastbatch: a kernel returned the unknown status {status}")
