import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from omp_core import stats
from omp_core.reference.stats import pbo_naive


def test_dsr_paper_worked_example():
    """Bailey & López de Prado (2014): SR 2.5 a year, 250 obs a year, T = 1250, N = 100,
    annualized trial variance 0.5, skew -3, kurtosis 10."""
    sr = 2.5 / math.sqrt(250)
    var = 0.5 / 250
    assert stats.expected_max_sharpe(100, var) == pytest.approx(0.1132, abs=5e-5)
    assert stats.deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, 100, var) == pytest.approx(0.9004, abs=5e-4)


def test_psr_and_min_trl_are_consistent():
    sr, skew, kurt = 0.1, -0.5, 4.0
    n = stats.min_track_record_length(sr, 0.0, skew, kurt, alpha=0.05)
    assert stats.probabilistic_sharpe_ratio(sr, 0.0, n, skew, kurt) == pytest.approx(0.95, abs=1e-9)
    # normal returns, SR = benchmark -> exactly one half
    assert stats.probabilistic_sharpe_ratio(0.2, 0.2, 100, 0.0, 3.0) == pytest.approx(0.5)


def test_edge_cases_give_nan_or_documented_values():
    assert stats.expected_max_sharpe(1, 0.3) == 0.0               # one trial: nothing to deflate
    assert stats.expected_max_sharpe(50, 0.0) == 0.0              # zero variance across trials
    assert math.isnan(stats.expected_max_sharpe(0, 0.1))
    assert math.isnan(stats.expected_max_sharpe(10, -0.1))
    assert stats.min_track_record_length(0.05, 0.1, 0.0, 3.0) == math.inf   # SR below benchmark
    assert stats.probabilistic_sharpe_ratio(0.05, 0.1, 500, 0.0, 3.0) < 0.5
    # invalid moments: 1 - skew*sr + (k-1)/4*sr^2 <= 0 would be a complex square root
    assert math.isnan(stats.probabilistic_sharpe_ratio(1.0, 0.0, 100, 5.0, 1.0))
    assert math.isnan(stats.min_track_record_length(1.0, 0.0, 5.0, 1.0))
    assert math.isnan(stats.deflated_sharpe_ratio(1.0, 100, 5.0, 1.0, 10, 0.1))
    assert math.isnan(stats.probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0))
    assert math.isnan(stats.sharpe_ratio([0.01, 0.01, 0.01]))
    assert math.isnan(stats.sharpe_ratio([0.01]))
    assert math.isnan(stats.probabilistic_sharpe_ratio(math.nan, 0.0, 100, 0.0, 3.0))


def test_sharpe_uses_sample_std():
    r = np.array([0.01, -0.02, 0.03, 0.0])
    assert stats.sharpe_ratio(r) == pytest.approx(r.mean() / r.std(ddof=1))
    skew, kurt = stats.moments(np.random.default_rng(1).normal(size=200_000))
    assert kurt == pytest.approx(3.0, abs=0.05)    # NON-excess kurtosis
    assert skew == pytest.approx(0.0, abs=0.05)


@settings(max_examples=25, deadline=None)
@given(t=st.integers(20, 90), n=st.integers(2, 7), splits=st.sampled_from([2, 4, 6, 8]), seed=st.integers(0, 10**6))
def test_pbo_matches_naive_cscv(t, n, splits, seed):
    if t < 2 * splits:
        t = 2 * splits
    m = np.random.default_rng(seed).normal(0.001, 0.01, size=(t, n)) + np.linspace(0, 0.002, n)
    res = stats.pbo(m, splits)
    p, logits, is_b, oos_b = pbo_naive(m, splits)
    assert res.pbo == pytest.approx(p)
    np.testing.assert_allclose(res.logits, logits, rtol=1e-9)
    np.testing.assert_allclose(res.is_sharpe, is_b, rtol=1e-9)
    np.testing.assert_allclose(res.oos_sharpe, oos_b, rtol=1e-9)


def test_pbo_of_a_real_edge_is_low_and_of_noise_about_half():
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 0.01, size=(1000, 50))
    assert 0.3 < stats.pbo(noise, 10).pbo < 0.7
    edge = noise.copy()
    edge[:, 0] += 0.004                      # one strategy truly better in every period
    res = stats.pbo(edge, 10)
    assert res.pbo == 0.0
    assert res.prob_oos_loss == 0.0
    assert res.n_combinations == 252


def test_pbo_uneven_split_and_bad_input():
    m = np.random.default_rng(0).normal(size=(101, 4))     # 101 rows, 16 splits: 6 rows per block, 5 left
    res = stats.pbo(m, 16)
    assert res.logits.shape == (12870,) and res.dropped_rows == 5
    # the oldest 5 rows are the ones dropped: they change nothing, and the blocks are equal
    other = m.copy()
    other[:5] = 1e6
    again = stats.pbo(other, 16)
    np.testing.assert_array_equal(again.logits, res.logits)
    np.testing.assert_array_equal(again.is_sharpe, res.is_sharpe)
    assert again.dropped_rows == 5 and stats.pbo(m[5:], 16).dropped_rows == 0
    np.testing.assert_array_equal(stats.pbo(m[5:], 16).logits, res.logits)
    # a change to the newest row does change it
    newer = m.copy()
    newer[-1] += 1.0
    assert not np.array_equal(stats.pbo(newer, 16).is_sharpe, res.is_sharpe)
    with pytest.raises(ValueError, match="even"):
        stats.pbo(m, 5)
    with pytest.raises(ValueError, match="at least 2 strategies"):
        stats.pbo(m[:, :1], 4)
    with pytest.raises(ValueError, match="finite"):
        bad = m.copy()
        bad[3, 1] = np.nan
        stats.pbo(bad, 4)


def test_drawdown_sortino_calmar_turnover_win_rate():
    eq = np.array([1.0, 1.2, 0.9, 1.0, 1.3, 1.04])
    assert stats.max_drawdown(eq) == pytest.approx(0.25)
    r = np.array([0.02, -0.01, 0.03, -0.02])
    assert stats.sortino_ratio(r) == pytest.approx(r.mean() / math.sqrt((0.01**2 + 0.02**2) / 4))
    assert stats.calmar_ratio(eq, 6) == pytest.approx((1.04 - 1) / 0.25)
    assert stats.win_rate([0.1, -0.2, 0.3]) == pytest.approx(2 / 3)
    assert stats.annual_turnover(40, 252, 2, 252) == pytest.approx(10.0)
    lo, hi = stats.block_bootstrap_sharpe_interval(np.random.default_rng(3).normal(0.01, 0.01, 500),
                                                   np.random.default_rng(0))
    assert 0 < lo < 1.0 < hi
