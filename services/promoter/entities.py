"""The promoter's domain types: gate results, decisions, Hall of Fame entries."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from omp_services.common.vocabulary import EntryState, PromotionOutcome


@dataclass(frozen=True)
class Gate:
    gate: str
    passed: bool
    value: float = math.nan
    threshold: float = math.nan
    detail: str = ""

    def to_dict(self) -> dict:
        nan = lambda x: None if isinstance(x, float) and math.isnan(x) else x  # noqa: E731
        return {"gate": self.gate, "passed": self.passed, "value": nan(self.value), "threshold": nan(self.threshold),
                "detail": self.detail}

    @classmethod
    def from_dict(cls, d: dict) -> "Gate":
        num = lambda x: math.nan if x is None else float(x)  # noqa: E731
        return cls(d["gate"], bool(d["passed"]), num(d.get("value")), num(d.get("threshold")), d.get("detail", ""))


@dataclass(frozen=True)
class CandidateVerdict:
    candidate_id: str
    genome_hash: str
    outcome: PromotionOutcome
    gates: tuple[Gate, ...]
    entry_state: EntryState | None = None
    already_in: bool = False
    seeds: tuple[int, ...] = ()       # the seeds that found it

    def to_dict(self) -> dict:
        return {"candidate_id": self.candidate_id, "genome_hash": self.genome_hash, "outcome": str(self.outcome),
                "gates": [g.to_dict() for g in self.gates], "already_in": self.already_in,
                "entry_state": str(self.entry_state) if self.entry_state else None, "seeds": list(self.seeds)}

    @classmethod
    def from_dict(cls, d: dict) -> "CandidateVerdict":
        return cls(d["candidate_id"], d["genome_hash"], PromotionOutcome(d["outcome"]),
                   tuple(Gate.from_dict(g) for g in d["gates"]),
                   EntryState(d["entry_state"]) if d.get("entry_state") else None, bool(d.get("already_in")),
                   tuple(int(x) for x in d.get("seeds") or ()))

    def failed(self, gate: str) -> bool:
        return any(g.gate == gate and not g.passed for g in self.gates)


@dataclass(frozen=True)
class Decision:
    run_id: str
    campaign_id: str
    outcome: PromotionOutcome
    run_gates: tuple[Gate, ...]
    candidates: tuple[CandidateVerdict, ...]
    decided_at: float
    environment: str
    stored: bool = False
    config_hash: str = ""

    def failed(self) -> list[str]:
        """The gates that failed, the run's first, by name (each once)."""
        names = [g.gate for g in self.run_gates if not g.passed]
        names += [g.gate for c in self.candidates for g in c.gates if not g.passed]
        return list(dict.fromkeys(names))

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "campaign_id": self.campaign_id, "outcome": str(self.outcome),
                "run_gates": [g.to_dict() for g in self.run_gates],
                "candidates": [c.to_dict() for c in self.candidates], "decided_at": self.decided_at,
                "environment": self.environment, "config_hash": self.config_hash}

    @classmethod
    def from_dict(cls, d: dict, stored: bool = True) -> "Decision":
        return cls(d["run_id"], d["campaign_id"], PromotionOutcome(d["outcome"]),
                   tuple(Gate.from_dict(g) for g in d["run_gates"]),
                   tuple(CandidateVerdict.from_dict(c) for c in d["candidates"]), float(d["decided_at"]),
                   d.get("environment", ""), stored, d.get("config_hash", ""))


@dataclass(frozen=True)
class EntryChange:
    at: float
    actor: str
    from_state: EntryState | None
    to_state: EntryState
    reason: str


@dataclass(frozen=True)
class Entry:
    """A Hall of Fame entry: one per genome_hash, never deleted."""
    genome_hash: str
    state: EntryState
    candidate_id: str
    run_id: str
    campaign_id: str
    config_hash: str
    git_sha: str
    snapshot_id: str
    seeds: tuple[int, ...]
    environment: str
    promoted_at: float
    rule: str
    metrics: dict                     # oos_sharpe, pbo, dsr, max_drawdown, turnover_per_year, ...
    artifact_dir: str
    evidence_runs: tuple[str, ...] = ()
    history: tuple[EntryChange, ...] = field(default=())
