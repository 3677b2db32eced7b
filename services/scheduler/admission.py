"""The main loop's pass (``tick``): reconcile expired leases, then admit the next campaign only if
the daemon runs, data is ready, fewer than ``max_concurrent_campaigns`` run and the resource
reading is within the budget. A reading that cannot be taken means no admission (fail closed)."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from omp_core import config as campaign_config
from omp_services.common.clock import iso
from omp_services.common.errors import DeadlineExceeded, InvalidArgument, OmpError, Unavailable
from omp_services.common.resources import ResourceSampler
from omp_services.common.settings import Resources
from omp_services.common.vocabulary import CampaignState, DaemonState, RunStatus
from omp_services.scheduler.attempts import Attempts
from omp_services.scheduler.campaign_queue import CampaignQueue
from omp_services.scheduler.context import SchedulerContext
from omp_services.scheduler.daemon import Daemon
from omp_services.scheduler.entities import Attempt, Miner, Tick, TickOutcome
from omp_services.scheduler.leadership import Leadership
from omp_services.scheduler.miners import Miners


@dataclass(frozen=True)
class Reading:
    """A resource sample judged against the budget."""
    cpu_util_pct: float = 0.0
    mem_available_mb: float = 0.0
    disk_free_gb: float = 0.0
    violations: tuple[str, ...] = ()
    error: str = ""

    @property
    def within_budget(self) -> bool:
        return not self.violations and not self.error

    def describe(self) -> str:
        if self.error:
            return f"no resource reading ({self.error})"
        return (f"cpu {self.cpu_util_pct:.1f}%, memory available {self.mem_available_mb:.0f} MB, "
                f"disk free {self.disk_free_gb:.2f} GB")


def judge(cpu: float, mem_mb: float, disk_gb: float, budget: Resources) -> Reading:
    v = []
    if cpu > budget.max_cpu_util_pct:
        v.append(f"cpu {cpu:.1f}% > {budget.max_cpu_util_pct:g}%")
    if mem_mb < budget.min_mem_available_mb:
        v.append(f"memory available {mem_mb:.0f} MB < {budget.min_mem_available_mb:g} MB")
    if disk_gb < budget.min_disk_free_gb:
        v.append(f"disk free {disk_gb:.2f} GB < {budget.min_disk_free_gb:g} GB")
    return Reading(cpu, mem_mb, disk_gb, tuple(v))


class BudgetProbe:
    """The admission policy's view of the machine: a sample, judged against the budget."""

    def __init__(self, sampler: ResourceSampler, budget: Resources):
        self.sampler, self.budget = sampler, budget

    def read(self) -> Reading:
        try:
            s = self.sampler.sample()
        except Exception as exc:  # noqa: BLE001 - any failure to read means "not within budget"
            return Reading(error=f"{type(exc).__name__}: {exc}")
        return judge(s.cpu_util_pct, s.mem_available_mb, s.min_disk_free_gb, self.budget)


class Admission:
    def __init__(self, ctx: SchedulerContext, daemon: Daemon, queue: CampaignQueue, attempts: Attempts,
                 miners: Miners, leadership: Leadership, probe):
        self.ctx, self.daemon, self.queue, self.attempts, self.miners = ctx, daemon, queue, attempts, miners
        self.leadership = leadership
        self.probe = probe
        self.last_reading: Reading | None = None
        self.last_tick_at: float | None = None
        self.last_outcome: TickOutcome | None = None
        self._lock = threading.Lock()
        self.throttle_factor, self.throttled_until = 1.0, 0.0
        self._last_admitted_at = 0.0

    def throttle(self, factor: float, seconds: float) -> None:
        """Admit at most once per ``factor`` loop intervals for ``seconds``; it ends by itself."""
        self.throttle_factor, self.throttled_until = factor, self.ctx.now() + seconds

    def _factor(self, now: float) -> float:
        return self.throttle_factor if now < self.throttled_until else 1.0

    def tick(self) -> TickOutcome:
        """One pass of the main loop; the outcome says what it did and when the next pass is due."""
        with self._lock:
            outcome = self._tick()
        self.last_tick_at, self.last_outcome = self.ctx.now(), outcome
        if self.ctx.metrics:
            self.ctx.metrics.tick(outcome.kind)
        return outcome

    def _outcome(self, kind: Tick, message: str, delay: float | None = None) -> TickOutcome:
        factor = self._factor(self.ctx.now())
        return TickOutcome(kind, message, self.ctx.cfg.loop_interval_s * factor if delay is None else delay)

    def _tick(self) -> TickOutcome:
        if not self.leadership.renew():
            return self._outcome(Tick.STANDBY, f"standby: {self.leadership.describe() or 'another scheduler'} leads")
        self.attempts.reconcile(self.leadership.renew)
        now = self.ctx.now()
        with self.ctx.store.read() as tx:
            d = self.daemon.read(tx, now)
            running = tx.count(CampaignState.RUNNING)
        self.ctx.daemon_state = d.state
        if d.state is not DaemonState.RUNNING:
            return self._outcome(Tick.IDLE, f"idle: daemon {d.state}")
        if not d.data_ready:
            return self._refuse("data readiness is uncertain" + (f" ({d.data_reason})" if d.data_reason else ""))
        cap = self.ctx.cfg.max_concurrent_campaigns
        if running >= cap:
            return self._outcome(Tick.FULL, f"full: {running} of {cap} campaigns running")
        spacing = self.ctx.cfg.loop_interval_s * self._factor(now)
        if self._factor(now) > 1 and now - self._last_admitted_at < spacing:
            return self._outcome(Tick.IDLE, f"throttled until {iso(self.throttled_until)}: at most one admission "
                                            f"per {spacing:g} s", min(spacing, self.throttled_until - now))
        with self.ctx.store.read() as tx:
            choice = self.miners.choose(tx, now)
        if choice.full:
            return self._outcome(Tick.FULL, f"full: {choice.why}")
        if choice.miner is None:
            return self._outcome(Tick.MINER_REFUSED, choice.why, min(self.ctx.cfg.loop_interval_s, choice.wait))
        reading = self.probe.read()
        self.last_reading = reading
        if self.ctx.metrics:
            self.ctx.metrics.resources(reading)
        if not reading.within_budget:
            why = reading.error and f"no resource reading ({reading.error})" or "; ".join(reading.violations)
            return self._refuse(f"resources over budget: {why}", {"reading": reading.describe()})
        outcome = self._admit_next(now, choice.miner)
        if outcome.kind is Tick.ADMITTED and running + 1 < cap:
            return self._outcome(outcome.kind, outcome.message, 0.0)    # room for more: look again at once
        return outcome

    def _refuse(self, why: str, detail: dict | None = None) -> TickOutcome:
        now = self.ctx.now()
        with self.ctx.store.tx() as tx:
            if tx.next_queued(now) is None:
                return self._idle(tx, now)
            tx.log_event(now, "admission.refused", "scheduler", f"admission refused: {why}", detail=detail or {})
        self.ctx.committed()
        return self._outcome(Tick.REFUSED, f"refused: {why}")

    def _idle(self, tx, now: float) -> TickOutcome:
        cooling = tx.next_cooling(now)
        if cooling is None:
            return self._outcome(Tick.IDLE, "idle: queue empty")
        return self._outcome(Tick.IDLE, f"idle: repeat campaign {cooling.id} waits until "
                                        f"{iso(cooling.not_before)} (cooldown)",
                             min(self.ctx.cfg.loop_interval_s, max(0.0, cooling.not_before - now)))

    def _admit_next(self, now: float, miner: Miner) -> TickOutcome:
        with self.ctx.store.tx() as tx:
            c = tx.next_queued(now)
            if c is None:
                return self._idle(tx, now)
            try:
                path = self.queue.check_config_path(c.config_path)
                chash = campaign_config.load(path).config_hash
            except (InvalidArgument, ValueError) as exc:     # omp_core's ConfigError names the key
                quarantined = self._quarantine(tx, c, now, f"config invalid: {exc}")
            else:
                quarantined = None
        if quarantined is not None:
            self.ctx.committed()
            return quarantined
        with self.ctx.store.tx() as tx:
            if not self.leadership.holds(tx, now):      # deposed meanwhile: the new leader admits
                return self._outcome(Tick.STANDBY, "standby: the leader's lease was lost before admitting")
            number = c.attempt + 1
            tx.insert_attempt(Attempt(c.id, number, RunStatus.RUNNING, "", chash, now,
                                      now + self.ctx.cfg.lease_seconds, None, "", miner.miner_id))
            after = tx.update(c.id, state=CampaignState.RUNNING, attempt=number, config_hash=chash, updated_at=now)
            tx.log_change(c.id, "admit", "scheduler", now, c.public(), after.public(), f"attempt {number}")
            tx.log_event(now, "campaign.admitted", "scheduler", f"campaign {c.name!r} admitted, attempt {number}, "
                         f"to miner {miner.miner_id or miner.address}",
                         c.id, {"attempt": number, "config_hash": chash, "miner_id": miner.miner_id,
                                "scheduler": self.leadership.holder, "epoch": self.leadership.epoch,
                                "reading": self.last_reading.describe() if self.last_reading else ""})
        self.ctx.committed()
        # the claim is committed before the miner hears of it: a crash here leaves a running attempt
        # whose lease expires and is reconciled, never a run nobody knows about
        try:
            run_id = self.attempts.miner.start_run(miner.address, c.id, number, c.config_path, chash)
        except (Unavailable, DeadlineExceeded) as exc:
            # the miner is down or too slow: not the campaign's fault, and no reason to hammer it;
            # it backs off (doubling, capped) until it registers again or the wait is over, while
            # the other miners go on
            wait = self.miners.unanswered(miner, exc)
            self.attempts.end(c.id, number, RunStatus.FAILED, "", f"miner did not start the run: {exc}",
                              count_failure=False, wake=False)
            return self._outcome(Tick.MINER_REFUSED, f"admitted {c.id} but the miner {miner.miner_id or miner.address} "
                                                     f"is unreachable ({exc}); it is tried again in {wait:g} s",
                                 self.miners.wait_after(self.ctx.now()))
        except OmpError as exc:
            # the miner refused this campaign (its config, its data). With other miners to try, the
            # miner is suspect (its configs root or data may differ from the others'): it backs off
            # and the campaign is not blamed. The only miner's refusal is the campaign's failure.
            others = self.miners.others(miner, self.ctx.now())
            if others:
                self.miners.unanswered(miner, exc, refused=True)
            self.attempts.end(c.id, number, RunStatus.FAILED, "", f"miner refused the run "
                              f"({miner.miner_id or miner.address}): {exc}", count_failure=not others, wake=False)
            return self._outcome(Tick.MINER_REFUSED, f"admitted {c.id} but the miner refused: {exc}", 0.0)
        self.miners.answered(miner)
        self._last_admitted_at = self.ctx.now()
        with self.ctx.store.tx() as tx:
            tx.update_attempt(c.id, number, run_id=run_id)
            tx.update(c.id, last_run_id=run_id)
            tx.log_event(self.ctx.now(), "run.started", "miner", f"run {run_id} started on miner "
                         f"{miner.miner_id or miner.address}", c.id,
                         {"attempt": number, "run_id": run_id, "miner_id": miner.miner_id})
        self.ctx.committed()
        return self._outcome(Tick.ADMITTED, f"admitted {c.id} attempt {number} as run {run_id}")

    def _quarantine(self, tx, c, now: float, error: str) -> TickOutcome:
        after = tx.update(c.id, state=CampaignState.FAILED, enabled=False, last_error=error, updated_at=now)
        tx.log_change(c.id, "quarantine", "scheduler", now, c.public(), after.public(), error)
        tx.log_event(now, "campaign.quarantined", "scheduler", f"campaign {c.name!r} quarantined: {error}", c.id)
        return self._outcome(Tick.QUARANTINED, f"quarantined {c.id}: {error}", 0.0)   # the next may be fine
