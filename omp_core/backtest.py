"""Backtest a population of genomes over a universe: the public face of ``_backtest.pyx``.

This module validates, encodes genomes into the kernel's flat arrays and allocates; the kernel does
the bars. The execution model is documented in ``omp_core/_backtest.pyx``: a decision at the close of
bar t fills at the open of bar t + delay, costs are paid on every fill, positions are marked at every
close, an open position is closed at the last bar of the range.

The kernel runs without the GIL, so ``threads > 1`` evaluates slices of the population in parallel
over the same (shared, read-only) market and feature arrays: nothing is copied per thread.
"""
from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from omp_core import _backtest
from omp_core.features import FeatureBank
from omp_core.genome import Genome

REASONS = _backtest.REASONS
#: bars per block of the kernel: 2048 bars of a 100-feature bank is 1.6 MB, within a 2 MB L2
BLOCK = 2048


@dataclass(frozen=True)
class Costs:
    """Per-side trading costs in basis points: ``fee_bps`` of notional, ``slippage_bps`` of price."""
    fee_bps: float = 5.0
    slippage_bps: float = 5.0

    def __post_init__(self):
        for name in ("fee_bps", "slippage_bps"):
            v = getattr(self, name)
            if not (0.0 <= v < 10_000.0):
                raise ValueError(f"costs.{name} must be in [0, 10000), got {v!r}")

    def scaled(self, k: float) -> "Costs":
        return Costs(self.fee_bps * k, self.slippage_bps * k)


@dataclass(frozen=True)
class Encoded:
    """A population as the kernel reads it (see the layout in ``_backtest.pyx``)."""
    cond: np.ndarray    # (G, 2C, 3) int32
    thr: np.ndarray     # (G, 2C) float64
    gi: np.ndarray      # (G, 4) int32
    gd: np.ndarray      # (G, 2) float64

    @property
    def size(self) -> int:
        return int(self.gi.shape[0])


def encode(genomes: Sequence[Genome], bank: FeatureBank) -> Encoded:
    """The kernel's arrays of a population (compiled: ``_backtest.encode``)."""
    return Encoded(*_backtest.encode(genomes, bank.positions))


@dataclass(frozen=True)
class Evaluation:
    """Results over bars ``[start, end)``, one row per genome.

    ``equity`` (G x n, starting from 1 before ``start``) is there when curves were asked for; the
    per-genome ``summary`` always is, computed by the kernel from the same curve: columns
    ``final_equity, sum_returns, sum_squared_returns, downside_sumsq, max_drawdown``.
    """
    equity: np.ndarray | None
    summary: np.ndarray
    fills: np.ndarray
    bars_in_market: np.ndarray
    start: int
    end: int

    @property
    def n_bars(self) -> int:
        return self.end - self.start

    @property
    def returns(self) -> np.ndarray:
        """Per-bar net returns (G x n); needs the curves."""
        if self.equity is None:
            raise ValueError("this evaluation kept no equity curves (evaluate(..., curves=True))")
        prev = np.concatenate([np.ones((self.equity.shape[0], 1)), self.equity[:, :-1]], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(prev > 0.0, self.equity / prev - 1.0, 0.0)

    def sharpe(self) -> np.ndarray:
        """Per-period Sharpe (ddof=1) of every genome; NaN without spread or with < 2 bars."""
        n = self.n_bars
        mean = self.summary[:, 1] / n
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (self.summary[:, 2] - self.summary[:, 1] * mean) / (n - 1)
            # a spread at rounding level of the mean is no spread: flat curves have no Sharpe
            sd = np.sqrt(np.where(var > 1e-14 * mean * mean, var, 0.0))
            return np.where(sd > 0.0, mean / sd, np.nan)

    def sortino(self) -> np.ndarray:
        """Per-period Sortino: mean over ``sqrt(mean(min(r, 0)^2))``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            dd = np.sqrt(self.summary[:, 3] / self.n_bars)
            return np.where(dd > 0.0, self.summary[:, 1] / self.n_bars / dd, np.nan)

    def max_drawdown(self) -> np.ndarray:
        return self.summary[:, 4]

    def final_equity(self) -> np.ndarray:
        return self.summary[:, 0]


def _check_range(market, start: int, end: int | None, delay: int) -> int:
    end = market.n_bars if end is None else end
    if not 0 <= start < end <= market.n_bars:
        raise ValueError(f"bar range must satisfy 0 <= start < end <= {market.n_bars}, got [{start}, {end})")
    if delay < 1:
        raise ValueError(f"delay must be >= 1 (a signal at bar t trades at t+1 at the earliest), got {delay}")
    return end


def evaluate(genomes: Sequence[Genome] | Encoded, market, bank: FeatureBank, costs: Costs, *,
             start: int = 0, end: int | None = None, delay: int = 1, threads: int = 1,
             curves: bool = True, pool: Executor | None = None) -> Evaluation:
    """Backtest every genome over bars ``[start, end)`` of every symbol of ``market``.

    ``threads`` threads share the work, from ``pool`` when given (a caller that evaluates batch
    after batch keeps its threads; at least ``threads`` workers) or from a pool of this call's own.

    ``curves=False`` keeps only the per-genome summary: memory stays at one curve per thread
    instead of genomes x bars, which is what a search over long intraday histories needs.
    """
    end = _check_range(market, start, end, delay)
    enc = genomes if isinstance(genomes, Encoded) else encode(genomes, bank)
    if bank.values.shape[0] != len(market.symbols) or bank.values.shape[2] != market.n_bars:
        raise ValueError(f"feature bank shape {bank.values.shape} does not match the market "
                         f"({len(market.symbols)} symbols x {market.n_bars} bars)")
    n = enc.size
    equity = np.zeros((n if curves else 0, end - start))
    summary = np.zeros((n, 5))
    fills = np.zeros(n, dtype=np.int64)
    in_mkt = np.zeros(n, dtype=np.int64)
    no_trades = np.zeros((0, 8))
    fee, slip = costs.fee_bps * 1e-4, costs.slippage_bps * 1e-4

    def run(g0: int, g1: int) -> int:
        scratch = np.empty(0 if curves else min(BLOCK, end - start))
        return _backtest.run_population(market.open, market.close, bank.values, enc.cond, enc.thr, enc.gi,
                                        enc.gd, g0, g1, fee, slip, delay, start, end, equity, scratch,
                                        summary, fills, in_mkt, no_trades, BLOCK)

    threads = max(1, min(threads, n))
    if threads == 1:
        run(0, n)
    else:
        edges = np.linspace(0, n, threads + 1).astype(int)
        if pool is None:
            with ThreadPoolExecutor(threads) as own:
                list(own.map(run, edges[:-1], edges[1:]))
        else:
            list(pool.map(run, edges[:-1], edges[1:]))
    return Evaluation(equity if curves else None, summary, fills, in_mkt, start, end)


@dataclass(frozen=True)
class Trade:
    symbol: str
    entry_time: str
    exit_time: str
    side: str
    entry_price: float
    exit_price: float
    net_return: float
    bars_held: int
    exit_reason: str


@dataclass(frozen=True)
class Simulation:
    evaluation: Evaluation
    trades: tuple[Trade, ...]


def simulate(genome: Genome, market, bank: FeatureBank, costs: Costs, *, start: int = 0,
             end: int | None = None, delay: int = 1) -> Simulation:
    """One genome with its trade list (same kernel, same numbers as :func:`evaluate`)."""
    end = _check_range(market, start, end, delay)
    enc = encode([genome], bank)
    equity = np.zeros((1, end - start))
    summary = np.zeros((1, 5))
    fills = np.zeros(1, dtype=np.int64)
    in_mkt = np.zeros(1, dtype=np.int64)
    cap = len(market.symbols) * ((end - start) // 2 + 2)
    buf = np.zeros((cap, 8))
    fee, slip = costs.fee_bps * 1e-4, costs.slippage_bps * 1e-4
    n = _backtest.run_population(market.open, market.close, bank.values, enc.cond, enc.thr, enc.gi, enc.gd,
                                 0, 1, fee, slip, delay, start, end, equity, np.empty(0), summary, fills,
                                 in_mkt, buf)
    ts = market.timestamps
    trades = tuple(
        Trade(market.symbols[int(r[0])], str(ts[int(r[1])]), str(ts[int(r[2])]),
              "long" if r[3] > 0 else "short", float(r[4]), float(r[5]), float(r[6]),
              int(r[2] - r[1]) + (1 if int(r[7]) in (5, 6) else 0), REASONS[int(r[7])])
        for r in buf[:min(n, cap)])
    trades = tuple(sorted(trades, key=lambda t: (t.entry_time, t.symbol)))
    return Simulation(Evaluation(equity, summary, fills, in_mkt, start, end), trades)
