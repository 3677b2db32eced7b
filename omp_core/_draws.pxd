# The search's random stream (``_draws.pyx``), for other compiled modules to draw from directly.
from libc.stdint cimport uint64_t
from numpy.random cimport bitgen_t

cdef enum:
    MAX_K = 64          # the largest sample choice draws itself


cdef class Stream:
    cdef object bits, gen
    cdef bitgen_t* bg
    cdef bint direct            # seeding writes the struct (checked against NumPy's setter)

    # the draws of the Python methods (random, uniform, integers, normal), checked as they are
    cdef double next_double(self) noexcept
    cdef double uniform_in(self, double low, double high) except? -1.0
    cdef Py_ssize_t integer_in(self, Py_ssize_t low, Py_ssize_t high) except? -1
    cdef double gauss(self, double loc, double scale) except? -1.0
    cdef int sample(self, Py_ssize_t n, Py_ssize_t k, uint64_t* out) noexcept
