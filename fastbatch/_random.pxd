from numpy.random cimport bitgen_t

# The bitgen_t* behind a numpy BitGenerator, checked through its capsule.  The caller keeps
# a reference to the bit generator and draws under ``with bit_generator.lock, nogil:``.
cdef bitgen_t *bitgen_of(object bit_generator) except NULL
