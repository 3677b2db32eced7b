"""The watchdog's domain types: incidents and resource samples."""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from omp_services.common.findings import Finding


class Severity(IntEnum):
    """The playbook's severities; a lower number is worse."""
    SEV0 = 0
    SEV1 = 1
    SEV2 = 2

    @property
    def label(self) -> str:
        return f"SEV-{self.value}"


@dataclass(frozen=True)
class TimelineEntry:
    at: float
    actor: str
    event: str


@dataclass(frozen=True)
class Incident:
    id: int
    severity: Severity
    kind: str
    key: str
    open: bool
    detected_at: float
    updated_at: float
    resolved_at: float | None
    summary: str
    symptoms: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    root_cause: str = ""
    resolution: str = ""
    prevention: tuple[str, ...] = ()
    handoffs: tuple[str, ...] = ()
    opened_by: str = ""
    occurrences: int = 1
    timeline: tuple[TimelineEntry, ...] = ()

    @property
    def label(self) -> str:
        return f"INC-{self.id}"

    def duration(self, now: float) -> float:
        return (self.resolved_at if self.resolved_at is not None else now) - self.detected_at


INCIDENT_FIELDS = tuple(f for f in Incident.__dataclass_fields__ if f != "timeline")


@dataclass(frozen=True)
class Report(Finding):
    """What a detector (or another service, ``actor``) says it saw; ``severity`` is a Severity."""
    actor: str = "watchdog"
