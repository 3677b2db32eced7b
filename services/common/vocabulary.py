"""The words every service shares, defined once. Each is an enum of lower-case strings (what the
tables store and the logs print); ``convert.enum_pb`` maps it to the proto enum of the same name
(``RunStatus.COMPLETED`` <-> ``RUN_STATUS_COMPLETED``), and a test holds the two in step.

Markets are the campaign config's (``omp_core.config.MARKETS``)."""
from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self is not RunStatus.RUNNING


class DaemonState(StrEnum):
    OFFLINE = "offline"
    RUNNING = "running"
    PAUSED = "paused"


class CampaignState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class DataReadiness(StrEnum):
    READY = "ready"
    NOT_READY = "not_ready"


class PromotionOutcome(StrEnum):
    PROMOTED = "promoted"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    INCOMPLETE = "incomplete"


class EntryState(StrEnum):
    ACTIVE = "active"
    PENDING_EXECUTION_REVIEW = "pending_execution_review"
    FLAGGED = "flagged"
    RESEARCH = "research"
    QUARANTINED = "quarantined"
    REMOVED = "removed"
