"""The gates a run and its candidates pass through, in order (the playbook's promotion criteria and
auto-reject floors, its variance sanity gate and provenance requirements). Pure: a run folder's
manifest and candidates in, a Decision with every value and threshold out; nothing is written.

Run gates: provenance (every field present, the code version known and clean), environment (never
across environments), variance sanity (Sharpe across the candidates not collapsed: else the whole
run is blocked). Candidate gates: auto-reject floors, then the promotion thresholds (OOS Sharpe
net, PBO, DSR, OOS max drawdown net, stress tests passed), the seed registry, no look-ahead (its
signals on data cut at several points equal those on the full data: ``replay.py``), then diversity
(OOS returns correlated at most ``max_correlation`` with every active entry and every better
candidate of the run); a candidate that passes and trades more than ``max_turnover_per_year``
enters pending execution review (rule 14)."""
from __future__ import annotations

import math
import re
from typing import Callable

from omp_services.common.vocabulary import EntryState, PromotionOutcome
from omp_services.promoter.entities import CandidateVerdict, Decision, Gate
from omp_services.promoter.replay import Replay, correlation
from omp_services.promoter.settings import AutoRejectSettings, PromotionSettings

RUN_FIELDS = ("run_id", "campaign_id", "config_hash", "git_sha", "snapshot_id", "seeds")
CANDIDATE_FIELDS = ("candidate_id", "genome_hash", "found_by_seeds", "folder")
GENOME_HASH = re.compile(r"[0-9a-f]{64}")
FOLDER = re.compile(r"candidates/[0-9A-Za-z_]{1,80}")
#: every gate's name, in the order a decision lists them (the metrics start each at zero)
GATES = ("provenance", "code_version", "environment", "variance_sanity", "candidate_provenance",
         "auto_reject_oos_sharpe", "auto_reject_pbo", "auto_reject_max_drawdown", "auto_reject_oos_trades",
         "oos_sharpe", "pbo", "dsr", "max_drawdown", "stress", "seed_registry", "lookahead", "diversity")


def _num(x) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else math.nan


def _at_least(gate: str, value: float, threshold: float, what: str) -> Gate:
    ok = not math.isnan(value) and value >= threshold
    return Gate(gate, ok, value, threshold, f"{what} {value:.4g} {'>=' if ok else '<'} {threshold:g}"
                if not math.isnan(value) else f"{what} unknown: needs >= {threshold:g}")


def _at_most(gate: str, value: float, threshold: float, what: str) -> Gate:
    ok = not math.isnan(value) and value <= threshold
    return Gate(gate, ok, value, threshold, f"{what} {value:.4g} {'<=' if ok else '>'} {threshold:g}"
                if not math.isnan(value) else f"{what} unknown: needs <= {threshold:g}")


def run_gates(manifest: dict, candidates: dict, run_id: str, environment: str,
              cfg: PromotionSettings) -> tuple[list[Gate], PromotionOutcome | None]:
    """The gates of the whole run; the outcome they force (INCOMPLETE, BLOCKED) or None."""
    gates = []
    missing = [f for f in RUN_FIELDS if not manifest.get(f) or manifest.get(f) == "unknown"]
    if manifest.get("run_id") and manifest.get("run_id") != run_id:
        missing.append(f"run_id (the manifest says {manifest.get('run_id')!r})")
    gates.append(Gate("provenance", not missing, detail="complete" if not missing else
                      f"missing or unknown: {', '.join(missing)}"))
    dirty = manifest.get("git_dirty")
    clean = dirty is False or (dirty is True and cfg.allow_dirty_code)
    gates.append(Gate("code_version", clean, detail=(
        f"commit {str(manifest.get('git_sha'))[:12]}" + (" with uncommitted changes (allowed by "
                                                          "promotion.allow_dirty_code)" if dirty else ", clean"))
        if clean else "the code had uncommitted changes (git_dirty): not reproducible" if dirty
        else "the code version is unknown: install from a git checkout (see the README)"))
    same_env = manifest.get("environment") == environment
    gates.append(Gate("environment", same_env, detail=f"run made in {manifest.get('environment')!r}, promoter in "
                                                      f"{environment!r}" + ("" if same_env else ": never across")))
    if not all(g.passed for g in gates):
        return gates, PromotionOutcome.INCOMPLETE
    var = candidates.get("sharpe_variance") or {}
    n = len(candidates.get("candidates") or [])
    values = [(k, _num(var.get(k))) for k in ("in_sample", "out_of_sample")]
    collapsed = [(k, v) for k, v in values if not math.isnan(v) and v < cfg.variance_floor]
    if n < 2:
        gates.append(Gate("variance_sanity", True, detail=f"{n} candidate(s): no spread to judge"))
    elif all(math.isnan(v) for _, v in values):     # what cannot be checked does not pass
        gates.append(Gate("variance_sanity", False, detail=f"{n} candidates but no Sharpe variance recorded"))
        return gates, PromotionOutcome.INCOMPLETE
    else:
        worst = min((v for _, v in values if not math.isnan(v)), default=math.nan)
        gates.append(Gate("variance_sanity", not collapsed, worst, cfg.variance_floor,
                          "Sharpe variance across the candidates: " + ", ".join(
                              f"{k} {v:.3g}" for k, v in values if not math.isnan(v))
                          + (f" < {cfg.variance_floor:g}: metrics collapsed (a bug or bad data)" if collapsed else "")))
    return gates, (PromotionOutcome.BLOCKED if collapsed else None)


def seed_gate(c: dict, registered: frozenset[int]) -> Gate:
    """A campaign promotes only from its registered seeds: a strategy found only by seeds nobody
    registered is what fishing through seeds until one looks good produces (failure mode 1)."""
    seeds = sorted(int(x) for x in c.get("found_by_seeds") or ())
    ok = bool(set(seeds) & registered)
    return Gate("seed_registry", ok, float(len(seeds)), 0.0,
                f"found by registered seed(s) {sorted(set(seeds) & registered)}" if ok else
                f"found only by unregistered seeds {seeds} (registered: {sorted(registered)}): register them with "
                "a reason (omp seeds register) or it is seed fishing")


def candidate_gates(c: dict, pbo: float, cfg: PromotionSettings, floor: AutoRejectSettings) -> list[Gate]:
    oos = c.get("out_of_sample") or {}
    missing = [f for f in CANDIDATE_FIELDS if not c.get(f)]
    if c.get("genome_hash") and not GENOME_HASH.fullmatch(str(c["genome_hash"])):
        missing.append("genome_hash (not 64 hex digits)")
    if c.get("folder") and not FOLDER.fullmatch(str(c["folder"])):
        missing.append("folder (not candidates/<name>)")
    gates = [Gate("candidate_provenance", not missing, detail="complete" if not missing else
                  f"missing or malformed: {', '.join(missing)}")]
    sharpe, dd, trades = _num(oos.get("sharpe")), _num(oos.get("max_drawdown")), _num(oos.get("trades"))
    gates += [_at_least("auto_reject_oos_sharpe", sharpe, floor.min_oos_sharpe, "OOS Sharpe"),
              _at_most("auto_reject_pbo", pbo, floor.max_pbo, "PBO"),
              _at_most("auto_reject_max_drawdown", dd, floor.max_drawdown, "OOS max drawdown"),
              _at_least("auto_reject_oos_trades", trades, floor.min_oos_trades, "OOS trades")]
    stress = c.get("stress") or {}
    gates += [_at_least("oos_sharpe", sharpe, cfg.min_oos_sharpe, "OOS Sharpe net of costs"),
              _at_most("pbo", pbo, cfg.max_pbo, "PBO"),
              _at_least("dsr", _num(c.get("dsr")), cfg.min_dsr, "DSR"),
              _at_most("max_drawdown", dd, cfg.max_drawdown, "OOS max drawdown net"),
              _at_least("stress", _num(stress.get("passed")), cfg.min_stress_passed,
                        f"stress tests passed (of {stress.get('total', '?')})")]
    return gates


def diversity_gate(h: str, series: dict[str, float] | None, others: dict[str, dict[str, float]],
                   max_correlation: float) -> Gate:
    """Its out-of-sample returns correlate at most ``max_correlation`` with every other's (the
    active entries', and the candidates of this run accepted before it)."""
    if series is None:
        return Gate("diversity", False, detail="cannot be checked: no out-of-sample returns")
    worst, with_, bars = -math.inf, "", 0
    for other, returns in others.items():
        if other == h:
            continue
        rho, n = correlation(series, returns)
        if not math.isnan(rho) and rho > worst:
            worst, with_, bars = rho, other, n
    if worst == -math.inf:
        return Gate("diversity", True, detail="nothing to compare with on shared bars")
    ok = worst <= max_correlation
    return Gate("diversity", ok, worst, max_correlation,
                f"highest OOS return correlation {worst:.3f} (with {with_[:12]}, {bars} shared bars) "
                f"{'<=' if ok else '>'} {max_correlation:g}" + ("" if ok else ": redundant"))


def judge(manifest: dict, candidates: dict, run_id: str, environment: str, cfg: PromotionSettings,
          floor: AutoRejectSettings, in_hof: Callable[[str], bool], now: float,
          replayed: Callable[[], Replay] = Replay, registered: frozenset[int] | None = None,
          entries_oos: Callable[[], dict[str, dict[str, float]]] = dict) -> Decision:
    """Every gate for the run and each of its candidates; ``in_hof(genome_hash)`` says whether a
    genome already has an entry (it gets none more: the run is linked to it as evidence);
    ``replayed()`` runs the candidates again (look-ahead, OOS returns; asked only when the run's
    own gates pass); ``registered``: the campaign's registered seeds (None: it has none yet, and its
    config's seeds are the ones it registers); ``entries_oos()``: the active entries' OOS returns.
    Candidates are judged in rank order: one redundant with a better one of the same run is not
    entered beside it."""
    gates, forced = run_gates(manifest, candidates, run_id, environment, cfg)
    campaign = str(manifest.get("campaign_id", ""))
    verdicts = []
    if forced is None:
        pbo = _num((candidates.get("pbo") or {}).get("pbo"))
        rp = replayed()
        pool = dict(entries_oos())
        seeds = registered if registered is not None else frozenset(int(x) for x in manifest.get("seeds") or ())
        for c in candidates.get("candidates") or []:
            h = str(c.get("genome_hash", ""))
            cg = candidate_gates(c, pbo, cfg, floor)
            cg.append(seed_gate(c, seeds))
            cg.append(rp.lookahead.get(h, Gate("lookahead", False, detail="not checked")))
            if all(g.passed for g in cg):
                cg.append(diversity_gate(h, rp.oos.get(h), pool, cfg.max_correlation))
            ok = all(g.passed for g in cg)
            if ok and h in rp.oos:
                pool[h] = rp.oos[h]
            state = None
            if ok:
                turnover = _num((c.get("out_of_sample") or {}).get("turnover_per_year"))
                # unknown turnover is reviewed too: what cannot be checked is not waved through
                state = (EntryState.PENDING_EXECUTION_REVIEW if math.isnan(turnover)
                         or turnover > cfg.max_turnover_per_year else EntryState.ACTIVE)
            verdicts.append(CandidateVerdict(str(c.get("candidate_id", "")), str(c.get("genome_hash", "")),
                                             PromotionOutcome.PROMOTED if ok else PromotionOutcome.REJECTED,
                                             tuple(cg), state, ok and in_hof(str(c.get("genome_hash", ""))),
                                             tuple(sorted(int(x) for x in c.get("found_by_seeds") or ()))))
    outcome = forced or (PromotionOutcome.PROMOTED if any(v.outcome is PromotionOutcome.PROMOTED for v in verdicts)
                         else PromotionOutcome.REJECTED)
    return Decision(run_id, campaign, outcome, tuple(gates), tuple(verdicts), now, environment,
                    config_hash=str(manifest.get("config_hash", "")))
