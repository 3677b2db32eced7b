"""A run's market data again, for the checks that must run the strategies: no look-ahead, and the
out-of-sample return series the diversity gate compares. Read from the sources the manifest names,
validated by the same policy, and refused unless it is the very data the run used (the same
snapshot id): what cannot be checked does not pass."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from omp_core import backtest, config as campaign_config, data as market_data, lookahead
from omp_core.features import FeatureBank
from omp_core.genome import Genome
from omp_services.promoter.entities import Gate

#: bars two return series must share before their correlation means anything
MIN_OVERLAP = 30


@dataclass
class Replay:
    """Per candidate (genome_hash): its look-ahead gate and its out-of-sample returns by bar."""
    lookahead: dict[str, Gate] = field(default_factory=dict)
    oos: dict[str, dict[str, float]] = field(default_factory=dict)     # genome_hash -> {timestamp: return}


def market_of(manifest: dict, data_root: Path | None, check_snapshot: bool = True):
    """The run's market and its costs; ValueError when they cannot be had as the run had them
    (``check_snapshot=False``: the latest data of the run's sources, whatever it is now)."""
    cfg = campaign_config.parse(manifest["config"], Path(manifest.get("config_dir") or "."))
    market = market_data.load_market(cfg.sources(data_root), cfg.mandate.universe, cfg.data.validation.policy(),
                                     min_bars=cfg.data.min_bars)
    if check_snapshot and market.snapshot_id != manifest.get("snapshot_id"):
        raise ValueError(f"the data changed since the run (snapshot {market.snapshot_id[:12]}, the run used "
                         f"{str(manifest.get('snapshot_id'))[:12]})")
    return market, backtest.Costs(cfg.costs.fee_bps, cfg.costs.slippage_bps)


def replay(manifest: dict, candidates: dict, data_root: Path | None, build: Callable = FeatureBank.build) -> Replay:
    cands = candidates.get("candidates") or []
    out = Replay()
    try:
        market, costs = market_of(manifest, data_root)
        split = int(manifest["split"]["in_sample_bars"])
    except (ValueError, KeyError, TypeError, OSError) as exc:
        why = f"cannot be checked: {' '.join(str(exc).split())[:300]}"
        out.lookahead = {c.get("genome_hash", ""): Gate("lookahead", False, detail=why) for c in cands}
        return out
    for c in cands:
        h, genome = c.get("genome_hash", ""), Genome.from_dict(c["genome"])
        cuts = lookahead.check(genome, market, costs, build=build)
        bad = [x for x in cuts if not x.same]
        out.lookahead[h] = Gate(
            "lookahead", not bad, float(len(bad)), 0.0,
            f"signals on data cut at {[x.bars for x in cuts]} bars equal those on the full data" if not bad else
            "LOOK-AHEAD: on data cut at " + ", ".join(f"{x.bars} bars the equity differs from {x.first_difference}"
                                                     for x in bad) + ": a feature uses later bars (a bug, not a "
                                                                     "strategy)")
        ev = backtest.simulate(genome, market, FeatureBank.build(market, genome.feature_names()), costs,
                               start=split).evaluation
        out.oos[h] = {str(t): float(r) for t, r in zip(market.timestamps[split:], ev.returns[0])}
    return out


def correlation(a: dict[str, float], b: dict[str, float]) -> tuple[float, int]:
    """Pearson correlation of two return series on the bars they share; NaN under MIN_OVERLAP bars
    or when one of them does not move."""
    common = sorted(set(a) & set(b))
    if len(common) < MIN_OVERLAP:
        return math.nan, len(common)
    x, y = np.array([a[t] for t in common]), np.array([b[t] for t in common])
    if x.std() == 0 or y.std() == 0:
        return math.nan, len(common)
    return float(np.corrcoef(x, y)[0, 1]), len(common)
