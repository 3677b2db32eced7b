"""The stress suite of a candidate, on its out-of-sample bars: does the edge survive worse
conditions? Each test reports its figure, its threshold and whether it passed."""
from __future__ import annotations

import math

import numpy as np

from omp_core import backtest, stats

WORST_SUBPERIOD_MIN = -1.0   # annualized Sharpe no sub-period may fall below
SUBPERIODS = 4


def run_suite(genome, market, bank, costs, start: int, end: int, periods_per_year: float,
              rng: np.random.Generator, n_boot: int = 500) -> dict:
    ann = math.sqrt(periods_per_year)

    def sharpe(c=costs, delay=1):
        ev = backtest.evaluate([genome], market, bank, c, start=start, end=end, delay=delay)
        return stats.sharpe_ratio(ev.returns[0]) * ann, ev.returns[0]

    base, r = sharpe()
    doubled, _ = sharpe(costs.scaled(2.0))
    delayed, _ = sharpe(delay=2)
    worst = stats.worst_subperiod_sharpe(r, SUBPERIODS) * ann
    lo, hi = stats.block_bootstrap_sharpe_interval(r, rng, n_boot=n_boot)
    tests = {
        "costs_doubled": {"sharpe": doubled, "threshold": 0.0, "passed": doubled > 0.0},
        "fill_delayed_one_bar": {"sharpe": delayed, "threshold": 0.0, "passed": delayed > 0.0},
        "worst_subperiod": {"sharpe": worst, "subperiods": SUBPERIODS, "threshold": WORST_SUBPERIOD_MIN,
                            "passed": worst > WORST_SUBPERIOD_MIN},
        "bootstrap_sharpe_95": {"low": lo * ann, "high": hi * ann, "threshold": 0.0, "passed": lo * ann > 0.0},
    }
    passed = sum(bool(t["passed"]) for t in tests.values())
    return {"base_sharpe": base, "tests": tests, "passed": passed, "total": len(tests),
            "summary": f"{passed} of {len(tests)} passed"}
