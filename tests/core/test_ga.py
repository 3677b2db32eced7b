"""The search is reproducible (threads, resume) and honest (out-of-sample data never steers it)."""
import gc
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers_core import FIXTURES
from omp_core import _draws, backtest, config, data, ga
from omp_core.evaluator import LocalEvaluator, Scoring, Snapshot
from omp_core.features import FeatureBank
from omp_core.genome import Condition, Genome

TINY = FIXTURES / "campaigns" / "tiny.toml"


def setup_search(seed=7, threads=1, checkpoint=None, market=None, generations=None):
    cfg = config.load(TINY)
    if market is None:
        market = data.load_market(cfg.sources(), cfg.mandate.universe, cfg.data.validation.policy())
    gcfg = cfg.ga if generations is None else type(cfg.ga)(**{**cfg.ga.__dict__, "generations": generations})
    bank = FeatureBank.build(market, cfg.strategy.feature_names())
    split = int(round(market.n_bars * 0.7))
    evaluator = LocalEvaluator(threads)
    evaluator.register("in-sample", Snapshot(market, bank, backtest.Costs(), 0, split,
                                             Scoring(gcfg, "sharpe", 252.0, 0.5)))
    space = ga.SearchSpace(cfg.strategy, bank, split)
    cache = ga.EvaluationCache(market.snapshot_id, cfg.config_hash)
    return ga.GeneticSearch(space, gcfg, seed, evaluator, "in-sample", cache, checkpoint), market, split


def outcome(search):
    return [(g.genome_hash, search.cache.get(g.genome_hash)[1]) for g in search.population]


def test_same_seed_same_result_and_thread_count_does_not_matter():
    a, _, _ = setup_search(threads=1)
    b, _, _ = setup_search(threads=2)
    a.run()
    b.run()
    assert outcome(a) == outcome(b)
    assert a.history == b.history
    c, _, _ = setup_search(seed=8)
    c.run()
    assert outcome(c) != outcome(a)


def test_population_is_deduplicated_by_genome_hash():
    s, _, _ = setup_search(generations=6)
    seen = []
    s.run(lambda p: seen.append(len({g.genome_hash for g in s.population}) == len(s.population)))
    assert seen and all(seen)


def test_checkpoints_come_first_then_by_time_and_at_the_end(tmp_path):
    """A generation of a small campaign takes milliseconds: the state is written after the first,
    then once per CHECKPOINT_EVERY_S of search, and after the last one."""
    ck = tmp_path / "s.json"
    s, _, _ = setup_search(checkpoint=ck, generations=8)
    now = [0.0]
    s.clock = lambda: now[0]
    seen = []

    def tick(p):
        seen.append(json.loads(ck.read_text())["generation"])
        now[0] += ga.CHECKPOINT_EVERY_S * 0.4      # a checkpoint falls due every third generation
    s.run(tick)
    assert seen == [0, 0, 0, 3, 3, 3, 6, 7]
    assert s.journal.stat().st_size == json.loads(ck.read_text())["journal_bytes"]


def test_a_search_does_not_resume_on_another_kernels_numbers(tmp_path):
    ck = tmp_path / "s.json"
    first, _, _ = setup_search(checkpoint=ck, generations=2)
    first.run()
    st = json.loads(ck.read_text())
    ck.write_text(json.dumps({**st, "scores_version": ga.SCORES_VERSION + 1}))
    again, _, _ = setup_search(checkpoint=ck, generations=4)
    with pytest.raises(ValueError, match=f"scores_version {ga.SCORES_VERSION + 1}"):
        again.run()
    del st["scores_version"]            # a checkpoint from before the field: version 1
    ck.write_text(json.dumps(st))
    with pytest.raises(ValueError, match="scores_version 1"):
        setup_search(checkpoint=ck, generations=4)[0].run()


def test_resumed_search_ends_exactly_like_an_uninterrupted_one(tmp_path):
    full, _, _ = setup_search(checkpoint=tmp_path / "full.json", generations=6)
    full.run()

    ck = tmp_path / "cut.json"
    cut, _, _ = setup_search(checkpoint=ck, generations=6)

    def stop(p):
        if p.generation == 3:
            raise ga.Interrupted
    with pytest.raises(ga.Interrupted):
        cut.run(stop)
    assert json.loads(ck.read_text())["generation"] == 2     # generations 0, 1, 2 were checkpointed
    # a crash between the journal append and the state write leaves a torn tail behind
    with open(cut.journal, "ab") as fh:
        fh.write(b'["deadbeef",{"side":')

    resumed, _, _ = setup_search(checkpoint=ck, generations=6)
    resumed.run()
    assert resumed.evaluated_here < full.evaluated_here      # it did not start over
    assert outcome(resumed) == outcome(full)
    assert ck.read_bytes() == (tmp_path / "full.json").read_bytes()
    assert resumed.journal.read_bytes() == full.journal.read_bytes()


def test_out_of_sample_data_never_steers_the_search():
    base, market, split = setup_search()
    base.run()
    # scramble everything after the split: prices, highs, lows, volume
    rng = np.random.default_rng(0)
    arrays = []
    for a in (market.open, market.high, market.low, market.close, market.volume):
        b = a.copy()
        b[:, split:] *= rng.uniform(0.5, 2.0, size=b[:, split:].shape)
        arrays.append(b)
    changed = data.Market(market.symbols, market.timestamps, *arrays,
                          data.snapshot_id(market.symbols, market.timestamps, arrays), {})
    other, _, _ = setup_search(market=changed)
    other.run()
    assert changed.snapshot_id != market.snapshot_id
    assert outcome(other) == outcome(base)


def test_cache_holds_each_genome_by_its_hash_for_one_snapshot_and_config():
    s, market, _ = setup_search(generations=2)
    s.run()
    assert (s.cache.snapshot_id, s.cache.config_hash) == (market.snapshot_id, config.load(TINY).config_hash)
    assert s.cache.entries and all(h == s.cache.genome(h).genome_hash for h in s.cache.entries)


def test_a_cached_evaluation_is_nothing_the_garbage_collector_walks():
    """A search caches every genome it evaluates: kept as objects, the collector's full passes
    walked them all (11% of a 120-generation campaign's search). Kept as the genome's JSON and a
    tuple of floats, an entry is untracked after the first pass, and makes its genome again."""
    s, _, _ = setup_search(generations=2)
    s.run()
    gc.collect()
    gc.collect()    # a pass untracks a tuple of untracked items: the metrics first, then the entry
    assert s.cache.entries and not any(gc.is_tracked(v) for v in s.cache.entries.values())
    h = s.population[0].genome_hash
    assert s.cache.genome(h) == s.population[0] and s.cache.genome(h).genome_hash == h


def test_a_checkpoint_of_other_data_is_not_resumed(tmp_path):
    ck = tmp_path / "ck.json"
    first, _, _ = setup_search(checkpoint=ck, generations=2)
    first.run()
    other, _, _ = setup_search(checkpoint=ck, generations=4)
    other.cache.snapshot_id = "0" * 64          # the data changed since the checkpoint
    with pytest.raises(ValueError, match="other data or another config"):
        other.run()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(0, 2**64 + 5), min_size=1, max_size=6))
def test_the_search_seeds_its_generator_as_numpy_does(words):
    bits = np.random.PCG64(np.random.SeedSequence(words)).state["state"]
    assert _draws.pcg64_state(words) == (bits["state"], bits["inc"])


DRAWS = st.one_of(
    st.tuples(st.just("random")),
    st.tuples(st.just("integers"), st.integers(1, 2**32 - 2)),
    st.tuples(st.just("integers"), st.integers(-50, 50), st.integers(1, 1000)),
    st.tuples(st.just("uniform"), st.floats(-1e6, 1e6), st.floats(0.0, 1e6)),
    st.tuples(st.just("normal"), st.floats(-1.0, 1.0), st.floats(0.0, 2.0)),
    st.tuples(st.just("choice"), st.integers(1, 400), st.integers(1, 70)),
    st.tuples(st.just("choice"), st.integers(10001, 20000), st.integers(1, 3)),
)


def _draw(rng, op):
    name, *args = op
    if name == "integers" and len(args) == 2:
        return int(rng.integers(args[0], args[0] + args[1]))
    if name == "uniform":
        return float(rng.uniform(args[0], args[0] + args[1]))
    if name == "choice":
        return tuple(int(i) for i in rng.choice(args[0], size=min(args), replace=False))
    return getattr(rng, name)(*args)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=3), st.lists(DRAWS, max_size=12), st.booleans())
def test_a_stream_draws_numpys_numbers_and_ends_in_numpys_state(words, ops, direct):
    """Seeded again after draws of another seed, as the search reseeds its one stream for every
    child; by writing PCG64's struct (this machine's NumPy has the layout the module knows) and
    through NumPy's setter (the fallback)."""
    ours, theirs = _draws.Stream([7, 7], direct=direct), np.random.default_rng(words)
    assert ours.seeds_directly is direct
    ours.random(), ours.normal()
    ours.seed(words)
    for op in ops:
        assert _draw(ours, op) == _draw(theirs, op), op
    assert ours.generator.bit_generator.state == theirs.bit_generator.state


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.sampled_from([0.0, 1.0, 2.5])), min_size=2, max_size=40),
       st.lists(st.one_of(st.floats(-1e3, 1e3), st.sampled_from([float("inf"), -float("inf")])), min_size=2, max_size=40),
       st.lists(st.one_of(st.floats(-2e6, 2e6), st.just(float("nan"))), max_size=10))
def test_interp_gives_numpys_bits(xp, fp, xs):
    """The search's thresholds come from ga.interp: NumPy's numbers, knots tied or not, values
    infinite or not, at and between the knots, beyond both ends, NaN."""
    n = min(len(xp), len(fp))
    xp, fp = sorted(xp[:n]), fp[:n]
    for x in xs + xp + [xp[0] - 1.0, xp[-1] + 1.0]:
        want = float(np.interp(x, np.array(xp), np.array(fp)))
        got = ga.interp(float(x), xp, fp)
        assert got == want or (got != got and want != want), (x, got, want)


def test_a_stream_refuses_what_it_does_not_draw_naming_the_values():
    s = _draws.Stream()
    for call, match in ((lambda: s.integers(0), "low=0, high=0"), (lambda: s.integers(5, 2**33), "high=8589934592"),
                        (lambda: s.integers(0, 2**70), f"high={2**70}"),
                        (lambda: s.uniform(1.0, 0.0), "got 1.0, 0.0"), (lambda: s.choice(5, 2), "replace=False"),
                        (lambda: s.normal(0.0, -1.0), "scale >= 0, got -1.0"),
                        (lambda: _draws.pcg64_state([-1]), "got -1")):
        with pytest.raises(ValueError, match=match):
            call()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-7, 1e20, -100.0])),
                min_size=5, max_size=5))
def test_a_journal_line_is_the_json_module_s_bytes(metrics):
    g = Genome(1, (Condition("rsi_14", "<", 30.0),))
    want = (f'["{g.genome_hash}",{json.dumps(g.to_dict(), separators=(",", ":"))},'
            f'{json.dumps([float(m) for m in metrics], separators=(",", ":"))}]\n').encode()
    assert ga.EvaluationCache.line(g.genome_hash, g.dict_json(), np.array(metrics)) == want
    assert ga.EvaluationCache.line(g.genome_hash, g.dict_json(), tuple(metrics)) == want
