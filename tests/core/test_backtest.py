"""The compiled backtest against the plainly written event-driven reference, and the execution rules
that keep research honest: t+1 fills, costs on every fill, no look-ahead, no input mutation."""
import platform
import re
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers_core import bank_for, synthetic_market
from omp_core import _backtest, backtest, genome, stats
from omp_core.features import FeatureBank
from omp_core.genome import Condition, Genome, sma_crossover
from omp_core.reference.backtest import run_genome

FEATURES = ["close", "sma_3", "sma_8", "ema_5", "rsi_4", "roc_2", "zscore_5"]
LEVELS = ["close", "sma_3", "sma_8", "ema_5"]
OSC = {"rsi_4": (10.0, 90.0), "roc_2": (-0.05, 0.05), "zscore_5": (-2.0, 2.0)}


@st.composite
def conditions(draw):
    op = draw(st.sampled_from([">", "<"]))
    if draw(st.booleans()):
        a, b = draw(st.lists(st.sampled_from(LEVELS), min_size=2, max_size=2, unique=True))
        return Condition(a, op, draw(st.sampled_from([0.0, 0.01, -0.02])), b)
    name = draw(st.sampled_from(sorted(OSC)))
    lo, hi = OSC[name]
    return Condition(name, op, draw(st.floats(lo, hi)))


@st.composite
def genomes(draw):
    return Genome(
        side=draw(st.sampled_from([1, -1])),
        entry=tuple(draw(st.lists(conditions(), min_size=1, max_size=3))),
        exit=tuple(draw(st.lists(conditions(), min_size=0, max_size=2))),
        stop_loss=draw(st.sampled_from([0.0, 0.02, 0.1])),
        take_profit=draw(st.sampled_from([0.0, 0.03, 0.2])),
        max_hold=draw(st.sampled_from([0, 1, 3, 10])),
    )


@st.composite
def markets(draw, symbols=st.integers(1, 3)):
    n_sym = draw(symbols)
    n = draw(st.integers(12, 80))
    rets = draw(st.lists(st.floats(-0.2, 0.25), min_size=n_sym * n, max_size=n_sym * n))
    close = 100.0 * np.cumprod(1.0 + np.asarray(rets).reshape(n_sym, n), axis=1)
    if draw(st.booleans()):   # flat stretches make exact ties between features
        close[:, n // 3: n // 2] = close[:, n // 3: n // 3 + 1]
    gaps = np.asarray(draw(st.lists(st.floats(-0.05, 0.05), min_size=n_sym * n, max_size=n_sym * n)))
    open_ = close * (1.0 + gaps.reshape(n_sym, n))
    return synthetic_market(close, open_)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(), st.lists(genomes(), min_size=1, max_size=4), st.sampled_from([0.0, 5.0, 25.0]),
       st.sampled_from([0.0, 3.0, 20.0]), st.integers(1, 3), st.data())
@pytest.mark.slow
def test_kernel_equals_event_driven_reference(market, gens, fee_bps, slip_bps, delay, draw):
    bank = FeatureBank.build(market, FEATURES)
    start = draw.draw(st.integers(0, market.n_bars // 3))
    end = draw.draw(st.integers(start + 2, market.n_bars))
    costs = backtest.Costs(fee_bps, slip_bps)
    ev = backtest.evaluate(gens, market, bank, costs, start=start, end=end, delay=delay)
    for i, g in enumerate(gens):
        eq, fills, in_mkt = run_genome(g, market.open, market.close, bank.values, list(bank.names),
                                       fee_bps * 1e-4, slip_bps * 1e-4, delay, start, end)
        np.testing.assert_allclose(ev.equity[i], eq, rtol=1e-12, atol=1e-14)
        assert ev.fills[i] == fills
        assert ev.bars_in_market[i] == in_mkt


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(), st.lists(genomes(), min_size=1, max_size=4), st.sampled_from([0.0, 25.0]), st.integers(1, 3),
       st.sampled_from([1, 2, 3, 5, 7]), st.data())
def test_results_do_not_depend_on_where_the_blocks_fall(market, gens, fee_bps, delay, block, draw):
    """The kernel walks bars in blocks, carrying each sleeve's state across, and between events
    takes shortcuts that stop at block ends. Blocks of a handful of bars put a boundary inside
    every holding period and next to every fill: the same bytes as one block for the whole range."""
    bank = FeatureBank.build(market, FEATURES)
    start = draw.draw(st.integers(0, market.n_bars // 3))
    end = draw.draw(st.integers(start + 2, market.n_bars))
    enc = backtest.encode(gens, bank)
    costs = backtest.Costs(fee_bps, fee_bps / 2)

    def run(blk: int, curves: bool):
        n = enc.size
        equity = np.zeros((n if curves else 0, end - start))
        summary, fills, in_mkt = np.zeros((n, 5)), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        _backtest.run_population(market.open, market.close, bank.values, enc.cond, enc.thr, enc.gi, enc.gd,
                                 0, n, costs.fee_bps * 1e-4, costs.slippage_bps * 1e-4, delay, start, end, equity,
                                 np.empty(0 if curves else blk), summary, fills, in_mkt, np.zeros((0, 8)), blk)
        return equity, summary, fills, in_mkt
    for curves in (True, False):
        whole, cut = run(backtest.BLOCK, curves), run(block, curves)
        for a, b in zip(whole, cut):
            assert a.tobytes() == b.tobytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(), st.lists(genomes(), min_size=1, max_size=4), st.integers(1, 2))
@pytest.mark.slow
def test_kernel_summary_matches_the_statistics_of_its_curves(market, gens, threads):
    bank = FeatureBank.build(market, FEATURES)
    full = backtest.evaluate(gens, market, bank, backtest.Costs(), threads=threads)
    lean = backtest.evaluate(gens, market, bank, backtest.Costs(), threads=threads, curves=False)
    assert lean.equity is None
    np.testing.assert_array_equal(full.summary, lean.summary)
    for i in range(len(gens)):
        r = full.returns[i]
        np.testing.assert_allclose(full.sharpe()[i], stats.sharpe_ratio(r), rtol=1e-7, atol=1e-12,
                                   equal_nan=True)
        np.testing.assert_allclose(full.sortino()[i], stats.sortino_ratio(r), rtol=1e-9, equal_nan=True)
        assert full.max_drawdown()[i] == pytest.approx(stats.max_drawdown(full.equity[i]), abs=1e-12)
        assert full.final_equity()[i] == full.equity[i, -1]


@st.composite
def crossovers(draw):
    """The search's commonest genome: long, one crossover to enter and one to leave, mostly with no
    stop or take (the kernel's loop of its own), a few with one."""
    def cross():
        a, b = draw(st.lists(st.sampled_from(LEVELS), min_size=2, max_size=2, unique=True))
        return Condition(a, draw(st.sampled_from([">", "<"])), draw(st.sampled_from([0.0, 0.01, -0.02])), b)
    stop = draw(st.sampled_from([0.0, 0.0, 0.0, 0.05]))
    return Genome(1, (cross(),), (cross(),), stop_loss=stop, max_hold=draw(st.sampled_from([0, 0, 7])))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(symbols=st.just(1)), st.lists(crossovers(), min_size=1, max_size=4), st.integers(1, 2),
       st.data())
def test_a_lone_crossover_sleeve_equals_its_curves_and_the_reference(market, gens, delay, draw):
    """A lone long sleeve with a crossover exit and no stop or take holds through its bars in a
    loop of its own when no curve is kept (the search's case): the same summary, fills and bars in
    the market as with curves, and the curves equal the event-driven reference's."""
    bank = FeatureBank.build(market, FEATURES)
    start = draw.draw(st.integers(0, market.n_bars // 3))
    costs = backtest.Costs(10.0, 5.0)
    full = backtest.evaluate(gens, market, bank, costs, start=start, delay=delay)
    lean = backtest.evaluate(gens, market, bank, costs, start=start, delay=delay, curves=False)
    for a, b in ((full.summary, lean.summary), (full.fills, lean.fills), (full.bars_in_market, lean.bars_in_market)):
        assert a.tobytes() == b.tobytes()
    for i, g in enumerate(gens):
        eq, fills, in_mkt = run_genome(g, market.open, market.close, bank.values, list(bank.names),
                                       costs.fee_bps * 1e-4, costs.slippage_bps * 1e-4, delay, start, market.n_bars)
        np.testing.assert_allclose(full.equity[i], eq, rtol=1e-12, atol=1e-14)
        assert (full.fills[i], full.bars_in_market[i]) == (fills, in_mkt)


def test_hand_computed_trade_fills_at_next_open_and_pays_costs():
    # bar:        0     1     2     3     4     5
    close = [10.0, 10.0, 12.0, 12.0, 9.0, 9.0]
    open_ = [10.0, 10.0, 11.0, 12.5, 9.5, 8.0]
    m = synthetic_market(close, open_)
    # enter when the close is above 11 (first true at the close of bar 2), leave when below 10
    g = Genome(1, (Condition("close", ">", 11.0),), (Condition("close", "<", 10.0),))
    bank = bank_for(m, [g])
    fee, slip = 0.001, 0.002
    sim = backtest.simulate(g, m, bank, backtest.Costs(fee * 1e4, slip * 1e4))
    p_in = 12.5 * (1 + slip)                 # decided at close 2, filled at the open of bar 3
    base = 1.0 * (1 - fee)
    p_out = 8.0 * (1 - slip)                 # close 4 is 9 < 10: exit at the open of bar 5
    expected = [1.0, 1.0, 1.0, base * 12.0 / p_in, base * 9.0 / p_in, base * p_out / p_in * (1 - fee)]
    np.testing.assert_allclose(sim.evaluation.equity[0], expected, rtol=1e-15)
    assert sim.evaluation.fills[0] == 2
    (t,) = sim.trades
    assert (t.entry_time[:10], t.exit_time[:10], t.exit_reason) == ("2020-01-04", "2020-01-06", "signal")
    assert t.entry_price == pytest.approx(p_in) and t.exit_price == pytest.approx(p_out)
    assert t.net_return == pytest.approx(expected[-1] - 1.0)


def test_open_position_is_closed_at_the_last_bar_with_costs():
    m = synthetic_market([10.0, 11.0, 12.0, 13.0], [10.0, 11.0, 12.0, 13.0])
    g = Genome(1, (Condition("close", ">", 10.5),))
    sim = backtest.simulate(g, m, bank_for(m, [g]), backtest.Costs(10.0, 0.0))
    # enter at the open of bar 2 (12), closed at the last close (13) with a fee on both fills
    assert sim.evaluation.equity[0, -1] == pytest.approx(0.999 * 13.0 / 12.0 * 0.999)
    assert sim.trades[-1].exit_reason == "end_of_data"
    assert sim.evaluation.fills[0] == 2


@settings(max_examples=60, deadline=None)
@given(markets(), genomes(), st.data())
def test_no_look_ahead(market, g, draw):
    """Changing every bar after t changes nothing at or before t (t < last bar)."""
    t = draw.draw(st.integers(2, market.n_bars - 2))
    bank = FeatureBank.build(market, FEATURES)
    base = backtest.evaluate([g], market, bank, backtest.Costs()).equity[0]
    rng = np.random.default_rng(t)
    close = market.close.copy()
    open_ = market.open.copy()
    close[:, t + 1:] *= rng.uniform(0.5, 1.5, size=close[:, t + 1:].shape)
    open_[:, t + 1:] *= rng.uniform(0.5, 1.5, size=open_[:, t + 1:].shape)
    changed = synthetic_market(close, open_)
    bank2 = FeatureBank.build(changed, FEATURES)
    np.testing.assert_array_equal(bank.values[:, :, : t + 1], bank2.values[:, :, : t + 1])
    after = backtest.evaluate([g], changed, bank2, backtest.Costs()).equity[0]
    np.testing.assert_array_equal(base[: t + 1], after[: t + 1])


@settings(max_examples=80, deadline=None)
@given(markets(), genomes())
def test_costs_always_reduce_returns(market, g):
    """Without stops (whose trigger depends on the fill price) the decisions do not depend on costs,
    so every bar's equity with costs is at most the equity without, strictly below after a fill."""
    g = Genome(g.side, g.entry, g.exit, 0.0, 0.0, g.max_hold)
    bank = FeatureBank.build(market, FEATURES)
    free = backtest.evaluate([g], market, bank, backtest.Costs(0.0, 0.0))
    paid = backtest.evaluate([g], market, bank, backtest.Costs(5.0, 5.0))
    assert free.fills[0] == paid.fills[0]
    assert np.all(paid.equity[0] <= free.equity[0] + 1e-15)
    for s in range(len(market.symbols)):     # sleeve by sleeve: a fill always costs something
        one = synthetic_market(market.close[s], market.open[s])
        b = FeatureBank.build(one, FEATURES)
        f1 = backtest.evaluate([g], one, b, backtest.Costs(0.0, 0.0))
        p1 = backtest.evaluate([g], one, b, backtest.Costs(5.0, 5.0))
        if f1.fills[0] > 0 and f1.equity[0, -1] > 0:     # a ruined short sleeve is 0 either way
            assert p1.equity[0, -1] < f1.equity[0, -1]


@settings(max_examples=100, deadline=None)
@given(st.lists(genomes(), min_size=1, max_size=12), st.data())
def test_encode_gives_the_layout_the_kernel_documents(gens, draw):
    """The compiled encoder against the layout written out slot by slot. Conditions repeat across a
    population, as the same objects (a child keeps its parents') and as equal copies: both kinds."""
    gens = gens + [draw.draw(st.sampled_from(gens)) for _ in range(3)] \
        + [Genome.from_dict(g.to_dict()) for g in gens[:3]]
    bank = FeatureBank.build(synthetic_market(100.0 + np.arange(40.0)), FEATURES)
    enc = backtest.encode(tuple(gens), bank)
    c = genome.MAX_CONDITIONS
    cond, thr = np.full((len(gens), 2 * c, 3), -1, dtype=np.int32), np.zeros((len(gens), 2 * c))
    for i, g in enumerate(gens):
        for first, conds in ((0, g.entry), (c, g.exit)):
            for k, cd in enumerate(conds):
                cond[i, first + k] = (bank.index(cd.feature), bank.index(cd.other) if cd.other else -1,
                                      genome.OPS.index(cd.op))
                thr[i, first + k] = cd.threshold
    gi = np.array([(g.side, len(g.entry), len(g.exit), g.max_hold) for g in gens], dtype=np.int32)
    gd = np.array([(g.stop_loss, g.take_profit) for g in gens], dtype=np.float64)
    for got, want in zip((enc.cond, enc.thr, enc.gi, enc.gd), (cond, thr, gi, gd)):
        assert got.dtype == want.dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)


def test_encode_names_a_feature_missing_from_the_bank():
    bank = FeatureBank.build(synthetic_market(100.0 + np.arange(40.0)), ["sma_3", "sma_8"])
    with pytest.raises(KeyError, match="feature 'sma_9' is not in the bank"):
        backtest.encode([sma_crossover(3, 8), sma_crossover(3, 9)], bank)
    assert backtest.encode([], bank).cond.shape == (0, 2 * genome.MAX_CONDITIONS, 3)


def test_inputs_are_never_mutated(goog):
    gens = [sma_crossover(5, 20), sma_crossover(10, 50, side=-1)]
    bank = bank_for(goog, gens)
    before = [a.copy() for a in (goog.open, goog.close, goog.high, goog.low, bank.values)]
    enc = backtest.encode(gens, bank)
    enc_before = [a.copy() for a in (enc.cond, enc.thr, enc.gi, enc.gd)]
    backtest.evaluate(enc, goog, bank, backtest.Costs(), threads=2)
    backtest.simulate(gens[0], goog, bank, backtest.Costs())
    for a, b in zip(before, (goog.open, goog.close, goog.high, goog.low, bank.values)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(enc_before, (enc.cond, enc.thr, enc.gi, enc.gd)):
        np.testing.assert_array_equal(a, b)


def test_threads_give_identical_results(us3):
    gens = [sma_crossover(f, s, side) for f in (5, 10, 20) for s in (50, 100) for side in (1, -1)]
    bank = bank_for(us3, gens)
    one = backtest.evaluate(gens, us3, bank, backtest.Costs(), threads=1)
    two = backtest.evaluate(gens, us3, bank, backtest.Costs(), threads=2)
    np.testing.assert_array_equal(one.equity, two.equity)
    np.testing.assert_array_equal(one.fills, two.fills)


def test_bad_ranges_and_delays_are_refused(goog):
    g = sma_crossover(5, 20)
    bank = bank_for(goog, [g])
    with pytest.raises(ValueError, match="delay must be >= 1"):
        backtest.evaluate([g], goog, bank, backtest.Costs(), delay=0)
    with pytest.raises(ValueError, match="bar range"):
        backtest.evaluate([g], goog, bank, backtest.Costs(), start=10, end=5)
    with pytest.raises(ValueError, match="costs.fee_bps"):
        backtest.Costs(fee_bps=-1)
    with pytest.raises(KeyError, match="sma_7"):
        backtest.evaluate([sma_crossover(7, 20)], goog, bank, backtest.Costs())


def test_kernel_condition_limit_is_the_genome_limit():
    # the kernel keeps its own C constant for its stack arrays; this ties it to the domain's one
    assert _backtest.MAX_CONDITIONS == genome.MAX_CONDITIONS


FUSED = {"x86_64": re.compile(r"\bvfn?m(add|sub)\w*"), "aarch64": re.compile(r"\b(fn?m(add|sub)|fml[as])\b")}


def test_the_compiled_kernels_hold_no_fused_multiply_add():
    """The same bits on every host (a Ray node's kernel as the local one): setup.py builds for the
    baseline instruction set with contraction off, so no a*b+c is ever rounded once instead of
    twice. objdump reads what the compiler made of it."""
    import omp_core._backtest as kernel
    import omp_core._indicators as indicators
    for module in (kernel, indicators):
        listing = subprocess.run(["objdump", "-d", module.__file__], capture_output=True, text=True, check=True).stdout
        assert "ret" in listing                          # a real disassembly, not an empty one
        found = FUSED[platform.machine()].findall(listing)
        assert not found, f"{module.__file__}: {len(found)} fused multiply-add instructions"
