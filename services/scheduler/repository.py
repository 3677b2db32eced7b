"""The scheduler's storage: campaigns, attempts, queue change log, activity log, daemon state.

Everything happens inside one transaction handed out by :meth:`SchedulerStore.tx`; rows are turned
into the domain's types (``entities.py``) before they leave.
"""
from __future__ import annotations

import functools
import json

from sqlalchemy import String, bindparam, cast, delete, func, insert, literal_column, or_, select, true, update

from omp_services.common.storage.base import Base
from omp_services.common.storage.db import Statement, Store, Tx
from omp_services.common.vocabulary import CampaignState, DaemonState, RunStatus
from omp_services.scheduler.entities import (CAMPAIGN_FIELDS, Attempt, Campaign, DaemonStatus, Event, Lease,
                                         Miner, QueueChange)
from omp_services.scheduler.tables import (ActivityRow, AttemptRow, CampaignCountRow, CampaignRow, DaemonRow,
                                      LeaseRow, MinerRow, PromotionHandoffRow, QueueChangeRow)

CAMPAIGNS = CampaignRow.__table__
ATTEMPTS = AttemptRow.__table__
CHANGES = QueueChangeRow.__table__
ACTIVITY = ActivityRow.__table__
DAEMON = DaemonRow.__table__
COUNTS = CampaignCountRow.__table__
HANDOFFS = PromotionHandoffRow.__table__
MINERS = MinerRow.__table__
LEASES = LeaseRow.__table__
ATTEMPT_FIELDS = ("campaign_id", "number", "state", "run_id", "config_hash", "started_at", "lease_expires_at",
                  "ended_at", "error", "miner_id")
MINER_FIELDS = ("miner_id", "address", "slots", "registered_at", "seen_at")
LEASE_FIELDS = ("name", "holder", "epoch", "expires_at")
CHANGE_FIELDS = ("id", "campaign_id", "action", "actor", "at", "before", "after", "reason")
EVENT_FIELDS = ("seq", "at", "kind", "actor", "message", "campaign_id", "detail")

_CAMPAIGN_COLS = [CAMPAIGNS.c[f] for f in CAMPAIGN_FIELDS]
_ORDER = (CAMPAIGNS.c.rank_key, CAMPAIGNS.c.queued_at, CAMPAIGNS.c.id)
_KEY = bindparam("key")


def _insert(table, *names: str) -> Statement:
    return Statement(insert(table).values({n: bindparam(n) for n in names}))


def _plain_and_locked(query) -> tuple[Statement, Statement]:
    """A read, and the same read locking its rows on PostgreSQL (FOR UPDATE; SQLite has one writer
    at a time anyway): a change reads the row it is about to change, so that two changes of one row
    run one after the other, the second from what the first left."""
    return Statement(query), Statement(query.with_for_update())


_BY_ID, _BY_ID_LOCKED = _plain_and_locked(select(*_CAMPAIGN_COLS, CAMPAIGNS.c.removed_at).where(CAMPAIGNS.c.id == _KEY))
_BY_REQUEST = Statement(select(*_CAMPAIGN_COLS).where(CAMPAIGNS.c.request_id == _KEY))
_QUEUED = select(*_CAMPAIGN_COLS).where(
    # literals, not bound parameters: the planner must see the partial index's own predicate
    CAMPAIGNS.c.state == literal_column("'queued'"), CAMPAIGNS.c.enabled == true(), CAMPAIGNS.c.removed_at.is_(None))
# the next campaign in queue order whose repeat cooldown is over, read along the partial index of
# queued campaigns: the completed ones ranked ahead are not even looked at
_NEXT_DUE = Statement(_QUEUED.where(or_(CAMPAIGNS.c.not_before.is_(None), CAMPAIGNS.c.not_before <= _KEY))
                      .order_by(*_ORDER).limit(1), sqlite_index=("campaigns", "ix_campaigns_queue"))
# the repeat campaign whose cooldown ends first
_NEXT_COOLING = Statement(_QUEUED.where(CAMPAIGNS.c.not_before > _KEY).order_by(CAMPAIGNS.c.not_before).limit(1))
#: the kept count of the queued campaigns that are disabled (beside one per state; not a state)
DISABLED = "disabled"
_COUNT_STATE = Statement(select(COUNTS.c.n).where(COUNTS.c.state == _KEY))
_COUNT_ALL = Statement(select(func.sum(COUNTS.c.n)).where(COUNTS.c.state != DISABLED))


def _disabled(state, enabled, removed_at) -> bool:
    return str(state) == "queued" and not enabled and removed_at is None


_BUMP = Statement(update(COUNTS).where(COUNTS.c.state == _KEY).values(n=COUNTS.c.n + bindparam("delta")))
# the state a change starts from (locked on PostgreSQL, so the counts move with the row)
_STATE_OF = Statement(select(CAMPAIGNS.c.state, CAMPAIGNS.c.removed_at, CAMPAIGNS.c.enabled)
                      .where(CAMPAIGNS.c.id == _KEY)
                      .with_for_update())
_INSERT_CAMPAIGN = _insert(CAMPAIGNS, *CAMPAIGN_FIELDS, "rank_key", "request_id", "removed_at")
_HANDOFF_OF = Statement(select(HANDOFFS.c.run_id).where(HANDOFFS.c.run_id == _KEY))
_ADD_HANDOFF = _insert(HANDOFFS, "run_id", "campaign_id", "created_at", "tries", "next_try_at", "last_error")
_DUE_HANDOFFS = Statement(select(HANDOFFS.c.run_id, HANDOFFS.c.campaign_id, HANDOFFS.c.tries)
                          .where(HANDOFFS.c.next_try_at <= _KEY).order_by(HANDOFFS.c.next_try_at, HANDOFFS.c.run_id)
                          .limit(bindparam("limit")))
_DROP_HANDOFF = Statement(delete(HANDOFFS).where(HANDOFFS.c.run_id == _KEY))
_RETRY_HANDOFF = Statement(update(HANDOFFS).where(HANDOFFS.c.run_id == _KEY).values(
    tries=bindparam("tries"), next_try_at=bindparam("next_try_at"), last_error=bindparam("last_error")))
_COUNT_HANDOFFS = Statement(select(func.count()).select_from(HANDOFFS))
_RERANK = Statement(update(CAMPAIGNS).values(rank_key=CAMPAIGNS.c.priority * bindparam("step")
                                             + CAMPAIGNS.c.queued_at))
_DAEMON, _DAEMON_LOCKED = _plain_and_locked(select(DAEMON.c.state, DAEMON.c.data_ready, DAEMON.c.data_reason,
                                                    DAEMON.c.updated_at).where(DAEMON.c.id == 1))
_INSERT_DAEMON = _insert(DAEMON, "id", "state", "data_ready", "data_reason", "updated_at")
_INSERT_ATTEMPT = _insert(ATTEMPTS, *ATTEMPT_FIELDS)
_ATTEMPT = Statement(select(*(ATTEMPTS.c[f] for f in ATTEMPT_FIELDS))
                     .where(ATTEMPTS.c.campaign_id == _KEY, ATTEMPTS.c.number == bindparam("number")))
_RUNNING_ATTEMPTS = Statement(select(*(ATTEMPTS.c[f] for f in ATTEMPT_FIELDS))
                              .where(ATTEMPTS.c.state == str(RunStatus.RUNNING)).order_by(ATTEMPTS.c.started_at))
_RUNNING_PER_MINER = Statement(select(ATTEMPTS.c.miner_id, func.count()).where(
    ATTEMPTS.c.state == str(RunStatus.RUNNING)).group_by(ATTEMPTS.c.miner_id))
_MINERS = Statement(select(*(MINERS.c[f] for f in MINER_FIELDS)).order_by(MINERS.c.miner_id))
_MINER, _MINER_LOCKED = _plain_and_locked(select(*(MINERS.c[f] for f in MINER_FIELDS)).where(MINERS.c.miner_id == _KEY))
# a lease, locked on PostgreSQL: two schedulers that both find it expired take turns, and the second
# sees the first one's claim
# (NOWAIT: a lease row held by a frozen scheduler's transaction fails at once, and the caller
# stands by, instead of waiting with it)
_LEASE = Statement(select(*(LEASES.c[f] for f in LEASE_FIELDS)).where(LEASES.c.name == _KEY)
                   .with_for_update(nowait=True))
_INSERT_CHANGE = _insert(CHANGES, *CHANGE_FIELDS[1:])
_INSERT_EVENT = _insert(ACTIVITY, *EVENT_FIELDS[1:])
_EVENTS_AFTER = Statement(select(*(ACTIVITY.c[f] for f in EVENT_FIELDS)).where(ACTIVITY.c.seq > _KEY)
                          .order_by(ACTIVITY.c.seq).limit(bindparam("limit")))
# the seq before the newest `limit` events: where a look at the last few starts
_BEFORE_NEWEST = Statement(select(ACTIVITY.c.seq).order_by(ACTIVITY.c.seq.desc()).offset(bindparam("limit"))
                           .limit(1))


@functools.lru_cache(maxsize=None)
def _insert_into(table_name: str, cols: tuple[str, ...]) -> Statement:
    return _insert(Base.metadata.tables[table_name], *cols)


@functools.lru_cache(maxsize=None)
def _update(table_name: str, key_cols: tuple[str, ...], cols: tuple[str, ...], returning: tuple = ()) -> Statement:
    """UPDATE <table> SET <cols> WHERE <key cols> [RETURNING <columns>]; one compiled statement per
    combination."""
    table = Base.metadata.tables[table_name]
    stmt = (update(table).where(*(table.c[k] == bindparam(f"key_{k}") for k in key_cols))
            .values({c: bindparam(c) for c in cols}))
    return Statement(stmt.returning(*(table.c[c] for c in returning)) if returning else stmt)


@functools.lru_cache(maxsize=None)
def _listed(count: bool, state: bool, tag: bool, enabled_only: bool) -> Statement:
    """The queue in order, with the filters asked for, or its size."""
    q = (select(func.count()) if count else select(*_CAMPAIGN_COLS)).select_from(CAMPAIGNS)
    q = q.where(CAMPAIGNS.c.removed_at.is_(None))
    if state:
        q = q.where(CAMPAIGNS.c.state == bindparam("state"))
    if enabled_only:
        q = q.where(CAMPAIGNS.c.enabled == true())
    if tag:
        # tags are a JSON array: match the quoted element in its text form (same on both databases)
        q = q.where(cast(CAMPAIGNS.c.tags, String).like(bindparam("tag"), escape="/"))
    if not count:
        q = q.order_by(*_ORDER).limit(bindparam("limit")).offset(bindparam("offset"))
    return Statement(q)


@functools.lru_cache(maxsize=None)
def _changes(of_campaign: bool) -> Statement:
    q = select(*(CHANGES.c[f] for f in CHANGE_FIELDS)).where(CHANGES.c.id > bindparam("after"))
    if of_campaign:
        q = q.where(CHANGES.c.campaign_id == bindparam("campaign_id"))
    return Statement(q.order_by(CHANGES.c.id).limit(bindparam("limit")))


def _like_element(tag: str) -> str:
    """A LIKE pattern matching the JSON-quoted tag as an element of the tags array's text."""
    quoted = json.dumps(tag)
    return "%" + quoted.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


_TAGS = CAMPAIGN_FIELDS.index("tags")


_STATE = CAMPAIGN_FIELDS.index("state")
_STATES = {s.value: s for s in CampaignState}


def _campaign(r) -> Campaign:
    """From a row whose first columns are CAMPAIGN_FIELDS, in order."""
    c = Campaign(*r[:_TAGS], tuple(r[_TAGS] or ()), *r[_TAGS + 1:len(CAMPAIGN_FIELDS)])
    c.state = _STATES[c.state]
    return c


def _attempt(r) -> Attempt:
    return Attempt(r[0], r[1], RunStatus(r[2]), *r[3:])


class SchedulerTx:
    """The scheduler's queries and writes within one transaction."""

    def __init__(self, tx: Tx):
        self.tx = tx
        self._moved: dict[str, int] = {}        # the kept counts' changes, written at the end

    def before_commit(self) -> None:
        """The kept counts move last, in one order: every change of the queue updates one of a few
        rows, and a row locked from the first change of a transaction to its COMMIT made the
        concurrent calls on PostgreSQL wait for each other (adds at a p50 of 92 ms in
        bench/scheduler_queue.py); two transactions that move two counts lock them in the same
        order, so they never deadlock."""
        moved, self._moved = self._moved, {}
        for state in sorted(moved):
            if moved[state] and self.tx.touched(_BUMP, key=state, delta=moved[state]) != 1:
                raise LookupError(f"campaign_counts has no row for {state!r} (migrations 0003 and 0011)")

    # ---- daemon
    def daemon(self, lock: bool = False) -> DaemonStatus | None:
        """The daemon as last saved; None before anyone changed it (the domain decides what that
        means). ``lock``: its row is locked until the transaction ends (a change of it)."""
        row = self.tx.first(_DAEMON_LOCKED if lock else _DAEMON)
        if row is None:
            return None
        return DaemonStatus(DaemonState(row[0]), *row[1:])

    def save_daemon(self, d: DaemonStatus) -> None:
        values = {"state": str(d.state), "data_ready": d.data_ready, "data_reason": d.data_reason,
                  "updated_at": d.updated_at}
        if not self.tx.touched(_update("daemon", ("id",), tuple(sorted(values))), key_id=1, **values):
            self.tx.run(_INSERT_DAEMON, id=1, **values)

    # ---- campaigns
    def get(self, campaign_id: str, *, include_removed: bool = False, lock: bool = False) -> Campaign | None:
        """``lock``: the row is locked until the transaction ends (a change's "before")."""
        row = self.tx.first(_BY_ID_LOCKED if lock else _BY_ID, key=campaign_id)
        if row is None or (row[-1] is not None and not include_removed):
            return None
        return _campaign(row)

    def by_request_id(self, request_id: str) -> Campaign | None:
        row = self.tx.first(_BY_REQUEST, key=request_id)
        return _campaign(row) if row is not None else None

    def insert(self, c: Campaign, rank_key: float, request_id: str | None) -> None:
        self.tx.run(_INSERT_CAMPAIGN, **{**{f: getattr(c, f) for f in CAMPAIGN_FIELDS}, "tags": list(c.tags)},
                    rank_key=rank_key, request_id=request_id, removed_at=None)
        self._bump(c.state, 1)
        if _disabled(c.state, c.enabled, None):
            self._bump(DISABLED, 1)

    def update(self, campaign_id: str, **values) -> Campaign:
        if "tags" in values:
            values["tags"] = list(values["tags"])
        counted = "state" in values or "removed_at" in values or "enabled" in values
        if counted:
            before = self.tx.first(_STATE_OF, key=campaign_id)
        # the row as it is now, from the UPDATE itself (RETURNING: SQLite 3.35+, PostgreSQL)
        row = self.tx.first(_update("campaigns", ("id",), tuple(sorted(values)), CAMPAIGN_FIELDS),
                            key_id=campaign_id, **values)
        if row is None:
            raise LookupError(f"campaign {campaign_id!r} vanished inside its own transaction")
        if counted:
            was = before[0] if before[1] is None else None
            removed = values.get("removed_at", before[1])
            now = values.get("state", before[0]) if removed is None else None
            if was != now:
                if was is not None:
                    self._bump(was, -1)
                if now is not None:
                    self._bump(now, 1)
            off_before = _disabled(before[0], before[2], before[1])
            off_now = _disabled(values.get("state", before[0]), values.get("enabled", before[2]), removed)
            if off_before != off_now:
                self._bump(DISABLED, 1 if off_now else -1)
        return _campaign(row)

    def _bump(self, state: str, delta: int) -> None:
        state = str(state)
        self._moved[state] = self._moved.get(state, 0) + delta

    def list(self, *, state="", tag="", enabled_only=False, offset=0, limit=50) -> tuple[list[Campaign], int]:
        """Queue order: aged priority (rank_key), then age, then id; one page and the total."""
        params = {"state": state, "tag": _like_element(tag)}
        rows = self.tx.all(_listed(False, bool(state), bool(tag), enabled_only), **params, offset=offset,
                           limit=limit)
        if tag or enabled_only:         # a filter the kept counts do not know: count the matches
            total = self.tx.scalar(_listed(True, bool(state), bool(tag), enabled_only), **params)
        else:                           # the whole queue, or one state: the kept counts
            total = self.count(state) if state else (int(self.tx.scalar(_COUNT_ALL) or 0)
                                                     + sum(d for s, d in self._moved.items() if s != DISABLED))
        # on PostgreSQL a read's two statements see two moments: a campaign removed between them
        # (added, when the count came first) made a page longer than its total
        return [_campaign(r) for r in rows], max(total, offset + len(rows))

    def next_queued(self, now: float) -> Campaign | None:
        """The campaign to admit at ``now``: queued, enabled, first in queue order, not cooling down."""
        row = self.tx.first(_NEXT_DUE, key=now)
        return _campaign(row) if row is not None else None

    def next_cooling(self, now: float) -> Campaign | None:
        """Of the queued repeat campaigns still in their cooldown at ``now``, the one it ends first for."""
        row = self.tx.first(_NEXT_COOLING, key=now)
        return _campaign(row) if row is not None else None

    def count(self, state: str) -> int:
        """The kept count of ``state``, with what this transaction moved so far."""
        state = str(state)
        return (self.tx.scalar(_COUNT_STATE, key=state) or 0) + self._moved.get(state, 0)

    def count_disabled(self) -> int:
        """Queued campaigns that are disabled (counted among the queued too)."""
        return self.count(DISABLED)

    def rerank_all(self, step_seconds: float) -> None:
        self.tx.run(_RERANK, step=step_seconds)

    # ---- attempts
    def insert_attempt(self, a: Attempt) -> None:
        self.tx.run(_INSERT_ATTEMPT, **{f: getattr(a, f) for f in ATTEMPT_FIELDS})

    def attempt(self, campaign_id: str, number: int) -> Attempt | None:
        row = self.tx.first(_ATTEMPT, key=campaign_id, number=number)
        return _attempt(row) if row is not None else None

    def update_attempt(self, campaign_id: str, number: int, **values) -> Attempt:
        self.tx.run(_update("attempts", ("campaign_id", "number"), tuple(sorted(values))),
                    key_campaign_id=campaign_id, key_number=number, **values)
        return self.attempt(campaign_id, number)

    def running_attempts(self) -> list[Attempt]:
        return [_attempt(r) for r in self.tx.all(_RUNNING_ATTEMPTS)]

    def running_per_miner(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.tx.all(_RUNNING_PER_MINER)}

    # ---- miners
    def miners(self) -> list[Miner]:
        return [Miner(*r) for r in self.tx.all(_MINERS)]

    def miner(self, miner_id: str, lock: bool = False) -> Miner | None:
        """``lock``: its row is locked until the transaction ends (a registration)."""
        row = self.tx.first(_MINER_LOCKED if lock else _MINER, key=miner_id)
        return Miner(*row) if row is not None else None

    def _save(self, table: str, fields: tuple[str, ...], row, new: bool) -> None:
        """Insert ``row`` (a dataclass whose first field is the key), or update it by its key."""
        values = {f: getattr(row, f) for f in fields}
        if new:
            self.tx.run(_insert_into(table, fields), **values)
        else:
            key = fields[0]
            self.tx.run(_update(table, (key,), fields[1:]), **{f"key_{key}": values.pop(key)}, **values)

    def save_miner(self, m: Miner, new: bool) -> None:
        self._save("miners", MINER_FIELDS, m, new)

    # ---- leases
    def lease(self, name: str) -> Lease:
        """The lease (a row migration 0012 made), locked until the transaction ends (PostgreSQL;
        SQLite's writer holds it anyway); DatabaseBusy if another transaction holds it."""
        return Lease(*self.tx.first(_LEASE, key=name))

    def save_lease(self, lease: Lease) -> None:
        self._save("leases", LEASE_FIELDS, lease, False)

    # ---- logs
    def log_change(self, campaign_id: str, action: str, actor: str, at: float, before: dict | None,
                   after: dict | None, reason: str) -> None:
        self.tx.run(_INSERT_CHANGE, campaign_id=campaign_id, action=action, actor=actor, at=at, before=before,
                    after=after, reason=reason)

    def changes(self, campaign_id: str = "", after_id: int = 0, limit: int = 100) -> list[QueueChange]:
        rows = self.tx.all(_changes(bool(campaign_id)), after=after_id, campaign_id=campaign_id, limit=limit)
        return [QueueChange(*r) for r in rows]

    # ---- the promotion outbox
    def add_handoff(self, run_id: str, campaign_id: str, at: float) -> None:
        """A completed run to hand to the promoter (once per run)."""
        if self.tx.scalar(_HANDOFF_OF, key=run_id) is None:
            self.tx.run(_ADD_HANDOFF, run_id=run_id, campaign_id=campaign_id, created_at=at, tries=0, next_try_at=at,
                        last_error="")

    def due_handoffs(self, now: float, limit: int = 20) -> list[tuple[str, str, int]]:
        return [tuple(r) for r in self.tx.all(_DUE_HANDOFFS, key=now, limit=limit)]

    def drop_handoff(self, run_id: str) -> None:
        self.tx.run(_DROP_HANDOFF, key=run_id)

    def retry_handoff(self, run_id: str, tries: int, next_try_at: float, error: str) -> None:
        self.tx.run(_RETRY_HANDOFF, key=run_id, tries=tries, next_try_at=next_try_at, last_error=error[:2000])

    def pending_handoffs(self) -> int:
        return self.tx.scalar(_COUNT_HANDOFFS) or 0

    def log_event(self, at: float, kind: str, actor: str, message: str, campaign_id: str = "",
                  detail: dict | None = None) -> None:
        self.tx.run(_INSERT_EVENT, at=at, kind=kind, actor=actor, message=message, campaign_id=campaign_id,
                    detail=detail or {})

    def events_after(self, seq: int, limit: int = 500) -> list[Event]:
        return [Event(*r[:6], r[6] or {}) for r in self.tx.all(_EVENTS_AFTER, key=seq, limit=limit)]

    def seq_before_newest(self, n: int) -> int:
        """The seq after which the newest ``n`` events come (0 when there are no more than ``n``)."""
        return int(self.tx.scalar(_BEFORE_NEWEST, limit=n) or 0)


class SchedulerStore(Store):
    queries = SchedulerTx
