# cython: language_level=3
"""The search's random draws: the numbers NumPy gives, without NumPy's per-call cost.

The search seeds a generator per child with ``numpy.random.default_rng([seed, generation, i])``
and draws a few scalars from it: ``random``, ``integers``, ``uniform``, ``normal`` and
``choice(n, k, replace=False)``. Each NumPy call costs about a microsecond of Python (seeding 7 us,
a choice 4 us), which was most of the cost of breeding a child. :class:`Stream` is that generator
for one thread: the same stream, the same numbers, the generator left in the same state:

- seeding is ``SeedSequence(words)`` followed by ``PCG64``'s seeding (:func:`pcg64_state`);
- ``random`` and ``uniform`` are ``next_double`` and ``low + (high - low) * next_double``;
- ``integers`` and ``choice`` are Lemire's bounded draw as ``random_bounded_uint64`` makes it, and
  ``choice`` is Floyd's sample followed by the shuffle that ``choice`` makes of it;
- ``normal`` is NumPy's own ``random_normal``, from NumPy's C library of distributions.

The draws go through the bit generator's C interface (``bitgen_t``), NumPy's documented way to
extend its generators. Seeding writes PCG64's state into the bit generator's own struct (NumPy's
``pcg64.h`` layout); a stream checks when it is made that this gives the state NumPy's setter
gives, and uses the setter when it does not. ``tests/core/test_ga.py`` holds every draw to NumPy's, the state after it
included: a NumPy that changed its algorithms would fail there, not change a run silently.
"""
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.stdint cimport UINT32_MAX, uint32_t, uint64_t

from numpy.random cimport bitgen_t
from numpy.random.c_distributions cimport random_normal


cdef extern from *:
    """
    typedef unsigned __int128 omp_u128;
    /* numpy/random/src/pcg64/pcg64.h, where the compiler has 128-bit integers */
    typedef struct { omp_u128 state; omp_u128 inc; } omp_pcg64_random_t;
    typedef struct { omp_pcg64_random_t *pcg_state; int has_uint32; uint32_t uinteger; } omp_pcg64_state;
    """
    ctypedef unsigned long long u128 "omp_u128"
    ctypedef struct pcg64_random_t "omp_pcg64_random_t":
        u128 state
        u128 inc
    ctypedef struct pcg64_bits "omp_pcg64_state":
        pcg64_random_t* pcg_state
        int has_uint32
        uint32_t uinteger

# SeedSequence's constants (numpy/random/bit_generator.pyx)
cdef uint32_t INIT_A = 0x43b0d7e5
cdef uint32_t MULT_A = 0x931e8875
cdef uint32_t INIT_B = 0x8b51f9dd
cdef uint32_t MULT_B = 0x58f38ded
cdef uint32_t MIX_MULT_L = 0xca01f9dd
cdef uint32_t MIX_MULT_R = 0x4973f715
cdef enum:
    POOL = 4            # SeedSequence's pool size
    MAX_WORDS = 32      # of entropy, a bound of ours
# PCG64's multiplier (numpy/random/src/pcg64/pcg64.h)
cdef uint64_t MULT_HI = 2549297995355413924ULL
cdef uint64_t MULT_LO = 4865540595714422341ULL


cdef inline uint32_t _hashmix(uint32_t value, uint32_t* h) noexcept:
    value ^= h[0]
    h[0] *= MULT_A
    value *= h[0]
    value ^= value >> 16
    return value


cdef inline uint32_t _mix(uint32_t x, uint32_t y) noexcept:
    cdef uint32_t r = MIX_MULT_L * x - MIX_MULT_R * y
    r ^= r >> 16
    return r


cdef int _seed_words(words, uint64_t* out) except -1:
    """``PCG64(SeedSequence(words))``'s state and increment as four 64-bit words, low words first:
    ``state_lo, state_hi, inc_lo, inc_hi``."""
    cdef uint32_t entropy[MAX_WORDS]
    cdef uint32_t pool[POOL]
    cdef uint32_t o[8]
    cdef uint32_t h
    cdef Py_ssize_t n = 0, i, j
    cdef u128 seed, inc, state, mult
    for w in words:
        w = int(w)
        if w < 0:
            raise ValueError(f"a seed word must be a non-negative integer, got {w}")
        while True:             # lowest 32 bits first; 0 is one word
            if n == MAX_WORDS:
                raise ValueError(f"at most {MAX_WORDS} 32-bit words of seed, got {list(words)}")
            entropy[n] = <uint32_t>(w & 0xFFFFFFFF)
            n += 1
            w >>= 32
            if w == 0:
                break
    h = INIT_A
    for i in range(POOL):
        pool[i] = _hashmix(entropy[i] if i < n else 0, &h)
    for i in range(POOL):
        for j in range(POOL):
            if i != j:
                pool[j] = _mix(pool[j], _hashmix(pool[i], &h))
    for i in range(POOL, n):
        for j in range(POOL):
            pool[j] = _mix(pool[j], _hashmix(entropy[i], &h))
    h = INIT_B
    for i in range(8):          # generate_state(4, uint64): 8 words, paired little-endian
        o[i] = pool[i % POOL] ^ h
        h *= MULT_B
        o[i] *= h
        o[i] ^= o[i] >> 16
    seed = ((<u128>((<uint64_t>o[1] << 32) | o[0])) << 64) | ((<uint64_t>o[3] << 32) | o[2])
    inc = ((<u128>((<uint64_t>o[5] << 32) | o[4])) << 64) | ((<uint64_t>o[7] << 32) | o[6])
    inc = (inc << 1) | 1                        # pcg_setseq_128_srandom_r, mod 2**128
    mult = ((<u128>MULT_HI) << 64) | MULT_LO
    state = (inc + seed) * mult + inc           # from 0: a step, the seed added, a step
    out[0], out[1] = <uint64_t>state, <uint64_t>(state >> 64)
    out[2], out[3] = <uint64_t>inc, <uint64_t>(inc >> 64)
    return 0


def pcg64_state(words) -> tuple[int, int]:
    """``(state, inc)`` of ``PCG64(SeedSequence(words))`` for a sequence of non-negative ints."""
    cdef uint64_t w[4]
    _seed_words(words, w)
    return (<object>w[1] << 64) | w[0], (<object>w[3] << 64) | w[2]


cdef inline uint64_t _bounded(bitgen_t* bg, uint64_t rng) noexcept nogil:
    """A draw in ``[0, rng]``: NumPy's ``random_bounded_uint64`` (Lemire) for ``rng`` < 2**32 - 1."""
    cdef uint32_t rng_excl, threshold, leftover
    cdef uint64_t m
    if rng == 0:
        return 0
    rng_excl = <uint32_t>rng + 1
    m = <uint64_t>bg.next_uint32(bg.state) * rng_excl
    leftover = <uint32_t>m        # the low 32 bits
    if leftover < rng_excl:
        threshold = (UINT32_MAX - <uint32_t>rng) % rng_excl
        while leftover < threshold:
            m = <uint64_t>bg.next_uint32(bg.state) * rng_excl
            leftover = <uint32_t>m        # the low 32 bits
    return m >> 32


cdef class Stream:
    """``numpy.random.default_rng(words)`` for one thread, for scalar draws: see the module. Its
    fields and C-level draws are declared in ``_draws.pxd``, for the compiled breeding
    (``_breed.pyx``) to draw without a Python call."""

    def __init__(self, words=(0,), bint direct=True):
        """``direct=False``: seed through NumPy's setter always (what a layout other than the one
        this module knows falls back to)."""
        import numpy
        self.bits = numpy.random.PCG64(0)
        self.gen = numpy.random.Generator(self.bits)
        self.bg = <bitgen_t*> PyCapsule_GetPointer(self.bits.capsule, "BitGenerator")
        self.direct = False
        if direct:
            # written over PCG64(0)'s state: a write that missed NumPy's struct leaves that state,
            # and a draw must come out as NumPy's generator of the same seed draws it
            self.direct = True
            self.seed((12345, 6789))
            expected = numpy.random.PCG64(numpy.random.SeedSequence((12345, 6789)))
            self.direct = (self.bits.state == expected.state
                           and self.random() == numpy.random.Generator(expected).random())
        self.seed(words)

    def seed(self, words) -> Stream:
        """Start again as ``default_rng(words)``; returns the stream."""
        cdef uint64_t w[4]
        cdef pcg64_bits* st
        _seed_words(words, w)
        if self.direct:
            st = <pcg64_bits*> self.bg.state
            st.pcg_state.state = ((<u128>w[1]) << 64) | w[0]
            st.pcg_state.inc = ((<u128>w[3]) << 64) | w[2]
            st.has_uint32 = 0
            st.uinteger = 0
        else:
            self.bits.state = {"bit_generator": "PCG64", "state": {"state": (<object>w[1] << 64) | w[0],
                                                                   "inc": (<object>w[3] << 64) | w[2]},
                               "has_uint32": 0, "uinteger": 0}
        return self

    @property
    def seeds_directly(self) -> bool:
        """Whether seeding writes PCG64's struct (NumPy's layout held) or goes through NumPy's setter."""
        return self.direct

    @property
    def generator(self):
        """The NumPy generator this stream draws from (same state)."""
        return self.gen

    cdef double next_double(self) noexcept:
        return self.bg.next_double(self.bg.state)

    cdef double uniform_in(self, double low, double high) except? -1.0:
        if not high - low >= 0.0 or high - low == float("inf"):
            raise ValueError(f"uniform needs low <= high, finite apart, got {low}, {high}")
        return low + (high - low) * self.bg.next_double(self.bg.state)

    cdef Py_ssize_t integer_in(self, Py_ssize_t low, Py_ssize_t high) except? -1:
        if not 1 <= high - low <= UINT32_MAX - 1:
            raise ValueError(f"integers covers 1 <= high - low < 2**32 - 1, got low={low}, high={high}")
        return low + <Py_ssize_t>_bounded(self.bg, high - low - 1)

    cdef double gauss(self, double loc, double scale) except? -1.0:
        if not scale >= 0.0:
            raise ValueError(f"normal needs scale >= 0, got {scale}")
        return random_normal(self.bg, loc, scale)

    cdef int sample(self, Py_ssize_t n, Py_ssize_t k, uint64_t* out) noexcept:
        """``choice(n, k, replace=False)`` into ``out`` when this module draws it itself (1 <= k
        <= MAX_K, k <= n <= 10000): returns 1; else draws nothing and returns 0."""
        cdef uint64_t v
        cdef Py_ssize_t j, a, m = 0
        cdef bint seen
        if not 1 <= k <= MAX_K or k > n or n > 10000:
            return 0
        for j in range(n - k, n):   # Floyd: a draw in [0, j], or j itself when the draw is taken
            v = _bounded(self.bg, j)
            seen = False
            for a in range(m):
                if out[a] == v:
                    seen = True
                    break
            out[m] = j if seen else v
            m += 1
        for j in range(k - 1, 0, -1):   # then choice shuffles its sample
            a = <Py_ssize_t>_bounded(self.bg, j)
            v = out[a]
            out[a] = out[j]
            out[j] = v
        return 1

    def random(self) -> float:
        return self.next_double()

    def uniform(self, double low, double high) -> float:
        return self.uniform_in(low, high)

    def integers(self, low, high=None) -> int:
        """``int(integers(low, high))``: ``high`` excluded, a range of at most 2**32 - 1."""
        if high is None:
            low, high = 0, low
        try:
            return self.integer_in(low, high)
        except OverflowError:       # past what a C integer holds: out of range all the same
            raise ValueError(f"integers covers 1 <= high - low < 2**32 - 1, got low={low}, high={high}") from None

    def normal(self, double loc=0.0, double scale=1.0) -> float:
        return self.gauss(loc, scale)

    def choice(self, Py_ssize_t n, Py_ssize_t size, bint replace=True) -> tuple:
        """``tuple(choice(n, size, replace=False))`` (``replace`` must be False)."""
        cdef uint64_t taken[MAX_K]
        cdef Py_ssize_t a
        if replace:
            raise ValueError("Stream.choice draws without replacement only: pass replace=False")
        if not self.sample(n, size, taken):
            return tuple(int(i) for i in self.gen.choice(n, size, replace=False))   # NumPy's other branches
        return tuple([taken[a] for a in range(size)])
