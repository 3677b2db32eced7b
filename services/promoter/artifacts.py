"""A Hall of Fame entry's artifacts, ``artifacts/hall_of_fame/<genome_hash>/``: strategy.toml,
metrics.json, trades.csv, equity.png (equity and drawdown), oos_returns.csv, provenance.json and
packet.md (the playbook's Promotion Packet with the actual values). Written once, all at once (a temporary
folder, fsync, one rename), read-only, never deleted: retention leaves the folder and the run it
points to alone (it reads the run ids from provenance.json)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from omp_core.atomic import write_folder
from omp_services.common.clock import iso
from omp_services.common.vocabulary import EntryState
from omp_services.promoter.entities import CandidateVerdict, Decision, Gate

COPIED = ("strategy.toml", "trades.csv", "equity.png")
PROVENANCE = "provenance.json"
#: the entry's out-of-sample net returns by bar: what the diversity gate compares a newcomer with
RETURNS = "oos_returns.csv"


def read_returns(folder: Path) -> dict[str, float]:
    """An entry's out-of-sample returns ({} when it has none or they cannot be read)."""
    try:
        lines = (folder / RETURNS).read_text().splitlines()[1:]
        return {t: float(r) for t, r in (line.split(",") for line in lines)}
    except (OSError, ValueError):
        return {}


def provenance(manifest: dict, candidate: dict, decision: Decision) -> dict:
    return {"candidate_id": candidate["candidate_id"], "genome_hash": candidate["genome_hash"],
            "run_id": decision.run_id, "campaign_id": manifest.get("campaign_id", ""),
            "attempt": manifest.get("attempt", 0), "config_hash": manifest.get("config_hash", ""),
            "git_sha": manifest.get("git_sha", ""), "git_dirty": manifest.get("git_dirty"),
            "snapshot_id": manifest.get("snapshot_id", ""), "seeds": candidate.get("found_by_seeds", []),
            "environment": decision.environment, "promoted_at": iso(decision.decided_at),
            "rule": candidate.get("rule", ""), "config": manifest.get("config", {})}


def entry_files(run_dir: Path, manifest: dict, candidates: dict, candidate: dict, verdict: CandidateVerdict,
                decision: Decision, oos_returns: dict[str, float]) -> dict[str, bytes]:
    """The files of the entry, from the run folder (the run's own artifacts, copied byte for byte)."""
    folder = (run_dir / candidate["folder"]).resolve()
    if run_dir.resolve() not in folder.parents:
        raise ValueError(f"candidate folder {candidate['folder']!r} is outside its run folder")
    files = {name: (folder / name).read_bytes() for name in COPIED if (folder / name).exists()}
    metrics = {"in_sample": candidate.get("in_sample"), "out_of_sample": candidate.get("out_of_sample"),
               "dsr": candidate.get("dsr"), "pbo": (candidates.get("pbo") or {}).get("pbo"),
               "n_trials": candidate.get("n_trials"), "stress": candidate.get("stress"),
               "walk_forward_sharpe": candidate.get("walk_forward_sharpe"),
               "gates": [g.to_dict() for g in (*decision.run_gates, *verdict.gates)]}
    prov = provenance(manifest, candidate, decision)
    files["metrics.json"] = _json(metrics)
    files[RETURNS] = ("timestamp,return\n" + "".join(f"{t},{r!r}\n" for t, r in oos_returns.items())).encode()
    files[PROVENANCE] = _json(prov)
    files["packet.md"] = packet(prov, candidate, decision.run_gates + verdict.gates, set(files) | {"packet.md"},
                                manifest.get("campaign", ""),
                                verdict.entry_state is EntryState.PENDING_EXECUTION_REVIEW).encode()
    return files


def write_entry(hof_dir: Path, genome_hash: str, files: dict[str, bytes]) -> bool:
    """Write the entry's folder, read-only; False when it is there already (never over)."""
    return write_folder(hof_dir / genome_hash, files, read_only=True)


def packet(prov: dict, candidate: dict, gates: tuple[Gate, ...], present: set[str], campaign: str,
           pending_review: bool) -> str:
    by = {g.gate: g for g in gates}

    def box(ok: bool) -> str:
        return "[x]" if ok else "[ ]"

    def gate_line(name: str, label: str) -> str:
        g = by.get(name)
        if g is None:
            return f"- [ ] {label}: not judged"
        value = "n/a" if math.isnan(g.value) else f"{g.value:.4g}"
        return f"- {box(g.passed)} {label}: {value}"
    stress = candidate.get("stress") or {}
    turnover = ((candidate.get("out_of_sample") or {}).get("turnover_per_year"))
    lines = [f"## Promotion Packet: {prov['candidate_id']}", "", f"**Run ID:** {prov['run_id']}",
             f"**Campaign:** {campaign} ({prov['campaign_id']})", f"**Date:** {prov['promoted_at'][:10]}", "",
             "### Validation Gates",
             gate_line("oos_sharpe", "OOS Sharpe >= threshold"), gate_line("pbo", "PBO <= threshold"),
             gate_line("dsr", "DSR >= threshold"), gate_line("max_drawdown", "Max DD <= threshold"),
             f"- {box(by.get('variance_sanity', Gate('', False)).passed)} Variance sanity passed",
             f"- {box(by.get('stress', Gate('', False)).passed)} Stress tests passed: "
             f"{stress.get('passed', '?')}/{stress.get('total', '?')}",
             f"- {box(by.get('lookahead', Gate('', False)).passed)} No look-ahead: "
             f"{by.get('lookahead', Gate('', False, detail='not checked')).detail}",
             f"- {box(by.get('diversity', Gate('', False)).passed)} Diversity: "
             f"{by.get('diversity', Gate('', False, detail='not checked')).detail}", "",
             "### Provenance"]
    for key in ("genome_hash", "config_hash", "git_sha", "run_id"):
        lines.append(f"- {box(bool(prov.get(key)) and prov.get(key) != 'unknown')} {key}: {prov.get(key)}")
    lines += ["", "### Artifacts",
              f"- {box('strategy.toml' in present)} strategy.toml present",
              f"- {box('metrics.json' in present)} metrics.json present",
              f"- {box('trades.csv' in present)} trades.csv present",
              f"- {box('equity.png' in present)} equity.png present", "",
              "### Reviews",
              f"- {box(all(g.passed for g in gates))} Risk-analyst gate passed",
              f"- {box(not pending_review)} Trader-expert execution reviewed (if high turnover: "
              f"{turnover if turnover is not None else 'n/a'} round trips a year"
              + ("; pending: the entry waits in pending_execution_review)" if pending_review else ")"),
              f"- {box(bool(prov.get('snapshot_id')))} Data snapshot documented: {prov.get('snapshot_id')}", "",
              "### Approval", f"- {box(all(g.passed for g in gates))} Ready for Hall of Fame promotion"]
    return "\n".join(lines) + "\n"


def _json(obj) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=2, allow_nan=False, default=str) + "\n").encode()
