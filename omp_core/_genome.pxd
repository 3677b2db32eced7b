# What ``_genome.pyx`` gives other compiled modules (``_breed.pyx``) to call without Python.
cpdef double quantize(double x, int digits=*) except? -1.0
cpdef tuple canonical_conditions(conditions)
