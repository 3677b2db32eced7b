"""The compiled genetic operators (``_breed.pyx``) and genome bytes (``_genome.pyx``) against their
plain twins (``omp_core/reference/breeding.py``): the same children from the same stream, the
stream left in the same state, the same bytes."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers_core import FIXTURES
from omp_core import _breed, _draws, config, data, ga
from omp_core.features import FeatureBank
from omp_core.genome import Condition, Genome
from omp_core.reference import breeding as twin

TINY = FIXTURES / "campaigns" / "tiny.toml"

# strategy spaces that take every branch: crossovers only, oscillators only, one side, no exit rules,
# no zero stop, take or hold; and tournaments larger than the stream draws itself (NumPy's choice)
VARIANTS = {
    "as configured": {},
    "crossovers only": {"rsi": (), "atr": (), "zscore": (), "roc": (), "bbp": (), "volz": ()},
    "oscillators only": {"sma": (), "ema": (), "crossover_probability": 0.0},
    "one side, no exits": {"sides": ("short",), "max_exit_conditions": 0, "max_entry_conditions": 4},
    "nonzero ranges": {"stop_loss": (0.02, 0.2), "take_profit": (0.05, 0.5), "max_hold": (3, 9)},
    "holds of a bar": {"max_hold": (0, 1), "crossover_probability": 1.0},
}


@pytest.fixture(scope="module")
def tiny():
    cfg = config.load(TINY)
    market = data.load_market(cfg.sources(), cfg.mandate.universe, cfg.data.validation.policy())
    bank = FeatureBank.build(market, cfg.strategy.feature_names())
    return cfg, bank, int(round(market.n_bars * 0.7))


def spaces(tiny, variant, tournament_size=3):
    cfg, bank, split = tiny
    strategy = dataclasses.replace(cfg.strategy, **VARIANTS[variant])
    space = ga.SearchSpace(strategy, bank, split)
    gcfg = dataclasses.replace(cfg.ga, population=max(cfg.ga.population, tournament_size), tournament_size=tournament_size)
    return space, space.operators(gcfg), twin.Operators(space, gcfg)


def pair(words):
    return _draws.Stream(words), _draws.Stream(words)


def same_state(a, b):
    return a.random() == b.random() and a.integers(1 << 30) == b.integers(1 << 30)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@settings(max_examples=60, deadline=None)
@given(words=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 500), st.integers(0, 500)))
def test_the_compiled_operators_draw_mutate_and_cross_as_their_twin(tiny, variant, words):
    _, ops, plain = spaces(tiny, variant)
    a, b = pair(words)
    for _ in range(3):
        g1, g2 = ops.genome(a), plain.genome(b)
        assert g1 == g2 and g1.genome_hash == g2.genome_hash == twin.genome_hash(g2)
        c1, c2 = ops.condition(a), plain.condition(b)
        assert c1 == c2 and c1.as_json == c2.as_json
        m1, m2 = ops.mutate(g1, a), plain.mutate(g2, b)
        assert m1 == m2 and m1.canonical_bytes() == twin.canonical_bytes(m2)
        x1, x2 = ops.crossover(g1, m1, a), plain.crossover(g2, m2, b)
        assert x1 == x2 and x1.genome_hash == twin.genome_hash(x2)
        assert same_state(a, b)


@pytest.mark.parametrize("variant,tournament", [("as configured", 3), ("as configured", 70),
                                                ("one side, no exits", 5), ("crossovers only", 2)])
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_compiled_breeding_gives_the_twin_s_children(tiny, variant, tournament, seed):
    """Generations of children, each from its own seeded stream, with duplicates refused: the same
    children in the same order (a tournament of 70 takes NumPy's choice, past what the stream
    draws itself)."""
    _, ops, plain = spaces(tiny, variant, tournament)
    parents = [ops.genome(_draws.Stream((seed, 0, i))) for i in range(max(80, tournament))]
    taken: set[str] = set()
    for gen in (0, 1, 2):
        for i in range(12):
            a, b = pair((seed, gen, i))
            c1 = ops.breed(a, gen, parents, taken)
            before = set(taken)
            c2 = plain.breed(b, gen, parents, before)
            assert c1 == c2 and c1.genome_hash == twin.genome_hash(c2)
            assert same_state(a, b)
            assert taken == before          # breeding reads the taken hashes; the search adds to them
            taken.add(c1.genome_hash)
    # a taken child is drawn again: a pool of one parent, its hash taken, still breeds a new child
    a, b = pair((seed, 9, 0))
    lone = parents[:1] * tournament
    c1 = ops.breed(a, 1, lone, {lone[0].genome_hash})
    assert c1 == plain.breed(b, 1, lone, {lone[0].genome_hash}) and c1.genome_hash != lone[0].genome_hash


@settings(max_examples=300, deadline=None)
@given(x=st.floats(allow_nan=True, allow_infinity=True, width=64) | st.integers(-1000, 1000),
       knots=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=12), values=st.lists(st.floats(-1e6, 1e6), min_size=12, max_size=12))
def test_the_compiled_interp_is_the_twin_s(x, knots, values):
    xp = sorted(knots)
    fp = values[:len(xp)]
    got, want = ga.interp(float(x), xp, fp), twin.interp(float(x), xp, fp)
    assert got == want or (got != got and want != want)


def test_interp_refuses_knots_and_values_of_other_lengths():
    with pytest.raises(ValueError, match="interp needs xp and fp of one non-zero length, got 2 and 3"):
        ga.interp(0.5, [0.0, 1.0], [1.0, 2.0, 3.0])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["rsi_14", "close", "sma_10", "zscore_20"]), st.sampled_from([">", "<"]),
                          st.sampled_from([0.0, -0.0, 0.5, -2.5, 30.0, 7])), min_size=0, max_size=40), st.randoms())
def test_canonical_conditions_are_the_twin_s_of_any_length(parts, rnd):
    """Short sets take an insertion sort, long ones (no genome's) a sort: both the twin's order,
    the first of equal conditions kept (0.0 and -0.0, 7 and 7.0), the same JSON."""
    from omp_core.genome import canonical_conditions
    conds = [Condition(f, op, thr) for f, op, thr in parts]
    rnd.shuffle(conds)
    got, want = canonical_conditions(conds), twin.canonical_conditions(conds)
    assert [c.as_json for c in got] == [c.as_json for c in want]
    assert all(x is y for x, y in zip(got, want))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**6, 10**6), min_size=5, max_size=5),
       st.sampled_from([0.0, 1e-300, 123.456, 30]))
def test_a_journal_line_is_the_twin_s_bytes(metrics, threshold):
    g = Genome(-1, (Condition("rsi_14", "<", threshold), Condition("sma_10", ">", 0.01, "sma_50")), (), 0.05, 0.0, 7)
    assert ga.EvaluationCache.line(g.genome_hash, g.dict_json(), metrics) == twin.journal_line(g, metrics)
    assert ga.EvaluationCache.line(g.genome_hash, g.dict_json(), np.array(metrics, dtype=float)) \
        == twin.journal_line(g, metrics)


@settings(max_examples=500, deadline=None)
@given(x=st.floats(allow_nan=True, allow_infinity=True), digits=st.integers(0, 17))
def test_quantize_is_the_twin_s(x, digits):
    from omp_core.genome import quantize
    got, want = quantize(x, digits), twin.quantize(x, digits)
    assert got == want or (got != got and want != want)
    assert str(got) == str(want)      # -0.0 and 0.0 apart too


def test_quantize_refuses_a_negative_number_of_digits():
    from omp_core.genome import quantize
    with pytest.raises(ValueError, match="quantize needs digits >= 0, got -1"):
        quantize(123.456, -1)


def test_operators_without_ga_settings_draw_but_do_not_breed(tiny):
    space, _, _ = spaces(tiny, "as configured")
    g = space.genome(_draws.Stream((1,)))
    with pytest.raises(ValueError, match="made without GA settings"):
        space.operators().breed(_draws.Stream((1,)), 1, [g], set())


def test_an_operator_without_a_stream_is_an_error_not_a_crash(tiny):
    """The operators draw through the stream's C functions: None (or NumPy's generator) is refused
    before anything is drawn (a None let through would be dereferenced)."""
    space, ops, _ = spaces(tiny, "as configured")
    g = space.genome(_draws.Stream((1,)))
    calls = [lambda r: space.genome(r), lambda r: space.condition(r), lambda r: space.mutate(g, r),
             lambda r: space.crossover(g, g, r), lambda r: ops.breed(r, 1, [g], set())]
    for call in calls:
        for rng in (None, np.random.default_rng(1)):
            with pytest.raises(TypeError):
                call(rng)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_condition_on_a_constant_oscillator_is_nudged_as_before(tiny, seed):
    """An oscillator constant in sample is never drawn, but a genome may hold a condition on it
    (made by hand, or by another window): mutating it nudges it on its own quantiles, as the
    Python search did."""
    space, _, _ = spaces(tiny, "as configured")
    dropped, kept = space.oscillators[0], space.oscillators[1:]
    narrowed = type("Space", (), {"s": space.s, "levels": space.levels, "oscillators": kept, "sides": space.sides,
                                  "quantiles": space.quantiles})()
    ops = _breed.Operators(space.levels, kept, space.sides, space.quantiles, ga.PROBS, space.s, None)
    plain = twin.Operators(narrowed)
    g = Genome(1, (Condition(dropped, ">", float(space.quantiles[dropped][50])),))
    a, b = pair((seed,))
    for _ in range(4):
        g1, g2 = ops.mutate(g, a), plain.mutate(g, b)
        assert g1 == g2 and same_state(a, b)
        g = g1
