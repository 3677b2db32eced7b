# Shared ctypedefs of the compiled kernels: one place says what a bar index, a feature value and a
# genome slot are, so the kernels and their wrappers agree on dtypes.
from libc.stdint cimport int32_t, int64_t

ctypedef double value_t      # prices, features, equity: float64 everywhere
ctypedef int32_t slot_t      # feature indices, comparators, per-genome integer parameters
ctypedef int64_t count_t     # fills and bar counts
