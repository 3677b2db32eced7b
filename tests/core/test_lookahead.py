"""No look-ahead: a strategy's signals on data cut at a bar equal its signals on the full data up
to that bar; a feature planted to peek one bar ahead is caught, at the bar where it first matters."""
from __future__ import annotations

import numpy as np

from omp_core import backtest, lookahead
from omp_core.features import FeatureBank
from omp_core.genome import sma_crossover


def peeking(market, names):
    """The engine's bank with one bug planted: every feature shows tomorrow's value today."""
    bank = FeatureBank.build(market, names)
    vals = np.array(bank.values)
    vals[..., :-1] = vals[..., 1:]
    return FeatureBank(bank.names, vals)


def test_the_engines_own_features_do_not_look_ahead(us3):
    g = sma_crossover(10, 50)
    cuts = lookahead.check(g, us3, backtest.Costs(5.0, 5.0))
    assert [c.bars for c in cuts] == lookahead.cut_points(us3.n_bars) and len(cuts) == 3
    assert all(c.same and c.first_difference == "" for c in cuts)


def test_a_feature_that_peeks_one_bar_ahead_is_caught_where_it_matters(us3):
    g = sma_crossover(10, 50)
    cuts = lookahead.check(g, us3, backtest.Costs(5.0, 5.0), build=peeking)
    assert not any(c.same for c in cuts)
    # a one-bar peek shows at the last bar of the cut: the truncated data has no tomorrow to peek at
    assert [c.first_difference for c in cuts] == [str(us3.timestamps[c.bars - 1]) for c in cuts]


def test_truncated_data_is_what_was_known_then(us3):
    part = lookahead.truncated(us3, 100)
    assert part.n_bars == 100 and part.close.shape == (len(us3.symbols), 100) and part.close.flags.c_contiguous
    assert np.array_equal(part.close, us3.close[:, :100]) and part.snapshot_id == us3.snapshot_id
