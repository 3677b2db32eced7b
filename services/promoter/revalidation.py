"""Revalidation of the Hall of Fame (the playbook's revalidation and demotion policy): on demand,
every ``revalidate_days`` (30), and when a campaign's data snapshot changes.

Each active entry's rule is run again on the latest data its campaign's sources give: on the bars
that came after the run's data ended when there are at least MIN_NEW_BARS of them (truly out of
sample), else on the holdout of the latest data. An OOS Sharpe below ``revalidation_min_sharpe``
(0.3) flags it for review. A changed threshold re-applies the gates at once, without running
anything: an active entry whose stored figures fail today's [promotion] thresholds is flagged."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omp_core import backtest, stats
from omp_core.features import FeatureBank
from omp_core.genome import Genome, load_toml
from omp_services.promoter.entities import Entry
from omp_services.promoter.replay import market_of
from omp_services.promoter.settings import PromotionSettings

MIN_NEW_BARS = 60


@dataclass(frozen=True)
class Verdict:
    genome_hash: str
    ok: bool
    detail: str
    oos_sharpe: float = math.nan
    pbo: float = math.nan
    demote: bool = False           # the selection no longer holds on the new data: to research


def thresholds_fail(e: Entry, cfg: PromotionSettings) -> list[str]:
    """Today's thresholds this entry's stored figures no longer meet."""
    m = e.metrics

    def num(k):
        v = m.get(k)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
    checks = (("OOS Sharpe", num("oos_sharpe"), ">=", cfg.min_oos_sharpe), ("PBO", num("pbo"), "<=", cfg.max_pbo),
              ("DSR", num("dsr"), ">=", cfg.min_dsr), ("max drawdown", num("max_drawdown"), "<=", cfg.max_drawdown))
    return [f"{name} {v:.4g} not {op} {t:g}" for name, v, op, t in checks
            if math.isnan(v) or (v < t if op == ">=" else v > t)]


def rerun(e: Entry, runs_dir: Path, hof_dir: Path, data_root: Path | None, min_sharpe: float,
          max_pbo: float = 0.30) -> Verdict:
    """The entry's rule on the latest data of its run's sources; and the PBO of its run's whole
    candidate set on the same bars (the selection that chose it, judged again): above ``max_pbo``
    the entry is demoted to research."""
    try:
        manifest = json.loads((runs_dir / e.run_id / "manifest.json").read_text())
        cands = json.loads((runs_dir / e.run_id / "candidates.json").read_text()).get("candidates") or []
        genome = load_toml(hof_dir / e.genome_hash / "strategy.toml")
        market, costs = market_of(manifest, data_root, check_snapshot=False)     # the latest data
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Verdict(e.genome_hash, False, f"cannot be revalidated: {' '.join(str(exc).split())[:300]}")
    ends = np.datetime64(manifest["split"]["out_of_sample"][1])
    new = int(np.searchsorted(market.timestamps, ends, side="right"))
    if market.n_bars - new >= MIN_NEW_BARS:
        start, what = new, f"{market.n_bars - new} bars after the run's data"
    else:
        start = int(round(market.n_bars * (1 - manifest["split"]["out_of_sample_bars"] / manifest["split"]["bars"])))
        what = f"the latest data's holdout ({market.n_bars - start} bars)"
    ev = backtest.simulate(genome, market, FeatureBank.build(market, genome.feature_names()), costs,
                           start=start).evaluation
    ppy = manifest.get("periods_per_year") or market.periods_per_year
    sharpe = stats.sharpe_ratio(ev.returns[0]) * math.sqrt(ppy)
    ok = not math.isnan(sharpe) and sharpe >= min_sharpe
    detail = (f"OOS Sharpe {sharpe:.3f} on {what} (snapshot {market.snapshot_id[:12]}) "
              f"{'>=' if ok else '<'} {min_sharpe:g}")
    splits = int(manifest.get("config", {}).get("validation", {}).get("pbo_splits", 16))
    pbo = math.nan
    if len(cands) >= 2 and market.n_bars - start >= 2 * splits:
        genomes = [Genome.from_dict(c["genome"]) for c in cands]
        names = sorted({n for g in genomes for n in g.feature_names()})
        curves = backtest.evaluate(genomes, market, FeatureBank.build(market, names), costs, start=start)
        pbo = stats.pbo(curves.returns.T, splits).pbo
    demote = not math.isnan(pbo) and pbo > max_pbo
    if not math.isnan(pbo):
        detail += f"; the run's {len(cands)} candidates re-run there: PBO {pbo:.2f} {'>' if demote else '<='} {max_pbo:g}"
    return Verdict(e.genome_hash, ok and not demote, detail, sharpe, pbo, demote)
