"""The evaluator: the one seam between the genetic search and the data it is scored on.

The search hands an evaluator a batch of genomes and a snapshot id, and gets back one row of
in-sample metrics per genome (columns :data:`omp_core.ga.METRICS`). It never hands over market
data: the evaluator resolves the id to a :class:`Snapshot` registered with it beforehand. That is
what lets evaluation move elsewhere (a thread pool today, actors that each load a snapshot once per
node later) without the search changing.

Snapshot ids: whoever registers a snapshot names it, and the name must stand for everything that
decides the metrics. :func:`window_id` forms the one a run uses for its in-sample window.
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from omp_core import backtest, ga
from omp_core.config import GA
from omp_core.data import Market
from omp_core.features import FeatureBank
from omp_core.genome import Genome

if TYPE_CHECKING:
    from omp_core.config import CampaignConfig


class Evaluator(Protocol):
    def evaluate(self, genomes: Sequence[Genome], snapshot_id: str) -> np.ndarray:
        """In-sample metrics of ``genomes`` on the snapshot registered as ``snapshot_id``: a
        (len(genomes) x len(METRICS)) float array, rows in the order of ``genomes``. An unknown id
        raises :class:`KeyError` naming it."""
        ...


@dataclass(frozen=True)
class Scoring:
    """How a backtest becomes the search's metrics (see :func:`omp_core.ga.score`): the GA settings
    (``min_trades`` per symbol), the objective (``sharpe``, ``sortino`` or ``calmar``), bars per year
    for annualizing, and the largest drawdown (a fraction of equity) a valid genome may have."""
    ga: GA
    objective: str
    periods_per_year: float
    max_drawdown: float


@dataclass(frozen=True, eq=False)   # holds arrays: identity is the only meaningful equality
class Snapshot:
    """What an evaluator scores genomes on: bars ``[start, end)`` of ``market`` (the in-sample
    window), its feature bank, per-side costs and the scoring."""
    market: Market
    bank: FeatureBank
    costs: backtest.Costs
    start: int
    end: int
    scoring: Scoring

    def __post_init__(self):
        if not 0 <= self.start < self.end <= self.market.n_bars:
            raise ValueError(f"snapshot bar range must satisfy 0 <= start < end <= {self.market.n_bars}, "
                             f"got [{self.start}, {self.end})")


def campaign_snapshot(cfg: CampaignConfig, market: Market, bank: FeatureBank, start: int, end: int) -> Snapshot:
    """The snapshot a campaign config makes of bars ``[start, end)`` of its market: its costs and
    its scoring (objective, bars per year, drawdown limit)."""
    ppy = cfg.mandate.periods_per_year or market.periods_per_year
    return Snapshot(market, bank, backtest.Costs(cfg.costs.fee_bps, cfg.costs.slippage_bps), start, end,
                    Scoring(cfg.ga, cfg.mandate.objective, ppy, cfg.constraints.max_drawdown))


@dataclass(frozen=True)
class SnapshotSource:
    """Where any host builds a campaign's snapshot from, on storage every host sees at the same
    paths: the campaign config (its data sources are resolved from it, under ``data_root``), the
    bar window, and the content hashes of the config and the data, which what a host builds must
    have (a host whose files differ refuses: it never scores on another config or other data)."""
    config_path: str
    data_root: str | None
    start: int
    end: int
    data_snapshot_id: str
    config_hash: str = ""

    def load(self) -> Snapshot:
        from omp_core import config as config_mod, data
        cfg = config_mod.load(self.config_path)
        if self.config_hash and cfg.config_hash != self.config_hash:
            raise ValueError(f"{self.config_path} here hashes to {cfg.config_hash[:16]}, not {self.config_hash[:16]}: "
                             "the config changed, or this host sees another file")
        root = Path(self.data_root) if self.data_root else None
        market = data.load_market(cfg.sources(root), cfg.mandate.universe, cfg.data.validation.policy(),
                                  min_bars=cfg.data.min_bars)
        if market.snapshot_id != self.data_snapshot_id:
            raise ValueError(f"the market data of {self.config_path} here hashes to {market.snapshot_id[:16]}, "
                             f"not {self.data_snapshot_id[:16]}: this host sees other files")
        return campaign_snapshot(cfg, market, FeatureBank.build(market, cfg.strategy.feature_names()),
                                 self.start, self.end)


def window_id(snapshot_id: str, config_hash: str, start: int, end: int) -> str:
    """The id of a window of a data snapshot as one campaign config sees it:
    ``"<snapshot_id>/<config_hash>/<start>:<end>"``. The data's content hash and the bar range fix
    the prices; the config hash fixes the features, costs and scoring built on top of them."""
    return f"{snapshot_id}/{config_hash}/{start}:{end}"


class LocalEvaluator:
    """Evaluates in this process: the compiled backtest over ``threads`` threads sharing the
    registered arrays (the kernel releases the GIL; nothing is copied per thread)."""

    def __init__(self, threads: int = 1):
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self._snapshots: dict[str, Snapshot] = {}
        # one pool for every batch: a search evaluates a batch a generation, and starting threads
        # for each cost about as much as scoring ten genomes
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="omp-eval") if threads > 1 else None

    def close(self) -> None:
        """Let the threads go (used again, it starts threads for each batch). Call it once no
        ``evaluate`` runs: one still running on another thread may find its pool shut down."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def register(self, snapshot_id: str, snapshot: Snapshot) -> None:
        """Make ``snapshot`` available as ``snapshot_id``. Registering the same snapshot again is a
        no-op; another one under a taken id is a :class:`ValueError`."""
        known = self._snapshots.setdefault(snapshot_id, snapshot)
        if known is not snapshot:
            raise ValueError(f"snapshot id {snapshot_id!r} is already registered to another snapshot")

    def evaluate(self, genomes: Sequence[Genome], snapshot_id: str) -> np.ndarray:
        try:
            s = self._snapshots[snapshot_id]
        except KeyError:
            raise KeyError(f"unknown snapshot id {snapshot_id!r}: register it first") from None
        ev = backtest.evaluate(genomes, s.market, s.bank, s.costs, start=s.start, end=s.end,
                               threads=self.threads, curves=False, pool=self._pool)
        sc = s.scoring
        return ga.score(ev, len(s.market.symbols), sc.ga, sc.objective, sc.periods_per_year, sc.max_drawdown)
