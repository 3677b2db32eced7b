"""The genetic search: tournament selection, crossover, mutation, elitism, random immigrants and
de-duplication by ``genome_hash``, with an evaluation cache and atomic checkpoints (after the first
generation, then at most once a second, and after the last).

Reproducibility: the randomness that builds individual ``i`` of generation ``g`` comes from
``numpy.random.default_rng([seed, g, i])`` and nothing else, and evaluation is a pure function of the
genome. So the result does not depend on the number of worker threads, and a run resumed from the
checkpoint of generation ``g`` continues exactly as the uninterrupted run would have.

Honesty: fitness is computed on the in-sample bars only. The search holds no market data: it hands
batches of genomes and the id of an in-sample snapshot to an evaluator (``omp_core/evaluator.py``),
with which the caller registered that snapshot, so the out-of-sample part is out of its reach.
"""
from __future__ import annotations

import bisect
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from omp_core import _draws
from omp_core.atomic import write_text
from omp_core.config import GA, Strategy
from omp_core.features import FeatureBank
from omp_core.genome import Condition, Genome, canonical_conditions, json_number, quantize

if TYPE_CHECKING:   # evaluator imports this module (for score): the protocol is for annotations only
    from omp_core.evaluator import Evaluator

CHECKPOINT_FORMAT = "omp.checkpoint/1"
#: the version of the numbers a genome scores: raised whenever the same genome on the same data may
#: score differently (2: a lone sleeve's statistics take the symbol's own returns while it holds a
#: long position; 3: summed per run of such bars, from cumulative sums). A checkpoint records it,
#: and a search never resumes on another's numbers: its journal would match neither version's
#: uninterrupted run.
SCORES_VERSION = 3
#: the longest stretch of search a crash can lose (see GeneticSearch.run)
CHECKPOINT_EVERY_S = 1.0
INVALID_FITNESS = -100.0   # fewer trades than required, a drawdown over the limit, or no Sharpe at all
METRICS = ("fitness", "sharpe_pp", "sharpe", "trades", "max_drawdown")
#: the quantile levels a threshold is drawn at (percentiles 0..100), built once
PROBS = np.linspace(0.0, 1.0, 101)
_PROBS = PROBS.tolist()


def interp(x: float, xp: list[float], fp: list[float]) -> float:
    """``float(numpy.interp(x, xp, fp))`` for one float, ``xp`` increasing (ties allowed), as
    NumPy computes it (``arr_interp``: the last knot at or below ``x``, a knot itself exactly, the
    other end's formula when one gives NaN), so the same bits; a fifth of the cost of the NumPy
    call, which the search makes for every threshold it draws or nudges. Python never fuses a
    multiply and an add: this is also the same bits on every host, where a NumPy built to fuse
    them (as on some aarch64 builds) may differ from x86-64's NumPy in the last bit."""
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


class SearchSpace:
    """Draws and changes genomes within a campaign's strategy space.

    Thresholds of dimensionless features are drawn as quantiles of the feature's in-sample values,
    so every threshold sits where the feature actually lives; level features (close, moving
    averages) are only compared with each other (crossovers), optionally with a small ratio offset.
    """

    def __init__(self, strategy: Strategy, bank: FeatureBank, in_sample_end: int):
        self.s = strategy
        self.levels = [n for n in strategy.level_names() if n in bank.names]
        self.oscillators = [n for n in strategy.feature_names() if n not in self.levels]
        self.sides = [1 if x == "long" else -1 for x in strategy.sides]
        probs = PROBS
        self.quantiles = {}
        for name in self.oscillators:
            v = bank.values[:, bank.index(name), :in_sample_end].ravel()
            v = v[np.isfinite(v)]
            self.quantiles[name] = np.quantile(v, probs) if v.size else np.zeros_like(probs)
        self.oscillators = [n for n in self.oscillators if np.ptp(self.quantiles[n]) > 0]
        self._q = {name: q.tolist() for name, q in self.quantiles.items()}     # for interp
        if not self.oscillators and len(self.levels) < 2:
            raise ValueError("strategy space has no usable feature: every oscillator is constant in "
                             "sample and there are fewer than two level features")

    def _threshold(self, name: str, q: float) -> float:
        return quantize(interp(q, _PROBS, self._q[name]), 4)

    def _quantile_of(self, name: str, x: float) -> float:
        return interp(x, self._q[name], _PROBS)

    def condition(self, rng: np.random.Generator) -> Condition:
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

    def genome(self, rng: np.random.Generator) -> Genome:
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
        q = min(0.99, max(0.01, self._quantile_of(c.feature, c.threshold) + float(rng.normal(0.0, 0.08))))
        return Condition(c.feature, c.op, self._threshold(c.feature, q))

    def mutate(self, g: Genome, rng: np.random.Generator) -> Genome:
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

    def crossover(self, a: Genome, b: Genome, rng: np.random.Generator) -> Genome:
        def mix(x, y, lo, hi):
            pool = canonical_conditions(x + y)     # sorted(set(x) | set(y)): x's of equal ones
            pick = [c for c in pool if rng.random() < 0.5]
            if len(pick) < lo:
                pick = [pool[int(rng.integers(len(pool)))]] if pool else []
            return tuple(pick[:hi])
        pick = lambda u, v: u if rng.random() < 0.5 else v  # noqa: E731
        return Genome(pick(a.side, b.side), mix(a.entry, b.entry, 1, self.s.max_entry_conditions),
                      mix(a.exit, b.exit, 0, self.s.max_exit_conditions), pick(a.stop_loss, b.stop_loss),
                      pick(a.take_profit, b.take_profit), pick(a.max_hold, b.max_hold))


def score(ev, n_symbols: int, ga: GA, objective: str, periods_per_year: float,
          max_drawdown: float) -> np.ndarray:
    """In-sample metrics per genome from a kernel summary, one row each in the order of
    :data:`METRICS`. A genome with too few trades (``ga.min_trades`` per symbol), a drawdown over
    the limit or no defined objective gets :data:`INVALID_FITNESS`."""
    ann = math.sqrt(periods_per_year)
    sr = ev.sharpe()
    mdd = ev.max_drawdown()
    trades = ev.fills / 2.0
    if objective == "sortino":
        obj = ev.sortino() * ann
    elif objective == "calmar":
        final = np.maximum(ev.final_equity(), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            obj = np.where(mdd > 0.0, (final ** (periods_per_year / ev.n_bars) - 1.0) / mdd, np.nan)
    else:
        obj = sr * ann
    valid = np.isfinite(obj) & (trades >= ga.min_trades * n_symbols) & (mdd <= max_drawdown)
    sr0 = np.where(np.isfinite(sr), sr, 0.0)
    return np.column_stack([np.where(valid, obj, INVALID_FITNESS), sr0, sr0 * ann, trades, mdd])


def foreign(state: dict, snapshot_id: str, config_hash: str) -> str:
    """Why a checkpoint's ``state`` cannot go on here (other data, another config, other scores),
    or "" when it can: what a resume and a hand-over of checkpoints both check."""
    if (state.get("snapshot_id"), state.get("config_hash")) != (snapshot_id, config_hash):
        return "belongs to other data or another config"
    if state.get("scores_version", 1) != SCORES_VERSION:
        return (f"scored by another version of the kernel (scores_version {state.get('scores_version', 1)}, "
                f"this code's is {SCORES_VERSION})")
    return ""


@dataclass
class EvaluationCache:
    """In-sample metrics of the genomes evaluated on one data snapshot under one config (the
    cache's ``snapshot_id`` and ``config_hash``, which its journal and checkpoint record), by
    ``genome_hash``; also keeps each genome."""
    snapshot_id: str
    config_hash: str
    entries: dict = field(default_factory=dict)   # genome_hash -> (genome, metrics tuple)

    def get(self, genome_hash: str):
        return self.entries.get(genome_hash)

    def put(self, genome: Genome, metrics) -> None:
        self.entries[genome.genome_hash] = (genome, tuple(map(float, metrics)))

    def __len__(self) -> int:
        return len(self.entries)

    @staticmethod
    def line(genome: Genome, metrics) -> bytes:
        """One journal line: the genome and its metrics, as compact JSON."""
        # json.dumps([float(m) for m in metrics], separators=(",", ":")), written out (a test
        # holds them equal): json.dumps cost more than the rest of the line. The repr of a list
        # of finite floats is its JSON but for the spaces, in one call; a NaN or an infinity (an
        # "n" in it) takes the JSON spellings number by number
        numbers = [float(m) for m in metrics]
        text = repr(numbers).replace(" ", "")
        if "n" in text:
            text = f'[{",".join([json_number(m) for m in numbers])}]'
        return f'["{genome.genome_hash}",{genome.dict_json()},{text}]\n'.encode()

    def load_line(self, line: bytes) -> None:
        h, gd, m = json.loads(line)
        self.entries[h] = (Genome.from_dict(gd), tuple(m))


@dataclass(frozen=True)
class Progress:
    seed: int
    generation: int
    generations: int
    best_sharpe: float
    evaluations: int
    evaluations_per_second: float


class Interrupted(Exception):
    """Raised by a progress callback to stop a search after a checkpoint (tests, cancellation)."""


class GeneticSearch:
    """One seed's search. Fitness comes from ``evaluator.evaluate(genomes, snapshot_id)``, where
    ``snapshot_id`` names the in-sample snapshot registered with the evaluator; it is the evaluator's
    key, distinct from ``cache.snapshot_id`` (the data's content hash) that the cache and the
    checkpoint are keyed by."""

    def __init__(self, space: SearchSpace, ga: GA, seed: int, evaluator: Evaluator, snapshot_id: str,
                 cache: EvaluationCache, checkpoint: Path | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.space, self.ga, self.seed = space, ga, seed
        self.evaluator, self.snapshot_id = evaluator, snapshot_id
        self.cache, self.checkpoint, self.clock = cache, checkpoint, clock
        self.population: list[Genome] = []
        self.generation = -1
        self.history: list[dict] = []
        self.evaluated_here = 0
        # the journal lines of what was evaluated since the last checkpoint, written as they come
        # (not all at the checkpoint): seeds searched side by side then spread this Python over
        # the search, beside each other's kernels, instead of queueing it at the end
        self._unsaved: list[bytes] = []
        self._stream = _draws.Stream()          # reseeded for each child (_rng)
        self._journal_bytes = 0

    def _rng(self, gen: int, i: int) -> _draws.Stream:
        """``numpy.random.default_rng([seed, gen, i])``: the same numbers at a fraction of the cost
        (``omp_core/_draws.pyx``), from this search's one stream."""
        return self._stream.seed((self.seed, gen, i))

    def _score_all(self, genomes: list[Genome]) -> None:
        todo = list({g.genome_hash: g for g in genomes if self.cache.get(g.genome_hash) is None}.values())
        if todo:
            for g, m in zip(todo, np.asarray(self.evaluator.evaluate(todo, self.snapshot_id)).tolist()):
                self.cache.put(g, m)
                if self.checkpoint is not None:
                    self._unsaved.append(EvaluationCache.line(g, self.cache.get(g.genome_hash)[1]))
            self.evaluated_here += len(todo)

    def ranked(self, genomes: list[Genome]) -> list[Genome]:
        """Best first; ties broken by genome_hash so the order never depends on anything else."""
        entries = self.cache.entries

        def key(g: Genome) -> tuple[float, str]:
            h = g.genome_hash
            return -entries[h][1][0], h
        return sorted(genomes, key=key)

    def _tournament(self, rng, ranked_pop):
        idx = rng.choice(len(ranked_pop), size=self.ga.tournament_size, replace=False)
        return ranked_pop[int(min(idx))]   # ranked best-first: the lowest index wins

    def _breed(self, gen: int, i: int, parents: list[Genome], taken: set[str]) -> Genome:
        rng = self._rng(gen, i)
        for _ in range(8):
            if gen == 0 or rng.random() < self.ga.immigrant_rate:
                child = self.space.genome(rng)
            else:
                a = self._tournament(rng, parents)
                child = self.space.crossover(a, self._tournament(rng, parents), rng) \
                    if rng.random() < self.ga.crossover_rate else a
                if rng.random() < self.ga.mutation_rate or child.genome_hash in taken:
                    child = self.space.mutate(child, rng)
            if child.genome_hash not in taken:
                return child
        return self.space.genome(rng)  # still a duplicate after 8 tries: a fresh immigrant

    def step(self) -> None:
        gen = self.generation + 1
        taken: set[str] = set()
        nxt: list[Genome] = []
        parents = self.population       # ranked at the end of the last step (or as checkpointed)
        for g in parents[: self.ga.elitism]:
            nxt.append(g)
            taken.add(g.genome_hash)
        while len(nxt) < self.ga.population:
            child = self._breed(gen, len(nxt), parents, taken)
            if child.genome_hash in taken:   # the fallback immigrant collided too: try the next slot
                continue
            nxt.append(child)
            taken.add(child.genome_hash)
        self._score_all(nxt)
        self.population = self.ranked(nxt)
        self.generation = gen
        best = self.cache.get(self.population[0].genome_hash)[1]
        self.history.append({"generation": gen, "best_fitness": best[0], "best_sharpe": best[2],
                             "distinct_evaluated": len(self.cache)})

    def run(self, progress: Callable[[Progress], None] | None = None) -> list[Genome]:
        """Run to the last generation. The state is checkpointed after the first generation, then
        at most every :data:`CHECKPOINT_EVERY_S` seconds, after the last one, and before a stop
        that ``progress`` raises: a generation of a small campaign takes milliseconds, and three
        fsyncs each were a quarter of its time. A crash loses at most that much work, which the
        resume does again, to the same bytes."""
        self._resume()
        t0 = saved_at = self.clock()
        first = True
        while self.generation + 1 < self.ga.generations:
            self.step()
            now = self.clock()
            due = first or now - saved_at >= CHECKPOINT_EVERY_S or self.generation + 1 == self.ga.generations
            if due:
                self._save()
                saved_at, first = now, False
            if progress:
                dt = max(now - t0, 1e-9)
                best = self.cache.get(self.population[0].genome_hash)[1]
                try:
                    progress(Progress(self.seed, self.generation + 1, self.ga.generations, best[2],
                                      len(self.cache), self.evaluated_here / dt))
                except BaseException:
                    if not due:       # the caller stops the search: this generation is checkpointed
                        self._save()
                    raise
        return self.population

    # ---------------------------------------------------------------------------- checkpointing
    # A checkpoint is two files: ``seed_<n>.json``, the small state written atomically after every
    # generation, and ``seed_<n>.cache.jsonl``, an append-only journal of every evaluation. The
    # state records how many journal bytes it stands on: a crash between the append and the state
    # write leaves a tail that the resume cuts off, so the journal ends byte-identical to that of an
    # uninterrupted run, and saving stays linear in the work done.
    @property
    def journal(self) -> Path:
        return self.checkpoint.with_name(self.checkpoint.stem + ".cache.jsonl")

    def state(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "seed": self.seed, "generation": self.generation,
                "snapshot_id": self.cache.snapshot_id, "config_hash": self.cache.config_hash,
                "scores_version": SCORES_VERSION,
                "population": [g.genome_hash for g in self.population], "history": self.history,
                "journal_bytes": self._journal_bytes, "evaluations": len(self.cache)}

    def _save(self) -> None:
        if self.checkpoint is None:
            return
        if self._unsaved:
            chunk = b"".join(self._unsaved)
            with open(self.journal, "ab") as fh:
                fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            self._journal_bytes += len(chunk)
            self._unsaved = []
        write_text(self.checkpoint, json.dumps(self.state(), sort_keys=True, separators=(",", ":")))

    def _resume(self) -> None:
        if self.checkpoint is None:
            return
        if not self.checkpoint.exists():
            self.journal.unlink(missing_ok=True)     # a journal without a state is a crash before gen 0
            return
        st = json.loads(self.checkpoint.read_text())
        if st.get("format") != CHECKPOINT_FORMAT or st.get("seed") != self.seed:
            raise ValueError(f"{self.checkpoint}: not a checkpoint of seed {self.seed}")
        why = foreign(st, self.cache.snapshot_id, self.cache.config_hash)
        if why:
            raise ValueError(f"{self.checkpoint}: {why}; refusing to resume")
        size = st["journal_bytes"]
        with open(self.journal, "r+b") as fh:
            data = fh.read(size)
            if len(data) != size:
                raise ValueError(f"{self.journal}: journal shorter ({len(data)} bytes) than its checkpoint says ({size})")
            fh.truncate(size)
        for line in data.splitlines():
            self.cache.load_line(line)
        if len(self.cache) != st["evaluations"]:
            raise ValueError(f"{self.journal}: {len(self.cache)} evaluations, the checkpoint says {st['evaluations']}")
        genomes = {h: g for h, (g, _) in self.cache.entries.items()}
        self.population = [genomes[h] for h in st["population"]]
        self.generation = st["generation"]
        self.history = st["history"]
        self._journal_bytes = size
