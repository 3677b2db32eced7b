"""The genetic operators written plainly: the twin of ``omp_core/_breed.pyx`` and of the canonical
JSON of ``omp_core/_genome.pyx`` (the Python they were compiled from). ``rng`` is anything that
draws as ``numpy.random.Generator`` does (a ``_draws.Stream`` or NumPy's own generator).
"""
from __future__ import annotations

import bisect
import hashlib
import json
import math

from omp_core.ga import PROBS
from omp_core.genome import Condition, Genome


def interp(x: float, xp: list[float], fp: list[float]) -> float:
    """``float(numpy.interp(x, xp, fp))`` for one float (NumPy's ``arr_interp``)."""
    if x != x:
        return x
    if x < xp[0]:
        return fp[0]
    if x > xp[-1]:
        return fp[-1]
    j = bisect.bisect_right(xp, x) - 1
    if j == len(xp) - 1 or xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    r = slope * (x - xp[j]) + fp[j]
    if r != r:
        r = slope * (x - xp[j + 1]) + fp[j + 1]
        if r != r and fp[j] == fp[j + 1]:
            r = fp[j]
    return r


def quantize(x: float, digits: int = 6) -> float:
    """Round to ``digits`` significant digits."""
    if x == 0.0 or not math.isfinite(x):
        return 0.0 if x == 0.0 else x
    return float(f"{x:.{digits}g}")


class Operators:
    """What ``_breed.Operators`` does, for a :class:`omp_core.ga.SearchSpace` ``space`` and the
    GA settings ``ga``."""

    def __init__(self, space, ga=None):
        self.s, self.ga = space.s, ga
        self.levels, self.oscillators, self.sides = space.levels, space.oscillators, space.sides
        self.probs = PROBS.tolist()
        self.q = {name: q.tolist() for name, q in space.quantiles.items()}

    def _threshold(self, name, q):
        return quantize(interp(q, self.probs, self.q[name]), 4)

    def condition(self, rng) -> Condition:
        use_cross = len(self.levels) >= 2 and (not self.oscillators or rng.random() < self.s.crossover_probability)
        op = ">" if rng.random() < 0.5 else "<"
        if use_cross:
            a, b = rng.choice(len(self.levels), size=2, replace=False)
            ratio = 0.0 if rng.random() < 0.5 else quantize(float(rng.normal(0.0, 0.01)), 3)
            return Condition(self.levels[a], op, ratio, self.levels[b])
        name = self.oscillators[rng.integers(len(self.oscillators))]
        return Condition(name, op, self._threshold(name, float(rng.uniform(0.05, 0.95))))

    def _param(self, rng, lo, hi, integer=False):
        if lo == 0 and rng.random() < 1 / 3:
            return 0 if integer else 0.0
        if integer:
            return int(rng.integers(max(lo, 1), hi + 1)) if hi >= 1 else 0
        return quantize(float(rng.uniform(lo, hi)), 3)

    def genome(self, rng) -> Genome:
        n_entry = int(rng.integers(1, self.s.max_entry_conditions + 1))
        n_exit = int(rng.integers(0, self.s.max_exit_conditions + 1))
        return Genome(
            side=self.sides[rng.integers(len(self.sides))],
            entry=tuple(self.condition(rng) for _ in range(n_entry)),
            exit=tuple(self.condition(rng) for _ in range(n_exit)),
            stop_loss=self._param(rng, *self.s.stop_loss),
            take_profit=self._param(rng, *self.s.take_profit),
            max_hold=self._param(rng, *self.s.max_hold, integer=True),
        )

    def _nudge(self, c: Condition, rng) -> Condition:
        if c.other:
            return Condition(c.feature, c.op, quantize(c.threshold + float(rng.normal(0.0, 0.005)), 3), c.other)
        q = min(0.99, max(0.01, interp(c.threshold, self.q[c.feature], self.probs) + float(rng.normal(0.0, 0.08))))
        return Condition(c.feature, c.op, self._threshold(c.feature, q))

    def mutate(self, g: Genome, rng) -> Genome:
        entry, exit_ = list(g.entry), list(g.exit)
        side, sl, tp, mh = g.side, g.stop_loss, g.take_profit, g.max_hold
        move = int(rng.integers(8))
        rules = entry if (not exit_ or rng.random() < 0.6) else exit_
        limit = self.s.max_entry_conditions if rules is entry else self.s.max_exit_conditions
        k = int(rng.integers(len(rules)))
        if move == 0:
            rules[k] = self._nudge(rules[k], rng)
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
            sl, tp = self._param(rng, *self.s.stop_loss), self._param(rng, *self.s.take_profit)
        else:
            mh = self._param(rng, *self.s.max_hold, integer=True)
        return Genome(side, tuple(entry), tuple(exit_), sl, tp, mh)

    def crossover(self, a: Genome, b: Genome, rng) -> Genome:
        def mix(x, y, lo, hi):
            pool = canonical_conditions(x + y)
            pick = [c for c in pool if rng.random() < 0.5]
            if len(pick) < lo:
                pick = [pool[int(rng.integers(len(pool)))]] if pool else []
            return tuple(pick[:hi])
        pick = lambda u, v: u if rng.random() < 0.5 else v  # noqa: E731
        return Genome(pick(a.side, b.side), mix(a.entry, b.entry, 1, self.s.max_entry_conditions),
                      mix(a.exit, b.exit, 0, self.s.max_exit_conditions), pick(a.stop_loss, b.stop_loss),
                      pick(a.take_profit, b.take_profit), pick(a.max_hold, b.max_hold))

    def _tournament(self, rng, ranked):
        idx = rng.choice(len(ranked), size=self.ga.tournament_size, replace=False)
        return ranked[int(min(idx))]

    def breed(self, rng, gen: int, parents: list[Genome], taken: set[str]) -> Genome:
        for _ in range(8):
            if gen == 0 or rng.random() < self.ga.immigrant_rate:
                child = self.genome(rng)
            else:
                a = self._tournament(rng, parents)
                child = self.crossover(a, self._tournament(rng, parents), rng) \
                    if rng.random() < self.ga.crossover_rate else a
                if rng.random() < self.ga.mutation_rate or genome_hash(child) in taken:
                    child = self.mutate(child, rng)
            if genome_hash(child) not in taken:
                return child
        return self.genome(rng)


def canonical_conditions(conditions) -> tuple[Condition, ...]:
    """``sorted(set(conditions))``, of equal conditions the first one given."""
    out: dict = {}
    for c in sorted(conditions, key=lambda c: (c.feature, c.op, c.threshold, c.other)):
        out.setdefault((c.feature, c.op, c.threshold, c.other), c)
    return tuple(out.values())


def canonical_bytes(g: Genome) -> bytes:
    return json.dumps(g.to_dict(), sort_keys=True, separators=(",", ":")).encode()


def genome_hash(g: Genome) -> str:
    return hashlib.sha256(canonical_bytes(g)).hexdigest()


def journal_line(g: Genome, metrics) -> bytes:
    return (json.dumps([genome_hash(g), g.to_dict(), [float(m) for m in metrics]], separators=(",", ":"))
            + "\n").encode()
