"""The campaign queue: add, read, change, reorder, enable, remove. Every change is one transaction
that also writes the queue change log and the activity log."""
from __future__ import annotations

import re
import secrets
from dataclasses import replace
from pathlib import Path

from omp_core.config import MARKETS
from omp_services.common.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from omp_services.common.paths import resolve_under
from omp_services.common.vocabulary import CampaignState
from omp_services.scheduler.context import SchedulerContext
from omp_services.scheduler.daemon import need_reason
from omp_services.scheduler.entities import Campaign, CampaignSpec

UPDATABLE = ("name", "config_path", "market", "priority", "enabled", "repeat", "tags")
ID_RE = re.compile(r"^camp_[A-Za-z0-9_-]{1,59}$")
MAX_PRIORITY = 1_000_000


class CampaignQueue:
    def __init__(self, ctx: SchedulerContext):
        self.ctx = ctx

    # ------------------------------------------------------------------------------ rules
    def rank(self, priority: int, queued_at: float) -> float:
        """The sort key of queue order: every waiting campaign gains a priority step per
        ``aging_hours_per_step``, so ordering by priority * step + queued_at is aged priority."""
        return priority * self.ctx.cfg.aging_hours_per_step * 3600.0 + queued_at

    def rerank(self) -> None:
        """Recompute every rank key (the aging step may have changed since the last start)."""
        with self.ctx.store.tx() as tx:
            tx.rerank_all(self.ctx.cfg.aging_hours_per_step * 3600.0)

    def check_config_path(self, value: str, field: str = "campaign.config_path") -> Path:
        """A config path must be relative, stay under the configs root once resolved (so no ``..``,
        absolute path or symlink leads out), and name an existing file."""
        return resolve_under(self.ctx.configs_root, value, field)

    def check_spec(self, s: CampaignSpec, field: str = "campaign") -> CampaignSpec:
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
    def _get(tx, campaign_id: str, lock: bool = False) -> Campaign:
        c = tx.get(campaign_id, lock=lock)
        if c is None:
            raise NotFound(f"campaign.id: no campaign {campaign_id!r}")
        return c

    # ------------------------------------------------------------------------------ changes
    def insert(self, tx, spec: CampaignSpec, actor: str, reason: str, now: float, action: str = "add",
               request_id: str | None = None) -> Campaign:
        """A checked spec as a new queued campaign (inside the caller's transaction)."""
        cid = spec.id or f"camp_{secrets.token_hex(8)}"    # a drawn id (64 random bits) is left to the primary key
        c = Campaign(cid, spec.name, spec.config_path, spec.market, spec.priority, spec.enabled, spec.repeat,
                     spec.tags, CampaignState.QUEUED, now, now, now)
        tx.insert(c, self.rank(c.priority, now), request_id)
        tx.log_change(cid, action, actor, now, None, c.public(), reason)
        return c

    def add(self, spec: CampaignSpec, actor: str, reason: str = "", request_id: str = "") -> Campaign:
        if len(request_id) > 128:
            raise InvalidArgument(f"request_id must be at most 128 characters, got {len(request_id)}")
        spec = self.check_spec(spec)
        now = self.ctx.now()
        try:
            with self.ctx.store.tx() as tx:
                if request_id:
                    seen = tx.by_request_id(request_id)
                    if seen is not None:     # a retried add: the first answer, no second campaign
                        return seen
                if spec.id and tx.get(spec.id, include_removed=True) is not None:
                    raise InvalidArgument(f"campaign.id {spec.id!r} is already taken")
                c = self.insert(tx, spec, actor, reason, now, request_id=request_id or None)
                tx.log_event(now, "campaign.added", actor, f"campaign {c.name!r} added at priority {c.priority}",
                             c.id)
        except Conflict:
            # the same add (a client's retry while the first try was still in the database), or an
            # add of the same id, committed beside this one: the same answers as one after the other
            with self.ctx.store.read() as tx:
                seen = tx.by_request_id(request_id) if request_id else None
            if seen is not None:
                return seen
            if spec.id:
                raise InvalidArgument(f"campaign.id {spec.id!r} is already taken") from None
            raise
        self.ctx.committed(wake=True)
        return c

    def get(self, campaign_id: str) -> Campaign:
        with self.ctx.store.read() as tx:
            return self._get(tx, campaign_id)

    def list(self, **filters) -> tuple[list[Campaign], int]:
        with self.ctx.store.read() as tx:
            return tx.list(**filters)

    def update(self, campaign_id: str, changes: dict, actor: str, reason: str = "") -> Campaign:
        unknown = sorted(set(changes) - set(UPDATABLE))
        if unknown:
            raise InvalidArgument(f"update_mask: unknown or read-only field {unknown[0]!r} (updatable: {list(UPDATABLE)})")
        if not changes:
            raise InvalidArgument("update_mask: names no field")
        now = self.ctx.now()
        with self.ctx.store.tx() as tx:
            before = self._get(tx, campaign_id, lock=True)
            merged = replace(CampaignSpec(before.name, before.config_path, before.market, before.priority,
                                          before.enabled, before.repeat, before.tags), **changes)
            if set(changes) & {"config_path", "name", "market", "tags", "priority"}:
                merged = self.check_spec(merged)
            if "priority" in changes and changes["priority"] != before.priority:
                need_reason(reason, "reorder a campaign")
            if changes.get("enabled") is False and before.enabled:
                need_reason(reason, "disable a campaign")
            values = {k: getattr(merged, k) for k in changes}
            if changes.get("enabled") is True:
                values["not_before"] = None     # enabling is the operator's "go", however it is said
            if "priority" in values:
                values["rank_key"] = self.rank(values["priority"], before.queued_at)
            after = tx.update(campaign_id, updated_at=now, **values)
            tx.log_change(campaign_id, "update", actor, now, before.public(), after.public(), reason)
            tx.log_event(now, "campaign.updated", actor, f"campaign {after.name!r} updated: {sorted(changes)}",
                         campaign_id)
        self.ctx.committed(wake=True)
        return after

    def reorder(self, campaign_id: str, priority: int, actor: str, reason: str) -> Campaign:
        need_reason(reason, "reorder a campaign")
        if not 0 <= priority <= MAX_PRIORITY:
            raise InvalidArgument(f"priority must be in 0..{MAX_PRIORITY}, got {priority}")
        return self._simple(campaign_id, "reorder", actor, reason, priority=priority)

    def set_enabled(self, campaign_id: str, enabled: bool, actor: str, reason: str) -> Campaign:
        if not enabled:
            need_reason(reason, "disable a campaign")
            return self._simple(campaign_id, "disable", actor, reason, enabled=False)
        # enabling is the operator's "go": it also ends a repeat campaign's cooldown
        return self._simple(campaign_id, "enable", actor, reason, enabled=True, not_before=None)

    def _simple(self, campaign_id: str, action: str, actor: str, reason: str, **values) -> Campaign:
        now = self.ctx.now()
        with self.ctx.store.tx() as tx:
            before = self._get(tx, campaign_id, lock=True)
            if "priority" in values:
                values["rank_key"] = self.rank(values["priority"], before.queued_at)
            after = tx.update(campaign_id, updated_at=now, **values)
            tx.log_change(campaign_id, action, actor, now, before.public(), after.public(), reason)
            tx.log_event(now, f"campaign.{action}", actor, f"campaign {after.name!r}: {action}"
                         + (f" ({reason})" if reason else ""), campaign_id)
        self.ctx.committed(wake=True)
        return after

    def requeue(self, campaign_id: str, actor: str, reason: str) -> Campaign:
        """A completed or failed campaign queued again, behind the others of its priority, with a
        fresh count of consecutive failures (its attempts, history and last error kept). A campaign
        quarantined or disabled stays disabled: enabling it is a decision of its own."""
        need_reason(reason, "requeue a campaign")
        now = self.ctx.now()
        with self.ctx.store.tx() as tx:
            before = self._get(tx, campaign_id, lock=True)
            if before.state not in (CampaignState.COMPLETED, CampaignState.FAILED):
                raise FailedPrecondition(f"campaign.state: {campaign_id} is {before.state}: only a completed or "
                                         "failed campaign can be queued again")
            after = tx.update(campaign_id, state=str(CampaignState.QUEUED), not_before=None, queued_at=now,
                              rank_key=self.rank(before.priority, now), consecutive_failures=0, updated_at=now)
            tx.log_change(campaign_id, "requeue", actor, now, before.public(), after.public(), reason)
            tx.log_event(now, "campaign.requeue", actor, f"campaign {after.name!r} queued again by hand ({reason})"
                         + ("" if after.enabled else "; it stays disabled until enabled"), campaign_id)
        self.ctx.committed(wake=True)
        return after

    def remove(self, campaign_id: str, actor: str, reason: str) -> Campaign:
        need_reason(reason, "remove a campaign")
        now = self.ctx.now()
        with self.ctx.store.tx() as tx:
            before = self._get(tx, campaign_id, lock=True)
            if before.state == CampaignState.RUNNING:
                raise FailedPrecondition(f"campaign.state: {campaign_id} is running; cancel its run first")
            tx.update(campaign_id, removed_at=now, updated_at=now, enabled=False)
            tx.log_change(campaign_id, "remove", actor, now, before.public(), None, reason)
            tx.log_event(now, "campaign.removed", actor, f"campaign {before.name!r} removed ({reason})", campaign_id)
        self.ctx.committed()
        return before

    # ------------------------------------------------------------------------------ change log
    def changes(self, campaign_id: str = "", after_id: int = 0, limit: int = 100):
        with self.ctx.store.read() as tx:
            return tx.changes(campaign_id, after_id, limit)
