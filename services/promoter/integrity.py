"""The Hall of Fame Integrity Check (the playbook's checklist): the database's entries against the
artifact folders, a random sample of entries checked one by one (provenance complete, metrics equal
the artifact's, artifacts present, no duplicate, thresholds still met under today's settings),
anomalies over all entries (collapsed Sharpe, duplicate hashes, impossible dates) and the mirror's
state. Reads only; ``ok`` only when every item holds."""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from omp_services.common.clock import iso
from omp_services.promoter.artifacts import PROVENANCE
from omp_services.promoter.entities import Entry
from omp_services.promoter.settings import PromotionSettings

FILES = ("equity.png", "metrics.json", "oos_returns.csv", "packet.md", "provenance.json", "strategy.toml",
         "trades.csv")
PROVENANCE_FIELDS = ("candidate_id", "genome_hash", "run_id", "campaign_id", "config_hash", "git_sha", "snapshot_id",
                     "seeds", "promoted_at")
EARLIEST = 946684800.0          # 2000-01-01: no entry is older than the code that made it


@dataclass(frozen=True)
class Item:
    section: str
    name: str
    ok: bool
    detail: str = ""


@dataclass
class IntegrityReport:
    at: float
    items: list[Item] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.items)

    def add(self, section: str, name: str, ok: bool, detail: str = "") -> None:
        self.items.append(Item(section, name, bool(ok), detail))

    def markdown(self, operator: str) -> str:
        lines = ["## Hall of Fame Integrity Check", "", f"**Date:** {iso(self.at)[:10]}", f"**Operator:** {operator}"]
        section = None
        for i in self.items:
            if i.section != section:
                section = i.section
                lines += ["", f"### {section}"]
            lines.append(f"- [{'x' if i.ok else ' '}] {i.name}" + (f": {i.detail}" if i.detail else ""))
        problems = [f"- {i.name}: {i.detail}" for i in self.items if not i.ok]
        lines += ["", "### Issues Found", *(problems or ["None"])]
        return "\n".join(lines) + "\n"


def check(entries: list[Entry], hof_dir: Path, cfg: PromotionSettings, now: float, samples: int = 5,
          seed: int | None = None, mirror: tuple[bool, int, float, float | None] | None = None) -> IntegrityReport:
    """``mirror``: (configured, pending, lag seconds, last full sync) or None when there is none."""
    r = IntegrityReport(now)
    folders = {p.name for p in hof_dir.iterdir() if p.is_dir() and not p.name.startswith(".")} \
        if hof_dir.is_dir() else set()
    hashes = [e.genome_hash for e in entries]
    r.add("Count Verification", "DB count", True, f"{len(entries)} entries")
    missing, extra = sorted(set(hashes) - folders), sorted(folders - set(hashes))
    r.add("Count Verification", "Local artifacts match DB", not missing and not extra,
          "yes" if not missing and not extra else
          f"no folder for {[h[:12] for h in missing]}; folders without an entry {[h[:12] for h in extra]}")
    rng = random.Random(seed)
    for e in rng.sample(entries, min(samples, len(entries))):
        _sample(r, e, hof_dir / e.genome_hash, cfg, hashes)
    sharpes = [float(e.metrics["oos_sharpe"]) for e in entries if isinstance(e.metrics.get("oos_sharpe"), (int, float))]
    if len(sharpes) >= 2:
        mean = sum(sharpes) / len(sharpes)
        var = sum((x - mean) ** 2 for x in sharpes) / (len(sharpes) - 1)
        r.add("Anomaly Check", "No sharpeVar < 1e-6 entries", var >= cfg.variance_floor,
              f"OOS Sharpe variance across {len(sharpes)} entries {var:.3g}")
    else:
        r.add("Anomaly Check", "No sharpeVar < 1e-6 entries", True, f"{len(sharpes)} entry: no spread to judge")
    r.add("Anomaly Check", "No duplicate genome_hash", len(set(hashes)) == len(hashes), f"{len(set(hashes))} distinct")
    bad_dates = [e.genome_hash[:12] for e in entries if not (EARLIEST <= e.promoted_at <= now + 60)]
    r.add("Anomaly Check", "All promoted_at dates valid", not bad_dates, ", ".join(bad_dates) or "all valid")
    if mirror is None or not mirror[0]:
        r.add("Sync Status", "Local -> PostgreSQL mirror", True, "no mirror configured ([promotion] mirror_url)")
    else:
        _, pending, lag, last = mirror
        r.add("Sync Status", "Local -> PostgreSQL mirror sync complete", pending == 0,
              "in step" if pending == 0 else f"{pending} entries pending, the oldest for {lag:.0f} s")
        r.add("Sync Status", "Last sync", last is not None, iso(last) if last is not None else "never")
    return r


def _sample(r: IntegrityReport, e: Entry, folder: Path, cfg: PromotionSettings, hashes: list[str]) -> None:
    section, who = "Sample Validation", e.candidate_id
    try:
        prov = json.loads((folder / PROVENANCE).read_text())
        gaps = [f for f in PROVENANCE_FIELDS if not prov.get(f) or prov.get(f) == "unknown"]
        if prov.get("run_id") != e.run_id or prov.get("genome_hash") != e.genome_hash:
            gaps.append("run_id or genome_hash differ from the entry")
    except (OSError, ValueError) as exc:
        gaps = [f"provenance.json unreadable ({exc})"]
    r.add(section, f"{who} - provenance complete", not gaps, ", ".join(gaps))
    try:
        oos = json.loads((folder / "metrics.json").read_text())["out_of_sample"]
        same = _eq(oos.get("sharpe"), e.metrics.get("oos_sharpe")) and _eq(oos.get("max_drawdown"),
                                                                        e.metrics.get("max_drawdown"))
        why = "" if same else "the entry's OOS Sharpe or drawdown differ from metrics.json"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        same, why = False, f"metrics.json unreadable ({exc})"
    r.add(section, f"{who} - metrics match", same, why)
    absent = [f for f in FILES if not (folder / f).is_file()]
    r.add(section, f"{who} - artifacts present", not absent, f"missing {absent}" if absent else "")
    r.add(section, f"{who} - no duplicates", hashes.count(e.genome_hash) == 1)
    m = e.metrics
    failing = [name for name, ok in (
        ("OOS Sharpe", _num(m.get("oos_sharpe")) >= cfg.min_oos_sharpe), ("PBO", _num(m.get("pbo")) <= cfg.max_pbo),
        ("DSR", _num(m.get("dsr")) >= cfg.min_dsr), ("max drawdown", _num(m.get("max_drawdown")) <= cfg.max_drawdown))
        if not ok]
    r.add(section, f"{who} - thresholds still met", not failing,
          f"fails {', '.join(failing)} under today's [promotion] thresholds: revalidate it" if failing else "")


def _num(x) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else math.nan


def _eq(a, b) -> bool:
    a, b = _num(a), _num(b)
    return (math.isnan(a) and math.isnan(b)) or a == b
