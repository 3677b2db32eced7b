"""Helpers of the core tests: paths to the shipped data, markets built in memory."""
from pathlib import Path

import numpy as np

from omp_core import data
from omp_core.features import FeatureBank

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def goog_source():
    return data.Source(DATA / "goog_daily.csv",
                       data.ColumnMap(timestamp="", open="Open", high="High", low="Low", close="Close",
                                      volume="Volume"), symbol="GOOG")


def us_source():
    return data.Source(DATA / "us_stocks_2013_2018.csv", data.ColumnMap(timestamp="date", symbol="Name"))


def synthetic_market(close: np.ndarray, open_: np.ndarray | None = None, volume=None) -> data.Market:
    """A market built in memory (for hand-checked numbers and hypothesis)."""
    close = np.atleast_2d(np.asarray(close, dtype=float))
    open_ = close.copy() if open_ is None else np.atleast_2d(np.asarray(open_, dtype=float))
    hi = np.maximum(open_, close) * 1.01
    lo = np.minimum(open_, close) * 0.99
    vol = np.ones_like(close) if volume is None else np.atleast_2d(np.asarray(volume, dtype=float))
    n = close.shape[1]
    ts = np.datetime64("2020-01-01", "s") + np.arange(n) * np.timedelta64(1, "D")
    syms = tuple(f"S{i}" for i in range(close.shape[0]))
    arrs = [np.ascontiguousarray(a) for a in (open_, hi, lo, close, vol)]
    return data.Market(syms, ts, *arrs, data.snapshot_id(syms, ts, arrs), {})


def bank_for(market, genomes):
    names = ["close"]
    for g in genomes:
        names += g.feature_names()
    return FeatureBank.build(market, names)
