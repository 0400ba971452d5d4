# Read-ahead hints for memory-mapped data (header-only): the one place fastbatch asks the
# kernel to read pages of a mapping ahead of use.
from libc.stdint cimport uintptr_t
from posix.mman cimport POSIX_MADV_WILLNEED, madvise, posix_madvise
from posix.unistd cimport _SC_PAGESIZE, sysconf

cdef extern from *:
    """
    #include <sys/mman.h>
    #ifndef MADV_POPULATE_READ
    #define MADV_POPULATE_READ 22   /* Linux 5.14; older kernels answer EINVAL */
    #endif
    """
    int MADV_POPULATE_READ


cdef inline void advise_bytes(const char *first, const char *stop, bint now) noexcept nogil:
    # The pages holding bytes [first, stop) of a mapping: read now (MADV_POPULATE_READ:
    # one sequential pass instead of a random page fault per row; pages already cached
    # cost a page-table walk), or started in the background (WILLNEED).  A hint: a
    # kernel that refuses it changes nothing but the speed.
    cdef uintptr_t page = <uintptr_t>sysconf(_SC_PAGESIZE)
    cdef uintptr_t lo = <uintptr_t>first
    cdef uintptr_t hi = <uintptr_t>stop
    if hi <= lo:
        return
    lo -= lo % page
    if now and madvise(<void *>lo, hi - lo, MADV_POPULATE_READ) == 0:
        return
    posix_madvise(<void *>lo, hi - lo, POSIX_MADV_WILLNEED)
