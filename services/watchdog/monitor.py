"""The watchdog's loop policy: every ``sample_interval_s`` it reads the machine and the services
and acts on what it finds, each condition with its incident (one per ongoing condition).

| condition | detection | action |
| --- | --- | --- |
| disk pressure | a watched filesystem below ``disk_warn_gb`` | SEV-2 |
| disk critical | below ``disk_critical_gb`` | stop mining (persisted in the scheduler), kill the runs in flight (their checkpoints stay), SEV-0; stopped again if started while still critical |
| error burst | ``error_burst_count`` failed runs within ``error_burst_window_minutes`` | pause mining, SEV-1; resume is manual |
| stuck run | generation and evaluations unchanged for ``stuck_run_minutes`` (a heartbeat is no progress) | kill the run as failed (its campaign is re-queued by policy), SEV-1 |

A service that cannot be reached is noted and tried again at the next tick; the watchdog never
stops because another service is down.
"""
from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, field

from services.common.errors import OmpError
from services.common.resources import ResourceSampler, Sample
from services.watchdog.entities import Report, Severity
from services.watchdog.incidents import IncidentBook
from services.watchdog.ports import MinerPort, SchedulerPort
from services.watchdog.settings import WatchdogSettings

log = logging.getLogger("omp.watchdog")


@dataclass
class _Progress:
    mark: tuple
    since: float                  # when it last moved (epoch seconds)


@dataclass
class Monitor:
    cfg: WatchdogSettings
    sampler: ResourceSampler
    store: object
    book: IncidentBook
    scheduler: SchedulerPort
    miner: MinerPort
    clock: object
    metrics: object = None
    last_sample: Sample | None = None
    _events_seq: int | None = None
    _failures: collections.deque = field(default_factory=collections.deque)
    _progress: dict = field(default_factory=dict)

    # ------------------------------------------------------------------------------ the loop
    def tick(self) -> float:
        """One pass; returns the seconds until the next."""
        for step in (self._resources, self._error_burst, self._stuck_runs):
            try:
                step()
            except OmpError as exc:         # a service is down or slow: next tick
                log.warning("watchdog step could not reach a service", extra={"step": step.__name__,
                                                                              "error": str(exc)})
        return self.cfg.sample_interval_s

    # ------------------------------------------------------------------------------ resources
    def _resources(self) -> None:
        try:
            s = self.sampler.sample()
        except Exception as exc:  # noqa: BLE001 - no reading is itself a finding
            self.book.open(Report(Severity.SEV2, "no_resource_reading", f"resources cannot be read: {exc}",
                                  symptoms=(f"{type(exc).__name__}: {exc}",), handoffs=("devops-infra",)))
            return
        self.last_sample = s
        with self.store.tx() as tx:
            tx.add_sample(s.taken_at, s.cpu_util_pct, s.mem_available_mb, s.disk_free_gb, self.cfg.history_samples)
        if self.metrics:
            self.metrics.sample(s)
        for path, free in sorted(s.disk_free_gb.items()):
            reading = f"{path}: {free:.2f} GB free"
            if free < self.cfg.disk_critical_gb:
                self._disk_critical(path, reading)
            elif free < self.cfg.disk_warn_gb:
                self.book.open(Report(Severity.SEV2, "disk_pressure", f"disk below {self.cfg.disk_warn_gb:g} GB on "
                                      f"{path}", key=path, symptoms=(reading,), handoffs=("devops-infra",)))

    def _disk_critical(self, path: str, reading: str) -> None:
        inc, new = self.book.open(Report(
            Severity.SEV0, "disk_critical", f"disk below {self.cfg.disk_critical_gb:g} GB on {path}: mining "
            "stopped; start it again only above the warning level", key=path, symptoms=(reading,),
            handoffs=("devops-infra",)))
        if self.scheduler.daemon_state() != "offline":
            self.scheduler.stop(f"{inc.label}: {reading} (critical below {self.cfg.disk_critical_gb:g} GB)")
            self.book.note(inc.id, "watchdog", "mining stopped (scheduler StopDaemon)")
            self._count("stop")
        for run in self.miner.running_runs():
            self.miner.kill(run.run_id, f"{inc.label}: disk critical on {path}; its checkpoints are kept")
            self.book.note(inc.id, "watchdog", f"run {run.run_id} of {run.campaign_id} killed (checkpoints kept)")
            self._count("kill")

    # ------------------------------------------------------------------------------ error burst
    def _error_burst(self) -> None:
        now = self.clock.now()
        if self._events_seq is None:        # start from now: history before the watchdog is not a burst
            events = self.scheduler.events_after(0)
            while events:
                self._events_seq = events[-1].seq
                events = self.scheduler.events_after(self._events_seq)
            self._events_seq = self._events_seq or 0
            return
        while True:
            events = self.scheduler.events_after(self._events_seq)
            if not events:
                break
            for e in events:
                self._events_seq = e.seq
                if e.kind == "run.failed":
                    self._failures.append(e)
        window = self.cfg.error_burst_window_minutes * 60
        while self._failures and self._failures[0].at < now - window:
            self._failures.popleft()
        if len(self._failures) < self.cfg.error_burst_count:
            return
        burst = list(self._failures)
        inc, new = self.book.open(Report(
            Severity.SEV1, "error_burst", f"{len(burst)} runs failed within {self.cfg.error_burst_window_minutes:g} "
            "minutes: mining paused; resume by hand after a look", symptoms=tuple(e.message[:300] for e in burst),
            campaigns=tuple(dict.fromkeys(e.campaign_id for e in burst if e.campaign_id))))
        if self.scheduler.daemon_state() == "running":
            self.scheduler.pause(f"{inc.label}: {len(burst)} failed runs in {self.cfg.error_burst_window_minutes:g} min")
            self.book.note(inc.id, "watchdog", "mining paused (scheduler PauseDaemon)")
            self._count("pause")
        self._failures.clear()              # counted once: a new burst needs new failures

    # ------------------------------------------------------------------------------ stuck runs
    def _stuck_runs(self) -> None:
        now = self.clock.now()
        runs = self.miner.running_runs()
        alive = {r.run_id for r in runs}
        for gone in set(self._progress) - alive:
            del self._progress[gone]
        limit = self.cfg.stuck_run_minutes * 60
        for r in runs:
            mark = (r.seed, r.generation, r.evaluations)
            p = self._progress.get(r.run_id)
            if p is None or p.mark != mark:
                self._progress[r.run_id] = _Progress(mark, now)
                continue
            if now - p.since < limit:
                continue
            still = now - p.since
            inc, _ = self.book.open(Report(
                Severity.SEV1, "stuck_run", f"run {r.run_id} made no progress for {still / 60:.1f} minutes: killed",
                key=r.run_id, symptoms=(f"seed {r.seed} generation {r.generation}, {r.evaluations} evaluations, "
                                        f"unchanged since {still:.0f} s",),
                campaigns=(r.campaign_id,), runs=(r.run_id,)))
            self.miner.kill(r.run_id, f"{inc.label}: no progress for {still:.0f} s")
            self.book.note(inc.id, "watchdog", f"run {r.run_id} killed as failed; its campaign is re-queued by policy")
            self._count("kill")
            del self._progress[r.run_id]

    def _count(self, action: str) -> None:
        if self.metrics:
            self.metrics.action(action)
