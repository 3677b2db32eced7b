"""The evaluator seam: the local evaluator scores like a direct backtest, unknown snapshots are named,
and the search hands an evaluator genomes and a snapshot id, never data."""
import threading

import numpy as np
import pytest

from helpers_core import FIXTURES, bank_for
from omp_core import backtest, config, data, ga
from omp_core.evaluator import Evaluator, LocalEvaluator, Scoring, Snapshot, window_id
from omp_core.features import FeatureBank
from omp_core.genome import Genome, sma_crossover

TINY = FIXTURES / "campaigns" / "tiny.toml"


@pytest.fixture(scope="module")
def tiny():
    cfg = config.load(TINY)
    market = data.load_market(cfg.sources(), cfg.mandate.universe, cfg.data.validation.policy())
    bank = FeatureBank.build(market, cfg.strategy.feature_names())
    split = int(round(market.n_bars * 0.7))
    return cfg, market, bank, split


def tiny_search(tiny, evaluator: Evaluator, snapshot_id: str, seed: int = 7) -> ga.GeneticSearch:
    cfg, market, bank, split = tiny
    space = ga.SearchSpace(cfg.strategy, bank, split)
    return ga.GeneticSearch(space, cfg.ga, seed, evaluator, snapshot_id,
                            ga.EvaluationCache(market.snapshot_id, cfg.config_hash))


def tiny_evaluator(tiny, threads: int) -> tuple[LocalEvaluator, str]:
    cfg, market, bank, split = tiny
    sid = window_id(market.snapshot_id, cfg.config_hash, 0, split)
    ev = LocalEvaluator(threads)
    ev.register(sid, Snapshot(market, bank, backtest.Costs(), 0, split, Scoring(cfg.ga, "sharpe", 252.0, 0.5)))
    return ev, sid


def test_local_evaluator_gives_the_metrics_of_a_direct_backtest(us3):
    gens = [sma_crossover(f, s, side) for f in (5, 10, 20) for s in (50, 100) for side in (1, -1)]
    bank = bank_for(us3, gens)
    costs = backtest.Costs(3.0, 2.0)
    gcfg = config.GA(min_trades=1)
    start, end = 100, 900
    evaluator = LocalEvaluator(threads=2)
    evaluator.register("window", Snapshot(us3, bank, costs, start, end, Scoring(gcfg, "sortino", 252.0, 0.6)))
    got = evaluator.evaluate(gens, "window")
    direct = backtest.evaluate(gens, us3, bank, costs, start=start, end=end)
    want = ga.score(direct, len(us3.symbols), gcfg, "sortino", 252.0, 0.6)
    assert got.shape == (len(gens), len(ga.METRICS))
    assert (got[:, 0] > ga.INVALID_FITNESS).any()      # not a vacuous comparison of invalid rows
    np.testing.assert_array_equal(got, want)


def test_the_local_evaluator_keeps_its_threads_from_batch_to_batch(tiny):
    """A search evaluates a batch a generation: the pool lives as long as the evaluator, and
    close lets its threads go (scoring afterwards still works, on threads of its own)."""
    def workers():
        return {t.ident for t in threading.enumerate() if t.name.startswith("omp-eval")}
    before = workers()
    ev, sid = tiny_evaluator(tiny, threads=2)
    gens = [sma_crossover(10, 50, side) for side in (1, -1)] * 3
    first = ev.evaluate(gens, sid)
    mine = workers() - before
    # a pool starts a worker only when none is idle: one, or both, may have done the first batch
    assert 1 <= len(mine) <= 2
    for _ in range(3):
        np.testing.assert_array_equal(ev.evaluate(gens, sid), first)
        assert mine <= workers()                        # the same threads, kept
    assert len(workers() - before) <= 2                 # never more than the evaluator's threads
    ev.close()
    assert not workers() - before
    np.testing.assert_array_equal(ev.evaluate(gens, sid), first)
    assert not workers() - before


def test_unknown_or_clashing_snapshot_ids_are_refused(goog):
    g = sma_crossover(5, 20)
    bank = bank_for(goog, [g])
    snap = Snapshot(goog, bank, backtest.Costs(), 0, 50, Scoring(config.GA(), "sharpe", 252.0, 0.5))
    evaluator = LocalEvaluator()
    evaluator.register("known", snap)
    evaluator.register("known", snap)                  # the same snapshot again: fine
    with pytest.raises(KeyError, match="unknown snapshot id 'nope'"):
        evaluator.evaluate([g], "nope")
    with pytest.raises(ValueError, match="'known' is already registered"):
        evaluator.register("known", Snapshot(goog, bank, backtest.Costs(), 0, 60, snap.scoring))
    with pytest.raises(ValueError, match="bar range"):
        Snapshot(goog, bank, backtest.Costs(), 50, 50, snap.scoring)


def test_window_id_names_the_data_the_config_and_the_bars():
    assert window_id("d" * 64, "c" * 64, 0, 700) == f"{'d' * 64}/{'c' * 64}/0:700"


def test_search_through_the_evaluator_is_deterministic(tiny):
    runs = []
    for threads in (1, 2, 1):
        search = tiny_search(tiny, *tiny_evaluator(tiny, threads))
        search.run()
        runs.append(([(g.genome_hash, search.cache.get(g.genome_hash)[1]) for g in search.population],
                     search.history))
    assert runs[0] == runs[1] == runs[2]


class RecordingEvaluator:
    """The protocol and nothing more (no ``**kwargs``): a search that passed it anything besides
    the genomes and the snapshot id would fail here. Fitness is a fixed function of the hash."""

    def __init__(self):
        self.calls = []

    def evaluate(self, genomes, snapshot_id):
        self.calls.append((genomes, snapshot_id))
        fit = [int(g.genome_hash[:8], 16) / 2.0 ** 32 for g in genomes]
        return np.array([[f, f, f, 10.0, 0.1] for f in fit])


def test_search_hands_the_evaluator_only_genomes_and_the_snapshot_id(tiny):
    fake = RecordingEvaluator()
    search = tiny_search(tiny, fake, "in-sample-id")
    search.run()
    assert fake.calls
    for genomes, sid in fake.calls:
        assert sid == "in-sample-id"
        assert genomes and all(isinstance(g, Genome) for g in genomes)
    evaluated = [g.genome_hash for genomes, _ in fake.calls for g in genomes]
    assert sorted(evaluated) == sorted(search.cache.entries)   # each once, all through it
    # and the search keeps no data of its own that it could score with
    held = (data.Market, FeatureBank, np.ndarray)
    assert not any(isinstance(v, held) for v in vars(search).values())
