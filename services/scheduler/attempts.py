"""Attempts: the miner's reports (fenced by attempt number), settling an attempt's end into the
campaign's next state, reconciling attempts whose lease expired, and handing completed runs on to
promotion."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

from omp_services.common.clock import iso
from omp_services.common.findings import Finding
from omp_services.common.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument, NotFound, OmpError, Unavailable
from omp_services.common.vocabulary import CampaignState, RunStatus, blames_campaign
from omp_services.scheduler.campaign_queue import CampaignQueue
from omp_services.scheduler.context import SchedulerContext
from omp_services.scheduler.entities import Attempt, Campaign, RunState
from omp_services.scheduler.miners import Miners
from omp_services.scheduler.ports import MinerGateway, PromoterGateway

log = logging.getLogger("omp.scheduler")
#: the first wait after PromoteRun failed, and the longest (doubling in between)
HANDOFF_FIRST_S, HANDOFF_MAX_S = 1.0, 600.0
#: a run the promoter refused (not: could not be reached) this many times is reported (SEV-1)
HANDOFF_REPORT_AFTER = 5


@dataclass(frozen=True)
class Settlement:
    """What an ended attempt does to its campaign."""
    values: dict            # the campaign's changed columns
    action: str             # the change log's word: complete, requeue, disable, quarantine
    message: str


def settle(c: Campaign, status: RunStatus, error: str, count_failure: bool, queue: CampaignQueue,
           now: float) -> Settlement:
    """The campaign's next state once its attempt ended with ``status``: a completed run is done
    (a repeat campaign is re-queued after its cooldown); a cancelled one disables the campaign; a
    failure re-queues it until ``max_consecutive_failures``, then quarantines it. A failure that
    is not the campaign's fault (``count_failure`` false: the miner refused) does not count."""
    cfg = queue.ctx.cfg
    values: dict = {"updated_at": now, "last_error": error}
    requeue = {"state": CampaignState.QUEUED, "queued_at": now, "rank_key": queue.rank(c.priority, now),
               "not_before": None}
    if status is RunStatus.COMPLETED:
        values.update(consecutive_failures=0)
        if not c.repeat:
            values.update(state=CampaignState.COMPLETED)
            return Settlement(values, "complete", f"campaign {c.name!r} completed")
        not_before = now + cfg.repeat_cooldown_s if cfg.repeat_cooldown_s else None
        values.update(requeue, not_before=not_before)
        return Settlement(values, "requeue", f"campaign {c.name!r} completed and re-queued (repeat)"
                          + (f", next run not before {iso(not_before)}" if not_before else ""))
    if status is RunStatus.CANCELLED:
        values.update(requeue, enabled=False)
        return Settlement(values, "disable", f"campaign {c.name!r}: run cancelled; campaign disabled until "
                                             "re-enabled")
    fails = c.consecutive_failures + (1 if count_failure else 0)
    values.update(consecutive_failures=fails)
    if fails >= cfg.max_consecutive_failures:
        values.update(state=CampaignState.FAILED, enabled=False)
        return Settlement(values, "quarantine", f"campaign {c.name!r} quarantined after {fails} consecutive "
                                                f"failures: {error}")
    values.update(requeue)
    return Settlement(values, "requeue", f"campaign {c.name!r} failed ({error}); re-queued")


class Attempts:
    def __init__(self, ctx: SchedulerContext, queue: CampaignQueue, miner: MinerGateway, miners: Miners,
                 promoter: PromoterGateway):
        self.ctx, self.queue, self.miner, self.miners, self.promoter = ctx, queue, miner, miners, promoter
        #: set when a completed run joined the outbox: its sender delivers at once
        self.handoff_wake = threading.Event()

    @staticmethod
    def fence(tx, campaign_id: str, attempt: int) -> tuple[Campaign, Attempt]:
        """The campaign and its attempt, if ``attempt`` is its current, running one; a stale
        report (a superseded attempt, one already ended) is FAILED_PRECONDITION. The campaign's
        row is locked (PostgreSQL) until the transaction ends: a report, its retry and a change of
        the campaign (all may run side by side) pass the fence one after the other, each seeing
        what the other left."""
        c = tx.get(campaign_id, include_removed=True, lock=True)
        if c is None:
            raise NotFound(f"campaign_id: no campaign {campaign_id!r}")
        a = tx.attempt(campaign_id, attempt)
        if a is None or attempt != c.attempt or a.state != RunStatus.RUNNING:
            raise FailedPrecondition(f"attempt: {attempt} is stale for campaign {campaign_id} "
                                     f"(current attempt {c.attempt}, {a.state if a else 'unknown'})")
        return c, a

    def report_progress(self, campaign_id: str, attempt: int, run_id: str, progress: dict) -> float:
        """Renew the attempt's lease; a seed that finished is worth an event. Returns the new lease end."""
        now = self.ctx.now()
        with self.ctx.store.tx() as tx:
            self.fence(tx, campaign_id, attempt)
            lease = now + self.ctx.cfg.lease_seconds
            tx.update_attempt(campaign_id, attempt, lease_expires_at=lease, run_id=run_id)
            if progress.get("generation") == progress.get("generations"):
                tx.log_event(now, "run.progress", "miner",
                             f"run {run_id}: seed {progress.get('seed')} done, best IS Sharpe "
                             f"{progress.get('best_sharpe', 0.0):.2f}", campaign_id,
                             {"attempt": attempt, "run_id": run_id, **progress})
        self.ctx.committed()
        return lease

    def report_result(self, campaign_id: str, attempt: int, run_id: str, status: RunStatus, error: str = "",
                      actor: str = "miner") -> Campaign:
        if not RunStatus(status).ended:
            raise InvalidArgument(f"status must be COMPLETED, FAILED or CANCELLED, got {status!r}")
        return self.end(campaign_id, attempt, RunStatus(status), run_id, error, actor=actor)

    def end(self, campaign_id: str, attempt: int, status: RunStatus, run_id: str, error: str, *,
            count_failure: bool = True, actor: str = "miner", wake: bool = True) -> Campaign:
        """Record how the attempt ended and settle its campaign, in one transaction. ``wake``: tell
        the main loop admission may have become possible (not when admission itself ended it)."""
        now = self.ctx.now()
        with self.ctx.store.tx() as tx:
            c, _ = self.fence(tx, campaign_id, attempt)
            tx.update_attempt(campaign_id, attempt, state=status, ended_at=now, error=error,
                              **({"run_id": run_id} if run_id else {}))
            s = settle(c, status, error, count_failure, self.queue, now)
            after = tx.update(campaign_id, **s.values)
            tx.log_change(campaign_id, s.action, actor, now, c.public(), after.public(),
                          f"attempt {attempt} {status}" + (f": {error}" if error else ""))
            tx.log_event(now, f"run.{status}", actor, f"run {run_id or '?'} of attempt {attempt} {status}"
                         + (f": {error}" if error else ""), campaign_id,
                         {"attempt": attempt, "run_id": run_id, "error": error})
            tx.log_event(now, f"campaign.{s.action}", "scheduler", s.message, campaign_id)
            if status is RunStatus.COMPLETED and run_id:
                # the hand-off is recorded with the completion (the outbox row): a restart of either
                # service between the two loses nothing; it is delivered until the promoter answers
                tx.add_handoff(run_id, campaign_id, now)
                tx.log_event(now, "promotion.pending", "scheduler", f"run {run_id} awaits promotion"
                             + ("" if self.promoter.configured else " (no promoter configured)"), campaign_id,
                             {"run_id": run_id})
        self.ctx.committed(wake=wake)
        if status is RunStatus.COMPLETED and run_id:
            self.ctx.store.on_commit(self.handoff_wake.set)
        if self.ctx.metrics:
            self.ctx.metrics.run_ended(status, blames_campaign(status, error))
        return after

    def deliver_handoffs(self, limit: int = 20) -> int:
        """Hand the completed runs whose turn has come to the promoter (PromoteRun is idempotent by
        run id): acknowledged ones leave the outbox with a ``promotion.judged`` event, the others
        wait longer each time (HANDOFF_FIRST_S doubling to HANDOFF_MAX_S). Returns how many are left."""
        if not self.promoter.configured:
            return 0
        now = self.ctx.now()
        with self.ctx.store.read() as tx:
            due = tx.due_handoffs(now, limit)
        for run_id, campaign_id, tries in due:
            try:
                outcome = self.promoter.promote(campaign_id, run_id)
            except Exception as exc:  # noqa: BLE001 - one run's failure must not hold up the others
                wait = min(HANDOFF_FIRST_S * 2 ** min(tries, 30), HANDOFF_MAX_S)
                with self.ctx.store.tx() as tx:
                    tx.retry_handoff(run_id, tries + 1, self.ctx.now() + wait, f"{type(exc).__name__}: {exc}")
                log.warning("hand-off to the promoter failed; tried again later",
                            extra={"run_id": run_id, "error": str(exc), "retry_in_s": wait})
                if isinstance(exc, (Unavailable, DeadlineExceeded)):
                    break           # the promoter is away: the rest wait for the next round
                if tries + 1 == HANDOFF_REPORT_AFTER:     # refused, not away: someone must look
                    self.ctx.report(Finding(1, "promotion_handoff", f"run {run_id} of {campaign_id}: the promoter "
                                            f"refused it {tries + 1} times ({exc}); it is still retried",
                                            key=run_id, symptoms=(str(exc)[:500],), campaigns=(campaign_id,),
                                            runs=(run_id,)))
                continue
            with self.ctx.store.tx() as tx:
                tx.drop_handoff(run_id)
                tx.log_event(self.ctx.now(), "promotion.judged", "promoter", f"run {run_id} judged: {outcome}",
                             campaign_id, {"run_id": run_id, "outcome": outcome})
            self.ctx.committed()
        with self.ctx.store.read() as tx:
            return tx.pending_handoffs()

    def reconcile(self, leading: Callable[[], bool] = lambda: True) -> None:
        """Attempts whose lease expired: ask their miner; a run it no longer knows, or one whose
        miner does not answer, is failed as orphaned (the other miners' attempts go on).
        ``leading()`` is asked before each (it renews the scheduler leader's lease): miners that
        do not answer may take longer than a lease, and a leader that lost it stops here."""
        now = self.ctx.now()
        with self.ctx.store.read() as tx:
            expired = [(a, self.miners.address_of(tx, a.miner_id)) for a in tx.running_attempts()
                       if a.lease_expires_at < now]
        for a, address in expired:
            if not leading():
                return
            try:
                state = self.miner.get_run(address, a.campaign_id, a.number)
            except OmpError as exc:
                state = RunState(a.run_id, RunStatus.FAILED,
                                 f"orphaned: lease expired and the miner is unreachable ({exc})")
            if state is None:
                state = RunState(a.run_id, RunStatus.FAILED, "orphaned: the miner does not know this run")
            try:
                if state.status is RunStatus.RUNNING:
                    with self.ctx.store.tx() as tx:
                        tx.update_attempt(a.campaign_id, a.number, lease_expires_at=now + self.ctx.cfg.lease_seconds)
                    continue
                self.end(a.campaign_id, a.number, state.status, state.run_id, state.error, actor="scheduler")
            except FailedPrecondition:
                continue      # a report arrived meanwhile: it won
