# The search's random stream (``_draws.pyx``), for other compiled modules to draw from directly.
from libc.stdint cimport uint64_t
from numpy.random cimport bitgen_t

cdef enum:
    MAX_K = 64          # the largest sample choice draws itself


cdef class Stream:
    cdef object bits, gen
    cdef bitgen_t* bg
    cdef bint direct            # seeding writes the struct (checked against NumPy's setter)

    cdef double next_double(self) noexcept
    cdef uint64_t bounded(self, uint64_t rng) noexcept
    cdef double gauss(self, double loc, double scale) noexcept
    cdef int sample(self, Py_ssize_t n, Py_ssize_t k, uint64_t* out) noexcept
