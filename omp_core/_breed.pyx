# cython: language_level=3
"""The genetic operators, compiled: drawing a genome, mutating one, crossing two, a tournament and
the breeding of one child (``omp_core/ga.py`` says what each does and why).

This is the search's Python written out in C: the same draws from the same stream in the same
order, the same arithmetic, so the same genomes and the same run folders as the Python it
replaced. The draws are the stream's own C functions (``_draws.pxd``); genomes and conditions stay
the Python objects of ``omp_core/genome.py`` (made through their constructors, which check them),
and numbers are rounded by ``_genome.quantize``. Breeding was two thirds of the search's Python
(a quarter of a campaign's time on one thread), all of it holding the GIL that the seeds searched
side by side share.
"""
cimport cython
from libc.stdint cimport uint64_t

import numpy as np

from omp_core._draws cimport MAX_K, Stream
from omp_core._genome cimport canonical_conditions, quantize
from omp_core.genome import Condition, Genome


cdef double _interp(double x, const double* xp, const double* fp, Py_ssize_t n) noexcept:
    """``numpy.interp`` of one float (see ``interp``)."""
    cdef Py_ssize_t lo = 0, hi = n, mid, j
    cdef double slope, r
    if x != x:
        return x
    if x < xp[0]:
        return fp[0]
    if x > xp[n - 1]:
        return fp[n - 1]
    while lo < hi:                  # bisect_right: the first knot above x
        mid = (lo + hi) // 2
        if x < xp[mid]:
            hi = mid
        else:
            lo = mid + 1
    j = lo - 1
    if j == n - 1 or xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    r = slope * (x - xp[j]) + fp[j]
    if r != r:
        r = slope * (x - xp[j + 1]) + fp[j + 1]
        if r != r and fp[j] == fp[j + 1]:
            r = fp[j]
    return r


def interp(double x, xp, fp) -> float:
    """``float(numpy.interp(x, xp, fp))`` for one float, ``xp`` increasing (ties allowed), as
    NumPy computes it (``arr_interp``: the last knot at or below ``x``, a knot itself exactly, the
    other end's formula when one gives NaN), so the same bits; a fraction of the cost of the NumPy
    call, which the search makes for every threshold it draws or nudges. The build never fuses a
    multiply and an add (``setup.py``): the same bits on every host."""
    cdef double[::1] a = np.ascontiguousarray(xp, dtype=np.float64)
    cdef double[::1] b = np.ascontiguousarray(fp, dtype=np.float64)
    if a.shape[0] != b.shape[0] or a.shape[0] == 0:
        raise ValueError(f"interp needs xp and fp of one non-zero length, got {a.shape[0]} and {b.shape[0]}")
    return _interp(x, &a[0], &b[0], a.shape[0])


cdef inline int _check(Stream rng) except -1:
    """The operators draw from the stream's C functions: no stream is an error, not a crash."""
    if rng is None:
        raise TypeError("the operators draw from a _draws.Stream, got None")
    return 0


@cython.final
cdef class Operators:
    """The operators of one campaign's strategy space, for :class:`omp_core.ga.SearchSpace`: its
    level and oscillator features, the quantiles of each oscillator's in-sample values at the
    levels ``probs``, the sides, and the strategy's and the GA's settings that breeding reads."""
    cdef list levels, oscillators, sides
    cdef double[:, ::1] quantiles       # a row per oscillator, in their order
    cdef double[::1] probs
    cdef dict row                       # oscillator name -> its row
    cdef Py_ssize_t max_entry, max_exit
    cdef double cross_p, sl_lo, sl_hi, tp_lo, tp_hi
    cdef Py_ssize_t mh_lo, mh_hi
    cdef double immigrant_rate, crossover_rate, mutation_rate
    cdef Py_ssize_t tournament_size

    def __init__(self, levels, oscillators, sides, dict quantiles, probs, strategy, ga):
        """``quantiles``: each oscillator's values at the levels ``probs``, by name; a condition is
        drawn on ``oscillators`` (those of them not constant) and nudged on any of them."""
        self.levels, self.oscillators, self.sides = list(levels), list(oscillators), list(sides)
        names = self.oscillators + sorted(set(quantiles) - set(self.oscillators))
        self.probs = np.ascontiguousarray(probs, dtype=np.float64)
        if self.probs.shape[0] < 1:
            raise ValueError("the quantile levels must not be empty")
        self.quantiles = np.ascontiguousarray([quantiles[n] for n in names] or np.zeros((0, len(probs))),
                                              dtype=np.float64).reshape(len(names), len(probs))
        self.row = {name: i for i, name in enumerate(names)}
        self.max_entry, self.max_exit = strategy.max_entry_conditions, strategy.max_exit_conditions
        self.cross_p = strategy.crossover_probability
        self.sl_lo, self.sl_hi = strategy.stop_loss
        self.tp_lo, self.tp_hi = strategy.take_profit
        self.mh_lo, self.mh_hi = strategy.max_hold
        if ga is not None:
            self.immigrant_rate, self.crossover_rate = ga.immigrant_rate, ga.crossover_rate
            self.mutation_rate, self.tournament_size = ga.mutation_rate, ga.tournament_size

    # --------------------------------------------------------------------------- thresholds
    cdef double threshold(self, Py_ssize_t row, double q) except? -1.0:
        """The oscillator's value at quantile level ``q``, rounded to 4 digits."""
        return quantize(_interp(q, &self.probs[0], &self.quantiles[row, 0], self.probs.shape[0]), 4)

    cdef double quantile_of(self, Py_ssize_t row, double x) noexcept:
        return _interp(x, &self.quantiles[row, 0], &self.probs[0], self.probs.shape[0])

    # --------------------------------------------------------------------------- draws
    cpdef condition(self, Stream rng):
        _check(rng)
        cdef Py_ssize_t n_levels = len(self.levels), n_osc = len(self.oscillators), a
        cdef uint64_t ab[2]
        cdef bint use_cross = n_levels >= 2 and (n_osc == 0 or rng.next_double() < self.cross_p)
        op = ">" if rng.next_double() < 0.5 else "<"
        if use_cross:
            if not rng.sample(n_levels, 2, ab):
                ab[0], ab[1] = rng.choice(n_levels, 2, False)
            ratio = 0.0 if rng.next_double() < 0.5 else quantize(rng.gauss(0.0, 0.01), 3)
            return Condition(self.levels[ab[0]], op, ratio, self.levels[ab[1]])
        a = rng.integer_in(0, n_osc)
        return Condition(self.oscillators[a], op, self.threshold(a, rng.uniform_in(0.05, 0.95)))

    cdef double fraction(self, Stream rng, double lo, double hi) except? -1.0:
        """A stop or take: none a third of the time when the range starts at 0, else a draw."""
        if lo == 0.0 and rng.next_double() < 1.0 / 3.0:
            return 0.0
        return quantize(rng.uniform_in(lo, hi), 3)

    cdef Py_ssize_t hold(self, Stream rng) except? -1:
        """A holding limit in bars: none a third of the time when the range starts at 0."""
        if self.mh_lo == 0 and rng.next_double() < 1.0 / 3.0:
            return 0
        return rng.integer_in(max(self.mh_lo, 1), self.mh_hi + 1) if self.mh_hi >= 1 else 0

    cpdef genome(self, Stream rng):
        _check(rng)
        cdef Py_ssize_t n_entry = rng.integer_in(1, self.max_entry + 1)
        cdef Py_ssize_t n_exit = rng.integer_in(0, self.max_exit + 1)
        cdef Py_ssize_t i
        side = self.sides[rng.integer_in(0, len(self.sides))]
        entry = tuple([self.condition(rng) for i in range(n_entry)])
        exit_ = tuple([self.condition(rng) for i in range(n_exit)])
        sl = self.fraction(rng, self.sl_lo, self.sl_hi)
        tp = self.fraction(rng, self.tp_lo, self.tp_hi)
        return Genome(side, entry, exit_, sl, tp, self.hold(rng))

    cdef nudge(self, c, Stream rng):
        cdef double q
        if c.other:
            return Condition(c.feature, c.op, quantize(c.threshold + rng.gauss(0.0, 0.005), 3), c.other)
        row = self.row[c.feature]
        q = self.quantile_of(row, c.threshold) + rng.gauss(0.0, 0.08)
        q = q if q > 0.01 else 0.01         # max(0.01, q), then min(0.99, q), as Python takes them
        q = q if q < 0.99 else 0.99
        return Condition(c.feature, c.op, self.threshold(row, q))

    cpdef mutate(self, g, Stream rng):
        _check(rng)
        cdef list entry = list(g.entry), exit_ = list(g.exit)
        cdef list rules
        cdef Py_ssize_t move, k, limit
        side, sl, tp, mh = g.side, g.stop_loss, g.take_profit, g.max_hold
        move = rng.integer_in(0, 8)
        rules = entry if (not exit_ or rng.next_double() < 0.6) else exit_
        limit = self.max_entry if rules is entry else self.max_exit
        k = rng.integer_in(0, len(rules))
        if move == 0:
            rules[k] = self.nudge(rules[k], rng)
        elif move == 1:
            rules[k] = self.condition(rng)
        elif move == 2 and len(rules) < limit:
            rules.append(self.condition(rng))
        elif move == 3 and len(rules) > (1 if rules is entry else 0):
            rules.pop(k)
        elif move == 4:
            c = rules[k]
            rules[k] = Condition(c.feature, "<" if c.op == ">" else ">", c.threshold, c.other)
        elif move == 5 and len(self.sides) > 1:
            side = -side
        elif move == 6:
            sl = self.fraction(rng, self.sl_lo, self.sl_hi)
            tp = self.fraction(rng, self.tp_lo, self.tp_hi)
        else:
            mh = self.hold(rng)
        return Genome(side, tuple(entry), tuple(exit_), sl, tp, mh)

    cdef tuple mix(self, tuple x, tuple y, Py_ssize_t lo, Py_ssize_t hi, Stream rng):
        """Each condition of either parent with probability 1/2 (at least ``lo``, at most ``hi``)."""
        pool = canonical_conditions(x + y)     # sorted(set(x) | set(y)): x's of equal ones
        cdef list pick = [c for c in pool if rng.next_double() < 0.5]
        if len(pick) < lo:
            pick = [pool[rng.integer_in(0, len(pool))]] if pool else []
        return tuple(pick[:hi])

    cpdef crossover(self, a, b, Stream rng):
        _check(rng)
        side = a.side if rng.next_double() < 0.5 else b.side
        entry = self.mix(a.entry, b.entry, 1, self.max_entry, rng)
        exit_ = self.mix(a.exit, b.exit, 0, self.max_exit, rng)
        sl = a.stop_loss if rng.next_double() < 0.5 else b.stop_loss
        tp = a.take_profit if rng.next_double() < 0.5 else b.take_profit
        mh = a.max_hold if rng.next_double() < 0.5 else b.max_hold
        return Genome(side, entry, exit_, sl, tp, mh)

    # --------------------------------------------------------------------------- breeding
    cdef tournament(self, Stream rng, list ranked):
        """The best of ``tournament_size`` distinct parents drawn from ``ranked`` (best first: the
        lowest index wins)."""
        cdef uint64_t idx[MAX_K]
        cdef Py_ssize_t j, k = self.tournament_size, best
        if not rng.sample(len(ranked), k, idx):
            return ranked[int(min(rng.choice(len(ranked), k, False)))]
        best = <Py_ssize_t>idx[0]
        for j in range(1, k):
            if <Py_ssize_t>idx[j] < best:
                best = <Py_ssize_t>idx[j]
        return ranked[best]

    def breed(self, Stream rng not None, Py_ssize_t gen, list parents, set taken):
        """One child of generation ``gen`` from ``rng`` (seeded for it): an immigrant (all of
        generation 0), or the winner of a tournament crossed with another's and mutated; drawn
        again, up to 8 times, while its genome_hash is ``taken``, then a fresh immigrant."""
        cdef Py_ssize_t attempt
        if self.tournament_size < 1:
            raise ValueError("these operators were made without GA settings: breed from SearchSpace.operators(ga)")
        for attempt in range(8):
            if gen == 0 or rng.next_double() < self.immigrant_rate:
                child = self.genome(rng)
            else:
                a = self.tournament(rng, parents)
                if rng.next_double() < self.crossover_rate:
                    child = self.crossover(a, self.tournament(rng, parents), rng)
                else:
                    child = a
                if rng.next_double() < self.mutation_rate or child.genome_hash in taken:
                    child = self.mutate(child, rng)
            if child.genome_hash not in taken:
                return child
        return self.genome(rng)
