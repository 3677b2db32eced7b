"""The scheduler's decisions: daemon state, the campaign queue, admission, attempts and reports.

Every change is one transaction that also writes the queue change log (for queue changes) and the
activity log (for every state change); a watcher is woken after the commit. Nothing here knows gRPC
or SQL: the store and the miner gateway are handed in.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from omp_core import config as campaign_config
from services.common.clock import Clock
from services.common.notify import Notifier
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, OmpError
from services.common.paths import resolve_under
from services.common.settings import Settings
from services.scheduler.repository import Attempt, Campaign, SchedulerStore
from services.scheduler.resources import Reading

MARKETS = ("br", "us", "crypto", "fx")
DAEMON_STATES = ("offline", "running", "paused")
TRANSITIONS = {"start": ({"offline"}, "running"), "stop": ({"running", "paused"}, "offline"),
               "pause": ({"running"}, "paused"), "resume": ({"paused"}, "running")}
UPDATABLE = ("name", "config_path", "market", "priority", "enabled", "repeat", "tags")
ID_RE = re.compile(r"^camp_[A-Za-z0-9_-]{1,59}$")
MAX_PRIORITY = 1_000_000


class MinerGateway(Protocol):
    def register(self, address: str) -> None: ...
    def start_run(self, campaign_id: str, attempt: int, config_path: str, config_hash: str) -> str: ...
    def get_run(self, campaign_id: str, attempt: int) -> "RunState | None": ...


@dataclass(frozen=True)
class RunState:
    run_id: str
    status: str          # running, completed, failed, cancelled
    error: str = ""


@dataclass(frozen=True)
class CampaignSpec:
    """What an operator gives to add a campaign."""
    name: str
    config_path: str
    market: str = "us"
    priority: int = 10
    enabled: bool = True
    repeat: bool = False
    tags: tuple[str, ...] = ()
    id: str = ""


class Scheduler:
    def __init__(self, store: SchedulerStore, settings: Settings, clock: Clock, probe, miner: MinerGateway,
                 notifier: Notifier | None = None, metrics=None):
        self.store, self.settings, self.clock, self.probe, self.miner = store, settings, clock, probe, miner
        self.notifier = notifier or Notifier()
        self.metrics = metrics
        self.cfg = settings.scheduler
        self.last_tick_at: float | None = None
        self.last_tick_outcome = ""
        self.last_reading: Reading | None = None
        self._tick_lock = threading.Lock()
        #: set when admission may have become possible (daemon started, campaign added or enabled,
        #: a run ended): the main loop ticks at once instead of waiting out its interval
        self.wake = threading.Event()
        self._daemon_state = "unknown"      # last seen; only a running daemon is worth waking

    # ------------------------------------------------------------------------------ helpers
    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _rank(self, priority: int, queued_at: float) -> float:
        return priority * self.cfg.aging_hours_per_step * 3600.0 + queued_at

    def rerank(self) -> None:
        """Recompute every rank key (the aging step may have changed since the last start)."""
        with self.store.tx() as tx:
            tx.rerank_all(self.cfg.aging_hours_per_step * 3600.0)

    def _get(self, tx, campaign_id: str) -> Campaign:
        c = tx.get(campaign_id)
        if c is None:
            raise NotFound(f"campaign.id: no campaign {campaign_id!r}")
        return c

    def _committed(self, wake: bool = False):
        """After a change: wake the event watchers (and the main loop, when admission may have
        become possible) once the change is committed, not before."""
        self.store.on_commit(self._wake_all if wake else self._wake_watchers)

    def _wake_watchers(self) -> None:
        self.notifier.notify()

    def _wake_all(self) -> None:
        self.notifier.notify()
        if self._daemon_state != "offline":
            self.wake.set()

    def check_config_path(self, value: str, field: str = "campaign.config_path") -> Path:
        """A config path must be relative, stay under the configs root once resolved (so no ``..``,
        absolute path or symlink leads out), and name an existing file."""
        return resolve_under(self.settings.configs_root, value, field)

    def _check_spec(self, s: CampaignSpec, field: str = "campaign") -> CampaignSpec:
        name = s.name.strip()
        if not 1 <= len(name) <= 200:
            raise InvalidArgument(f"{field}.name must be 1..200 characters, got {s.name!r}")
        if not 0 <= s.priority <= MAX_PRIORITY:
            raise InvalidArgument(f"{field}.priority must be in 0..{MAX_PRIORITY}, got {s.priority}")
        if s.market not in MARKETS:
            raise InvalidArgument(f"{field}.market must be one of {MARKETS}, got {s.market!r}")
        if len(s.tags) > 20 or any(not 1 <= len(t) <= 50 for t in s.tags):
            raise InvalidArgument(f"{field}.tags must be at most 20 tags of 1..50 characters, got {list(s.tags)}")
        if s.id and not ID_RE.match(s.id):
            raise InvalidArgument(f"{field}.id must look like camp_<letters, digits, _ or ->, got {s.id!r}")
        self.check_config_path(s.config_path, f"{field}.config_path")
        return replace(s, name=name, tags=tuple(s.tags))

    @staticmethod
    def _need_reason(reason: str, what: str) -> None:
        if not reason.strip():
            raise InvalidArgument(f"reason is required to {what}")

    # ------------------------------------------------------------------------------ daemon
    def status(self) -> dict:
        now = self._now()
        with self.store.read() as tx:
            d = tx.daemon(now)
            queued, running = tx.count("queued"), tx.count("running")
        return {"daemon": d, "queued": queued, "running": running, "reading": self.last_reading,
                "last_tick_at": self.last_tick_at, "last_tick_outcome": self.last_tick_outcome}

    def transition(self, action: str, actor: str, reason: str = "") -> str:
        allowed, target = TRANSITIONS[action]
        now = self._now()
        with self.store.tx() as tx:
            current = tx.daemon(now).state
            if current not in allowed:
                raise FailedPrecondition(f"daemon.state: cannot {action} while {current} "
                                         f"(allowed from {sorted(allowed)})")
            tx.set_daemon(now, state=target)
            self._daemon_state = target
            tx.log_event(now, f"daemon.{target}", actor, f"daemon {current} -> {target}"
                         + (f": {reason}" if reason else ""), detail={"from": current, "to": target})
        self._committed(wake=target == "running")
        return target

    def set_data_ready(self, ready: bool, actor: str, reason: str) -> None:
        if not ready:
            self._need_reason(reason, "mark data not ready")
        now = self._now()
        with self.store.tx() as tx:
            tx.set_daemon(now, data_ready=ready, data_reason=reason)
            tx.log_event(now, "data.ready" if ready else "data.not_ready", actor,
                         f"data readiness: {'ready' if ready else 'NOT ready'}" + (f" ({reason})" if reason else ""))
        self._committed(wake=ready)

    # ------------------------------------------------------------------------------ queue
    def add(self, spec: CampaignSpec, actor: str, reason: str = "", request_id: str = "") -> Campaign:
        if len(request_id) > 128:
            raise InvalidArgument(f"request_id must be at most 128 characters, got {len(request_id)}")
        spec = self._check_spec(spec)
        now = self._now()
        with self.store.tx() as tx:
            if request_id:
                seen = tx.by_request_id(request_id)
                if seen is not None:     # a retried add: the first answer, no second campaign
                    return seen
            # a chosen id may be taken; a drawn one (64 random bits) is left to the primary key
            if spec.id and tx.get(spec.id, include_removed=True) is not None:
                raise InvalidArgument(f"campaign.id {spec.id!r} is already taken")
            cid = spec.id or f"camp_{secrets.token_hex(8)}"
            c = Campaign(cid, spec.name, spec.config_path, spec.market, spec.priority, spec.enabled, spec.repeat,
                         spec.tags, "queued", now, now, now)
            tx.insert(c, self._rank(c.priority, now), request_id or None)
            tx.log_change(cid, "add", actor, now, None, c.public(), reason)
            tx.log_event(now, "campaign.added", actor, f"campaign {c.name!r} added at priority {c.priority}", cid)
        self._committed(wake=True)
        return c

    def get(self, campaign_id: str) -> Campaign:
        with self.store.read() as tx:
            return self._get(tx, campaign_id)

    def list(self, **filters) -> tuple[list[Campaign], int]:
        with self.store.read() as tx:
            return tx.list(**filters)

    def update(self, campaign_id: str, changes: dict, actor: str, reason: str = "") -> Campaign:
        unknown = sorted(set(changes) - set(UPDATABLE))
        if unknown:
            raise InvalidArgument(f"update_mask: unknown or read-only field {unknown[0]!r} (updatable: {list(UPDATABLE)})")
        if not changes:
            raise InvalidArgument("update_mask: names no field")
        now = self._now()
        with self.store.tx() as tx:
            before = self._get(tx, campaign_id)
            merged = replace(CampaignSpec(before.name, before.config_path, before.market, before.priority,
                                          before.enabled, before.repeat, before.tags), **changes)
            if "config_path" in changes or "name" in changes or "market" in changes or "tags" in changes \
                    or "priority" in changes:
                merged = self._check_spec(merged)
            if "priority" in changes and changes["priority"] != before.priority:
                self._need_reason(reason, "reorder a campaign")
            if changes.get("enabled") is False and before.enabled:
                self._need_reason(reason, "disable a campaign")
            values = {k: getattr(merged, k) for k in changes}
            if "priority" in values:
                values["rank_key"] = self._rank(values["priority"], before.queued_at)
            after = tx.update(campaign_id, updated_at=now, **values)
            tx.log_change(campaign_id, "update", actor, now, before.public(), after.public(), reason)
            tx.log_event(now, "campaign.updated", actor, f"campaign {after.name!r} updated: {sorted(changes)}",
                         campaign_id)
        self._committed()
        return after

    def reorder(self, campaign_id: str, priority: int, actor: str, reason: str) -> Campaign:
        self._need_reason(reason, "reorder a campaign")
        if not 0 <= priority <= MAX_PRIORITY:
            raise InvalidArgument(f"priority must be in 0..{MAX_PRIORITY}, got {priority}")
        return self._simple(campaign_id, "reorder", actor, reason, priority=priority)

    def set_enabled(self, campaign_id: str, enabled: bool, actor: str, reason: str) -> Campaign:
        if not enabled:
            self._need_reason(reason, "disable a campaign")
            return self._simple(campaign_id, "disable", actor, reason, enabled=False)
        # enabling is the operator's "go": it also ends a repeat campaign's cooldown
        return self._simple(campaign_id, "enable", actor, reason, enabled=True, not_before=None)

    def _simple(self, campaign_id: str, action: str, actor: str, reason: str, **values) -> Campaign:
        now = self._now()
        with self.store.tx() as tx:
            before = self._get(tx, campaign_id)
            if "priority" in values:
                values["rank_key"] = self._rank(values["priority"], before.queued_at)
            after = tx.update(campaign_id, updated_at=now, **values)
            tx.log_change(campaign_id, action, actor, now, before.public(), after.public(), reason)
            tx.log_event(now, f"campaign.{action}", actor, f"campaign {after.name!r}: {action}"
                         + (f" ({reason})" if reason else ""), campaign_id)
        self._committed(wake=True)
        return after

    def remove(self, campaign_id: str, actor: str, reason: str) -> Campaign:
        self._need_reason(reason, "remove a campaign")
        now = self._now()
        with self.store.tx() as tx:
            before = self._get(tx, campaign_id)
            if before.state == "running":
                raise FailedPrecondition(f"campaign.state: {campaign_id} is running; cancel its run first")
            tx.update(campaign_id, removed_at=now, updated_at=now, enabled=False)
            tx.log_change(campaign_id, "remove", actor, now, before.public(), None, reason)
            tx.log_event(now, "campaign.removed", actor, f"campaign {before.name!r} removed ({reason})", campaign_id)
        self._committed()
        return before

    def changes(self, campaign_id: str = "", after_id: int = 0, limit: int = 100):
        with self.store.read() as tx:
            return tx.changes(campaign_id, after_id, limit)

    def events_after(self, seq: int, limit: int = 500):
        with self.store.read() as tx:
            return tx.events_after(seq, limit)

    # ------------------------------------------------------------------------------ import / export
    def export_queue(self) -> bytes:
        campaigns, _ = self.list(offset=0, limit=10**9)
        doc = {"version": "1.0", "updated_at": _iso(self._now(), "auto"), "campaigns": [
            {"id": c.id, "name": c.name, "config_path": c.config_path, "market": c.market, "priority": c.priority,
             "enabled": c.enabled, "repeat": c.repeat, "tags": list(c.tags), "created_at": _iso(c.created_at, "auto")}
            for c in campaigns]}
        return (json.dumps(doc, indent=2) + "\n").encode()

    def import_queue(self, data: bytes, actor: str, reason: str = "") -> tuple[list[Campaign], int]:
        """The playbook's ``campaign_queue.json``; every entry is checked before anything is written,
        ids already present are skipped."""
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"queue_json is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("campaigns"), list):
            raise InvalidArgument("queue_json must be an object with a 'campaigns' array")
        if doc.get("version", "1.0") != "1.0":
            raise InvalidArgument(f"queue_json.version must be '1.0', got {doc.get('version')!r}")
        specs = []
        allowed = {"id", "name", "config_path", "market", "priority", "enabled", "repeat", "tags", "created_at"}
        for i, e in enumerate(doc["campaigns"]):
            where = f"queue_json.campaigns[{i}]"
            if not isinstance(e, dict):
                raise InvalidArgument(f"{where} must be an object")
            extra = sorted(set(e) - allowed)
            if extra:
                raise InvalidArgument(f"{where}.{extra[0]}: unknown key")
            spec = CampaignSpec(id=str(e.get("id", "")), name=str(e.get("name", "")),
                                config_path=str(e.get("config_path", "")), market=str(e.get("market", "us")),
                                priority=_int(e.get("priority", 10), f"{where}.priority"),
                                enabled=_bool(e.get("enabled", True), f"{where}.enabled"),
                                repeat=_bool(e.get("repeat", False), f"{where}.repeat"),
                                tags=tuple(_strs(e.get("tags", []), f"{where}.tags")))
            specs.append(self._check_spec(spec, where))
        ids = [s.id for s in specs if s.id]
        if len(ids) != len(set(ids)):
            raise InvalidArgument("queue_json.campaigns: an id appears twice")
        now = self._now()
        added, skipped = [], 0
        with self.store.tx() as tx:
            for s in specs:
                if s.id and tx.get(s.id, include_removed=True) is not None:
                    skipped += 1
                    continue
                cid = s.id or f"camp_{secrets.token_hex(8)}"
                c = Campaign(cid, s.name, s.config_path, s.market, s.priority, s.enabled, s.repeat, s.tags,
                             "queued", now, now, now)
                tx.insert(c, self._rank(c.priority, now), None)
                tx.log_change(cid, "import", actor, now, None, c.public(), reason)
                added.append(c)
            tx.log_event(now, "queue.imported", actor, f"queue import: {len(added)} added, {skipped} skipped")
        self._committed(wake=True)
        return added, skipped

    # ------------------------------------------------------------------------------ main loop
    def tick(self) -> float:
        """One pass of the main loop: reconcile leases, then admit at most one campaign.
        Returns the seconds until the next tick."""
        with self._tick_lock:
            outcome = self._tick()
        self.last_tick_at, self.last_tick_outcome = self._now(), outcome
        if self.metrics:
            self.metrics.tick(outcome)
        return self.cfg.loop_interval_s

    def _tick(self) -> str:
        self.reconcile()
        now = self._now()
        with self.store.read() as tx:
            d = tx.daemon(now)
            running = tx.count("running")
        self._daemon_state = d.state
        if d.state != "running":
            return f"idle: daemon {d.state}"
        if not d.data_ready:
            return self._refuse("data readiness is uncertain" + (f" ({d.data_reason})" if d.data_reason else ""))
        if running >= self.cfg.max_concurrent_campaigns:
            return f"full: {running} of {self.cfg.max_concurrent_campaigns} campaigns running"
        reading = self.probe.read()
        self.last_reading = reading
        if self.metrics:
            self.metrics.resources(reading)
        if not reading.within_budget:
            why = reading.error and f"no resource reading ({reading.error})" or "; ".join(reading.violations)
            return self._refuse(f"resources over budget: {why}", {"reading": reading.describe()})
        return self._admit_next(now)

    def _refuse(self, why: str, detail: dict | None = None) -> str:
        now = self._now()
        with self.store.tx() as tx:
            if tx.next_queued(now) is None:
                return self._idle(tx, now)
            tx.log_event(now, "admission.refused", "scheduler", f"admission refused: {why}", detail=detail or {})
        self._committed()
        return f"refused: {why}"

    def _admit_next(self, now: float) -> str:
        with self.store.tx() as tx:
            c = tx.next_queued(now)
            if c is None:
                return self._idle(tx, now)
            try:
                path = self.check_config_path(c.config_path)
                chash = campaign_config.load(path).config_hash
            except (InvalidArgument, ValueError) as exc:
                return self._fail_admission(tx, c, now, f"config invalid: {exc}")
            number = c.attempt + 1
            tx.insert_attempt(Attempt(c.id, number, "running", "", chash, now, now + self.cfg.lease_seconds,
                                      None, ""))
            after = tx.update(c.id, state="running", attempt=number, config_hash=chash, updated_at=now)
            tx.log_change(c.id, "admit", "scheduler", now, c.public(), after.public(), f"attempt {number}")
            tx.log_event(now, "campaign.admitted", "scheduler", f"campaign {c.name!r} admitted, attempt {number}",
                         c.id, {"attempt": number, "config_hash": chash,
                                "reading": self.last_reading.describe() if self.last_reading else ""})
        self._committed()
        # the claim is committed before the miner hears of it: a crash here leaves a running attempt
        # whose lease expires and is reconciled, never a run nobody knows about
        try:
            run_id = self.miner.start_run(c.id, number, c.config_path, chash)
        except OmpError as exc:
            self._end_attempt(c.id, number, "failed", "", f"miner did not start the run: {exc}",
                              count_failure=False)
            return f"admitted {c.id} but the miner refused: {exc}"
        with self.store.tx() as tx:
            tx.update_attempt(c.id, number, run_id=run_id)
            tx.update(c.id, last_run_id=run_id)
            tx.log_event(self._now(), "run.started", "miner", f"run {run_id} started", c.id,
                         {"attempt": number, "run_id": run_id})
        self._committed()
        return f"admitted {c.id} attempt {number} as run {run_id}"

    @staticmethod
    def _idle(tx, now: float) -> str:
        cooling = tx.next_cooling(now)
        if cooling is None:
            return "idle: queue empty"
        return f"idle: repeat campaign {cooling.id} waits until {_iso(cooling.not_before)} (cooldown)"

    def _fail_admission(self, tx, c: Campaign, now: float, error: str) -> str:
        after = tx.update(c.id, state="failed", enabled=False, last_error=error, updated_at=now)
        tx.log_change(c.id, "quarantine", "scheduler", now, c.public(), after.public(), error)
        tx.log_event(now, "campaign.quarantined", "scheduler", f"campaign {c.name!r} quarantined: {error}", c.id)
        return f"quarantined {c.id}: {error}"

    # ------------------------------------------------------------------------------ reports
    def register_miner(self, address: str) -> None:
        before = getattr(self.miner, "target", "")
        self.miner.register(address)
        if address != before:
            now = self._now()
            with self.store.tx() as tx:
                tx.log_event(now, "miner.registered", "miner", f"miner at {address}", detail={"address": address})
            self._committed()

    def _fence(self, tx, campaign_id: str, attempt: int) -> tuple[Campaign, Attempt]:
        c = tx.get(campaign_id, include_removed=True)
        if c is None:
            raise NotFound(f"campaign_id: no campaign {campaign_id!r}")
        a = tx.attempt(campaign_id, attempt)
        if a is None or attempt != c.attempt or a.state != "running":
            raise FailedPrecondition(f"attempt: {attempt} is stale for campaign {campaign_id} "
                                     f"(current attempt {c.attempt}, {a.state if a else 'unknown'})")
        return c, a

    def report_progress(self, campaign_id: str, attempt: int, run_id: str, progress: dict) -> float:
        now = self._now()
        with self.store.tx() as tx:
            self._fence(tx, campaign_id, attempt)
            lease = now + self.cfg.lease_seconds
            tx.update_attempt(campaign_id, attempt, lease_expires_at=lease, run_id=run_id)
            if progress.get("generation") == progress.get("generations"):   # a seed finished: worth a record
                tx.log_event(now, "run.progress", "miner",
                             f"run {run_id}: seed {progress.get('seed')} done, best IS Sharpe "
                             f"{progress.get('best_sharpe', 0.0):.2f}", campaign_id,
                             {"attempt": attempt, "run_id": run_id, **progress})
        self._committed()
        return lease

    def report_result(self, campaign_id: str, attempt: int, run_id: str, status: str, error: str = "",
                      actor: str = "miner") -> Campaign:
        if status not in ("completed", "failed", "cancelled"):
            raise InvalidArgument(f"status must be COMPLETED, FAILED or CANCELLED, got {status!r}")
        with self.store.tx() as tx:
            self._fence(tx, campaign_id, attempt)
        return self._end_attempt(campaign_id, attempt, status, run_id, error, actor=actor)

    def _end_attempt(self, campaign_id: str, attempt: int, status: str, run_id: str, error: str, *,
                     count_failure: bool = True, actor: str = "miner") -> Campaign:
        now = self._now()
        with self.store.tx() as tx:
            c, _ = self._fence(tx, campaign_id, attempt)
            tx.update_attempt(campaign_id, attempt, state=status, ended_at=now, error=error,
                              **({"run_id": run_id} if run_id else {}))
            values: dict = {"updated_at": now, "last_error": error}
            if status == "completed":
                values.update(consecutive_failures=0)
                if c.repeat:
                    not_before = now + self.cfg.repeat_cooldown_s if self.cfg.repeat_cooldown_s else None
                    values.update(state="queued", queued_at=now, rank_key=self._rank(c.priority, now),
                                  not_before=not_before)
                    action, msg = "requeue", (f"campaign {c.name!r} completed and re-queued (repeat)"
                                              + (f", next run not before {_iso(not_before)}" if not_before else ""))
                else:
                    values.update(state="completed")
                    action, msg = "complete", f"campaign {c.name!r} completed"
            elif status == "cancelled":
                values.update(state="queued", enabled=False, queued_at=now, rank_key=self._rank(c.priority, now),
                              not_before=None)
                action, msg = "disable", f"campaign {c.name!r}: run cancelled; campaign disabled until re-enabled"
            else:
                fails = c.consecutive_failures + (1 if count_failure else 0)
                values.update(consecutive_failures=fails)
                if fails >= self.cfg.max_consecutive_failures:
                    values.update(state="failed", enabled=False)
                    action, msg = "quarantine", (f"campaign {c.name!r} quarantined after {fails} consecutive "
                                                 f"failures: {error}")
                else:
                    values.update(state="queued", queued_at=now, rank_key=self._rank(c.priority, now),
                                  not_before=None)
                    action, msg = "requeue", f"campaign {c.name!r} failed ({error}); re-queued"
            after = tx.update(campaign_id, **values)
            tx.log_change(campaign_id, action, actor, now, c.public(), after.public(),
                          f"attempt {attempt} {status}" + (f": {error}" if error else ""))
            tx.log_event(now, f"run.{status}", actor, f"run {run_id or '?'} of attempt {attempt} {status}"
                         + (f": {error}" if error else ""), campaign_id,
                         {"attempt": attempt, "run_id": run_id, "error": error})
            tx.log_event(now, f"campaign.{action}", "scheduler", msg, campaign_id)
            if status == "completed":
                # the promoter service comes later: the run waits for it, and says so
                tx.log_event(now, "promotion.pending", "scheduler",
                             f"run {run_id} awaits promotion (no promoter configured)", campaign_id,
                             {"run_id": run_id})
        self._committed(wake=True)
        if self.metrics:
            self.metrics.run_ended(status)
        return after

    def reconcile(self) -> None:
        """Attempts whose lease expired: ask the miner; a run it no longer knows is failed as orphaned."""
        now = self._now()
        with self.store.read() as tx:
            expired = [a for a in tx.running_attempts() if a.lease_expires_at < now]
        for a in expired:
            try:
                state = self.miner.get_run(a.campaign_id, a.number)
            except OmpError as exc:
                state = RunState(a.run_id, "failed", f"orphaned: lease expired and the miner is unreachable ({exc})")
            if state is None:
                state = RunState(a.run_id, "failed", "orphaned: the miner does not know this run")
            try:
                if state.status == "running":
                    with self.store.tx() as tx:
                        tx.update_attempt(a.campaign_id, a.number, lease_expires_at=now + self.cfg.lease_seconds)
                    continue
                self._end_attempt(a.campaign_id, a.number, state.status, state.run_id, state.error,
                                  actor="scheduler")
            except FailedPrecondition:
                continue      # a report arrived meanwhile: it won


def _int(v, field):
    if not isinstance(v, int) or isinstance(v, bool):
        raise InvalidArgument(f"{field} must be an integer, got {v!r}")
    return v


def _bool(v, field):
    if not isinstance(v, bool):
        raise InvalidArgument(f"{field} must be true or false, got {v!r}")
    return v


def _strs(v, field):
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise InvalidArgument(f"{field} must be an array of strings, got {v!r}")
    return v


def _iso(t: float, timespec: str = "seconds") -> str:
    """Epoch seconds as UTC ISO 8601: to the second in messages, in full in the exported queue."""
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec=timespec)
