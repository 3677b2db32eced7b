"""The scheduler's tables: campaigns, attempts, queue change log, activity log, daemon state.

Everything happens inside one transaction handed out by :meth:`SchedulerStore.tx`; rows are turned
into frozen dataclasses before they leave.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field

from sqlalchemy import String, bindparam, cast, func, insert, literal_column, select, true, update

from services.common.storage.db import Database
from services.common.storage.models import ActivityRow, AttemptRow, CampaignRow, DaemonRow, QueueChangeRow

CAMPAIGN_FIELDS = ("id", "name", "config_path", "market", "priority", "enabled", "repeat", "tags", "state",
                   "created_at", "updated_at", "queued_at", "attempt", "consecutive_failures", "last_error",
                   "config_hash", "last_run_id")


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    config_path: str
    market: str
    priority: int
    enabled: bool
    repeat: bool
    tags: tuple[str, ...]
    state: str
    created_at: float
    updated_at: float
    queued_at: float
    attempt: int = 0
    consecutive_failures: int = 0
    last_error: str = ""
    config_hash: str = ""
    last_run_id: str = ""

    def public(self) -> dict:
        """What the change log records before and after a change."""
        return {"name": self.name, "config_path": self.config_path, "market": self.market,
                "priority": self.priority, "enabled": self.enabled, "repeat": self.repeat,
                "tags": list(self.tags), "state": self.state}


@dataclass(frozen=True)
class Attempt:
    campaign_id: str
    number: int
    state: str
    run_id: str
    config_hash: str
    started_at: float
    lease_expires_at: float
    ended_at: float | None
    error: str


@dataclass(frozen=True)
class QueueChange:
    id: int
    campaign_id: str
    action: str
    actor: str
    at: float
    before: dict | None
    after: dict | None
    reason: str


@dataclass(frozen=True)
class Event:
    seq: int
    at: float
    kind: str
    actor: str
    message: str
    campaign_id: str = ""
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DaemonStatus:
    state: str
    data_ready: bool
    data_reason: str
    updated_at: float


CAMPAIGNS = CampaignRow.__table__
_CAMPAIGN_COLS = [CAMPAIGNS.c[f] for f in CAMPAIGN_FIELDS]
# statements built once: building a select of 17 columns costs more than running it
_BY_ID = select(*_CAMPAIGN_COLS, CAMPAIGNS.c.removed_at).where(CAMPAIGNS.c.id == bindparam("key"))
_BY_REQUEST = select(*_CAMPAIGN_COLS, CAMPAIGNS.c.removed_at).where(CAMPAIGNS.c.request_id == bindparam("key"))
_ORDER = (CAMPAIGNS.c.rank_key, CAMPAIGNS.c.queued_at, CAMPAIGNS.c.id)
_NEXT = (select(*_CAMPAIGN_COLS)
         # literals, not bound parameters: the planner must see the partial index's own predicate
         .where(CAMPAIGNS.c.state == literal_column("'queued'"), CAMPAIGNS.c.enabled == true(),
                CAMPAIGNS.c.removed_at.is_(None))
         .order_by(*_ORDER).limit(1))
_INSERT_CAMPAIGN = insert(CAMPAIGNS)
_INSERT_CHANGE = insert(QueueChangeRow.__table__)
_INSERT_EVENT = insert(ActivityRow.__table__)


_TAGS = CAMPAIGN_FIELDS.index("tags")


def _campaign(r) -> Campaign:
    """From a Core row whose first columns are CAMPAIGN_FIELDS, in order (positional: a page of 50
    campaigns is built in a fraction of what keyword access costs)."""
    return Campaign(*r[:_TAGS], tuple(r[_TAGS] or ()), *r[_TAGS + 1:len(CAMPAIGN_FIELDS)])


def _attempt(r: AttemptRow) -> Attempt:
    return Attempt(r.campaign_id, r.number, r.state, r.run_id, r.config_hash, r.started_at, r.lease_expires_at,
                   r.ended_at, r.error)


class SchedulerTx:
    """The scheduler's queries and writes within one transaction."""

    def __init__(self, session):
        self.s = session

    # ---- daemon
    def daemon(self, now: float) -> DaemonStatus:
        """The daemon's state; before the first change it is offline with data ready."""
        row = self.s.get(DaemonRow, 1)
        if row is None:
            return DaemonStatus("offline", True, "", now)
        return DaemonStatus(row.state, row.data_ready, row.data_reason, row.updated_at)

    def set_daemon(self, now: float, **values) -> None:
        if self.s.get(DaemonRow, 1) is None:
            self.s.add(DaemonRow(id=1, state="offline", data_ready=True, data_reason="", updated_at=now))
            self.s.flush()
        self.s.execute(update(DaemonRow).where(DaemonRow.id == 1).values(updated_at=now, **values))

    # ---- campaigns
    def _one(self, stmt, key: str):
        return self.s.execute(stmt, {"key": key}).first()

    def get(self, campaign_id: str, *, include_removed: bool = False) -> Campaign | None:
        row = self._one(_BY_ID, campaign_id)
        if row is None or (row.removed_at is not None and not include_removed):
            return None
        return _campaign(row)

    def by_request_id(self, request_id: str) -> Campaign | None:
        row = self._one(_BY_REQUEST, request_id)
        return _campaign(row) if row is not None else None

    def insert(self, c: Campaign, rank_key: float, request_id: str | None) -> None:
        self.s.execute(_INSERT_CAMPAIGN, {**{f: getattr(c, f) for f in CAMPAIGN_FIELDS if f != "tags"},
                                          "tags": list(c.tags), "rank_key": rank_key, "request_id": request_id,
                                          "removed_at": None})

    def update(self, campaign_id: str, **values) -> Campaign:
        if "tags" in values:
            values["tags"] = list(values["tags"])
        self.s.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id).values(**values))
        return _campaign(self._one(_BY_ID, campaign_id))

    def _listed(self, state: str = "", tag: str = "", enabled_only: bool = False, *cols):
        q = select(*(cols or _CAMPAIGN_COLS)).where(CampaignRow.removed_at.is_(None))
        if state:
            q = q.where(CampaignRow.state == state)
        if enabled_only:
            q = q.where(CampaignRow.enabled == True)  # noqa: E712 - SQL, not Python
        if tag:
            # tags are a JSON array: match the quoted element in its text form (same on both databases)
            q = q.where(cast(CampaignRow.tags, String).contains(json.dumps(tag), autoescape=True))
        return q

    def list(self, *, state="", tag="", enabled_only=False, offset=0, limit=50) -> tuple[list[Campaign], int]:
        """Queue order: aged priority (rank_key), then age, then id; one page and the total."""
        total = self.s.scalar(self._listed(state, tag, enabled_only, func.count()))
        q = self._listed(state, tag, enabled_only).order_by(*_ORDER).offset(offset).limit(limit)
        return [_campaign(r) for r in self.s.execute(q)], total

    def next_queued(self) -> Campaign | None:
        row = self.s.execute(_NEXT).first()
        return _campaign(row) if row is not None else None

    def count(self, state: str) -> int:
        return self.s.scalar(select(func.count()).select_from(CampaignRow)
                             .where(CampaignRow.state == state, CampaignRow.removed_at.is_(None)))

    def rerank_all(self, step_seconds: float) -> None:
        self.s.execute(update(CampaignRow).values(
            rank_key=CampaignRow.priority * step_seconds + CampaignRow.queued_at))

    # ---- attempts
    def insert_attempt(self, a: Attempt) -> None:
        self.s.add(AttemptRow(campaign_id=a.campaign_id, number=a.number, state=a.state, run_id=a.run_id,
                              config_hash=a.config_hash, started_at=a.started_at,
                              lease_expires_at=a.lease_expires_at, ended_at=a.ended_at, error=a.error))
        self.s.flush()

    def attempt(self, campaign_id: str, number: int) -> Attempt | None:
        row = self.s.get(AttemptRow, (campaign_id, number))
        return _attempt(row) if row is not None else None

    def update_attempt(self, campaign_id: str, number: int, **values) -> Attempt:
        row = self.s.get(AttemptRow, (campaign_id, number))
        for k, v in values.items():
            setattr(row, k, v)
        self.s.flush()
        return _attempt(row)

    def running_attempts(self) -> list[Attempt]:
        return [_attempt(r) for r in self.s.scalars(select(AttemptRow).where(AttemptRow.state == "running")
                                                    .order_by(AttemptRow.started_at))]

    # ---- logs
    def log_change(self, campaign_id: str, action: str, actor: str, at: float, before: dict | None,
                   after: dict | None, reason: str) -> None:
        self.s.execute(_INSERT_CHANGE, {"campaign_id": campaign_id, "action": action, "actor": actor, "at": at,
                                        "before": before, "after": after, "reason": reason})

    def changes(self, campaign_id: str = "", after_id: int = 0, limit: int = 100) -> list[QueueChange]:
        q = select(QueueChangeRow).where(QueueChangeRow.id > after_id).order_by(QueueChangeRow.id).limit(limit)
        if campaign_id:
            q = q.where(QueueChangeRow.campaign_id == campaign_id)
        return [QueueChange(r.id, r.campaign_id, r.action, r.actor, r.at, r.before, r.after, r.reason)
                for r in self.s.scalars(q)]

    def log_event(self, at: float, kind: str, actor: str, message: str, campaign_id: str = "",
                  detail: dict | None = None) -> None:
        self.s.execute(_INSERT_EVENT, {"at": at, "kind": kind, "actor": actor, "message": message,
                                       "campaign_id": campaign_id, "detail": detail or {}})

    def events_after(self, seq: int, limit: int = 500) -> list[Event]:
        q = select(ActivityRow).where(ActivityRow.seq > seq).order_by(ActivityRow.seq).limit(limit)
        return [Event(r.seq, r.at, r.kind, r.actor, r.message, r.campaign_id, r.detail or {})
                for r in self.s.scalars(q)]


class SchedulerStore:
    def __init__(self, db: Database):
        self.db = db

    @contextlib.contextmanager
    def tx(self):
        """A read-write transaction."""
        with self.db.session() as s:
            yield SchedulerTx(s)

    @contextlib.contextmanager
    def read(self):
        """A read-only transaction: on SQLite it does not take the write lock."""
        with self.db.session(write=False) as s:
            yield SchedulerTx(s)
