"""A run's market data again, for the checks that must run the strategy (no look-ahead): read from
the sources its manifest names, validated by the same policy, and refused unless it is the very
data the run used (the same snapshot id)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from omp_core import backtest, config as campaign_config, data as market_data, lookahead
from omp_core.features import FeatureBank
from omp_core.genome import Genome
from services.promoter.entities import Gate


def market_of(manifest: dict, data_root: Path | None):
    """The run's market and its costs; ValueError when they cannot be had as the run had them."""
    cfg = campaign_config.parse(manifest["config"], Path(manifest.get("config_dir") or "."))
    market = market_data.load_market(cfg.sources(data_root), cfg.mandate.universe, cfg.data.validation.policy(),
                                     min_bars=cfg.data.min_bars)
    if market.snapshot_id != manifest.get("snapshot_id"):
        raise ValueError(f"the data changed since the run (snapshot {market.snapshot_id[:12]}, the run used "
                         f"{str(manifest.get('snapshot_id'))[:12]})")
    return market, backtest.Costs(cfg.costs.fee_bps, cfg.costs.slippage_bps)


def lookahead_gates(manifest: dict, candidates: dict, data_root: Path | None,
                    build: Callable = FeatureBank.build) -> dict[str, Gate]:
    """genome_hash -> the look-ahead gate of each candidate (failed, with why, when the data
    cannot be replayed: what cannot be checked does not pass)."""
    cands = candidates.get("candidates") or []
    try:
        market, costs = market_of(manifest, data_root)
    except (ValueError, KeyError, OSError) as exc:
        why = f"cannot be checked: {' '.join(str(exc).split())[:300]}"
        return {c.get("genome_hash", ""): Gate("lookahead", False, detail=why) for c in cands}
    out = {}
    for c in cands:
        cuts = lookahead.check(Genome.from_dict(c["genome"]), market, costs, build=build)
        bad = [x for x in cuts if not x.same]
        out[c.get("genome_hash", "")] = Gate(
            "lookahead", not bad, float(len(bad)), 0.0,
            f"signals on data cut at {[x.bars for x in cuts]} bars equal those on the full data" if not bad else
            "LOOK-AHEAD: on data cut at " + ", ".join(f"{x.bars} bars the equity differs from {x.first_difference}"
                                                     for x in bad) + ": a feature uses later bars (a bug, not a "
                                                                     "strategy)")
    return out
