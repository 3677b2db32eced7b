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

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from omp_core import _breed, _draws, _genome
from omp_core.atomic import write_text
from omp_core.config import GA, Strategy
from omp_core.features import FeatureBank
from omp_core.genome import Condition, Genome

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
interp = _breed.interp


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
        if not self.oscillators and len(self.levels) < 2:
            raise ValueError("strategy space has no usable feature: every oscillator is constant in "
                             "sample and there are fewer than two level features")
        self._ops = self.operators()

    def operators(self, ga: GA | None = None) -> _breed.Operators:
        """The compiled operators of this space (``omp_core/_breed.pyx``), with ``ga``'s settings
        for breeding children."""
        return _breed.Operators(self.levels, self.oscillators, self.sides, self.quantiles, PROBS, self.s, ga)

    # What the operators do, each from a stream (``_draws.Stream``) seeded for the child:
    # - a condition is a crossover of two distinct level features (``a op b * (1 + ratio)``, the
    #   ratio 0 half the time, else normal with a spread of 1%, to 3 digits) with probability
    #   ``crossover_probability`` (always without oscillators), else an oscillator against its
    #   value at a uniform quantile level in [0.05, 0.95] (to 4 digits); its op is > or <, evenly;
    # - a genome has 1..max_entry_conditions entry and 0..max_exit_conditions exit conditions, a
    #   side, and a stop, a take and a holding limit, each none a third of the time when its range
    #   starts at 0, else uniform in it (to 3 digits; the holding limit at least one bar);
    # - a mutation makes one of eight moves on the entry rules (or, 40% of the time when there
    #   are exit rules, those): nudge a condition (a crossover's ratio by a normal of 0.005, an
    #   oscillator's quantile level by one of 0.08, kept in [0.01, 0.99]), replace it, add one
    #   (within the limit), drop one (keeping an entry), flip its op, flip the side, draw the stop
    #   and take again, or the holding limit (also what a move that cannot be made does);
    # - a crossover takes the side, stop, take and holding limit each from either parent evenly,
    #   and each condition of the two parents' union with probability 1/2 (at least one entry
    #   condition, at most the limits).
    def condition(self, rng: _draws.Stream) -> Condition:
        return self._ops.condition(rng)

    def genome(self, rng: _draws.Stream) -> Genome:
        return self._ops.genome(rng)

    def mutate(self, g: Genome, rng: _draws.Stream) -> Genome:
        return self._ops.mutate(g, rng)

    def crossover(self, a: Genome, b: Genome, rng: _draws.Stream) -> Genome:
        return self._ops.crossover(a, b, rng)


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


def genome_of(text: str) -> Genome:
    """The genome whose ``dict_json`` is ``text``."""
    return Genome.from_dict(json.loads(text))


@dataclass
class EvaluationCache:
    """In-sample metrics of the genomes evaluated on one data snapshot under one config (the
    cache's ``snapshot_id`` and ``config_hash``, which its journal and checkpoint record), by
    ``genome_hash``; also keeps each genome, as its JSON (``Genome.dict_json``: :meth:`genome`
    makes it a Genome again). A cached evaluation is a string and a tuple of floats: a third of
    the memory of the objects, and nothing the garbage collector walks (a search caches every
    genome it evaluates, and the collector's full passes walked them all)."""
    snapshot_id: str
    config_hash: str
    entries: dict = field(default_factory=dict)   # genome_hash -> (genome JSON, metrics tuple)

    def get(self, genome_hash: str) -> tuple[str, tuple[float, ...]] | None:
        return self.entries.get(genome_hash)

    def genome(self, genome_hash: str) -> Genome:
        return genome_of(self.entries[genome_hash][0])

    def put(self, genome: Genome, metrics) -> tuple[str, tuple[float, ...]]:
        """Keeps ``genome`` with its metrics (as floats); returns what it keeps."""
        kept = self.entries[genome.genome_hash] = (genome.dict_json(), tuple(map(float, metrics)))
        return kept

    def __len__(self) -> int:
        return len(self.entries)

    #: one journal line, ``[genome_hash, genome, metrics]`` as compact JSON, from the hash, the
    #: genome's ``dict_json`` and the metrics (compiled, ``_genome.pyx``)
    line = staticmethod(_genome.journal_line)

    def load_line(self, line: bytes) -> None:
        h, gd, m = json.loads(line)
        self.entries[h] = (Genome.from_dict(gd).dict_json(), tuple(m))


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
        self._ops = space.operators(ga)
        self._journal_bytes = 0

    def _rng(self, gen: int, i: int) -> _draws.Stream:
        """``numpy.random.default_rng([seed, gen, i])``: the same numbers at a fraction of the cost
        (``omp_core/_draws.pyx``), from this search's one stream."""
        return self._stream.seed((self.seed, gen, i))

    def _score_all(self, genomes: list[Genome]) -> None:
        entries = self.cache.entries
        todo = list({h: g for g in genomes if (h := g.genome_hash) not in entries}.values())
        if todo:
            put, line, journal = self.cache.put, EvaluationCache.line, self._unsaved
            for g, m in zip(todo, np.asarray(self.evaluator.evaluate(todo, self.snapshot_id)).tolist()):
                text, m = put(g, m)
                if self.checkpoint is not None:
                    journal.append(line(g.genome_hash, text, m))
            self.evaluated_here += len(todo)

    def ranked(self, genomes: list[Genome]) -> list[Genome]:
        """Best first; ties broken by genome_hash so the order never depends on anything else."""
        entries = self.cache.entries

        def key(g: Genome) -> tuple[float, str]:
            h = g.genome_hash
            return -entries[h][1][0], h
        return sorted(genomes, key=key)

    def step(self) -> None:
        gen = self.generation + 1
        taken: set[str] = set()
        nxt: list[Genome] = []
        parents = self.population       # ranked at the end of the last step (or as checkpointed)
        for g in parents[: self.ga.elitism]:
            nxt.append(g)
            taken.add(g.genome_hash)
        while len(nxt) < self.ga.population:
            child = self._ops.breed(self._rng(gen, len(nxt)), gen, parents, taken)
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
        self.population = [self.cache.genome(h) for h in st["population"]]
        self.generation = st["generation"]
        self.history = st["history"]
        self._journal_bytes = size
