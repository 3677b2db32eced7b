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


#: failed runs that say nothing about the campaign or its data: the miner did not start it, shut
#: down under it, or the watchdog killed it (a stuck or runaway run is counted by its incident).
#: The watchdog's error burst and failure rate, and the scheduler's metric, leave them out alike.
NOT_THE_CAMPAIGNS_FAULT = ("miner did not start", "interrupted:", "killed: INC-", "orphaned:")


def blames_campaign(status: str, error: str) -> bool:
    """A failed run the campaign (its config, its data, its code path) is to blame for."""
    return str(status) == RunStatus.FAILED and not error.startswith(NOT_THE_CAMPAIGNS_FAULT)
