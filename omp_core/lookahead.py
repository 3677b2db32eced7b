"""No look-ahead: a strategy's decision at bar t may use the data up to bar t only.

For each cut point the strategy's inputs and results are computed twice: from the data truncated
at the cut (nothing after it exists) and from the full data. Without look-ahead they agree on every
bar before the cut: the features its rules read (so its signals) on all of them, its equity on all
but the last (where the truncated run closes what it holds). A feature or rule that peeks at later
bars (a centred average, a series shifted the wrong way, a normalisation over the whole sample)
makes them differ, and the first bar where they do is named; a one-bar peek shows at the cut's last
bar. The comparison is exact up to 1e-12 relative: the same operations on the same inputs give the
same numbers.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from omp_core import backtest
from omp_core.features import FeatureBank
from omp_core.genome import Genome

#: where the data is cut, as fractions of its bars
CUTS = (0.5, 0.7, 0.9)
MIN_BARS = 60


@dataclass(frozen=True)
class Cut:
    bars: int                  # the truncated data holds bars [0, bars)
    same: bool
    first_difference: str      # the timestamp of the first bar that differs ("" when none)


def truncated(market, bars: int):
    """The market as it was known at bar ``bars`` (the first ``bars`` bars only)."""
    cut = lambda a: np.ascontiguousarray(a[..., :bars])  # noqa: E731
    return dataclasses.replace(market, timestamps=market.timestamps[:bars].copy(), open=cut(market.open),
                               high=cut(market.high), low=cut(market.low), close=cut(market.close),
                               volume=cut(market.volume))


def cut_points(n_bars: int, fractions: Sequence[float] = CUTS) -> list[int]:
    return sorted({int(n_bars * f) for f in fractions if MIN_BARS <= int(n_bars * f) < n_bars})


def check(genome: Genome, market, costs: backtest.Costs, cuts: Sequence[int] | None = None,
          build: Callable = FeatureBank.build) -> list[Cut]:
    """The strategy's equity on truncated data against the full data's, at each cut point.
    ``build(market, names)`` makes the feature bank (the engine's own unless a test plants one)."""
    names = genome.feature_names()
    full_bank = build(market, names)
    full = backtest.simulate(genome, market, full_bank, costs).evaluation.equity[0]
    out = []
    for bars in cuts if cuts is not None else cut_points(market.n_bars):
        part = truncated(market, bars)
        bank = build(part, names)
        eq = backtest.simulate(genome, part, bank, costs).evaluation.equity[0]
        # the features the rules read, per bar (any symbol, any feature), then the equity but its last bar
        seen = _differ(bank.values, full_bank.values[..., :bars]).any(axis=(0, 1))
        seen[:bars - 1] |= _differ(eq[:bars - 1], full[:bars - 1])
        idx = np.flatnonzero(seen)
        out.append(Cut(bars, idx.size == 0, str(market.timestamps[idx[0]]) if idx.size else ""))
    return out


def _differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ~(np.isclose(a, b, rtol=1e-12, atol=0.0) | (np.isnan(a) & np.isnan(b)))
