"""The watchdog's loop policy: every ``sample_interval_s`` it reads the machine and the services
and acts on what it finds, each condition with its incident (one per ongoing condition).

| condition | detection | action |
| --- | --- | --- |
| disk pressure | a watched filesystem below ``disk_warn_gb`` | SEV-2 |
| disk critical | below ``disk_critical_gb`` | stop mining (persisted in the scheduler), kill the runs in flight (their checkpoints stay), SEV-0; stopped again if started while still critical |
| error burst | ``error_burst_count`` failed runs within ``error_burst_window_minutes`` | pause mining, SEV-1; resume is manual |
| stuck run | generation and evaluations unchanged for ``stuck_run_minutes`` (a heartbeat is no progress) | kill the run as failed (its campaign is re-queued by policy), SEV-1 |
| memory runaway | a run's process tree above ``max_run_memory_mb``, or growing while available memory is below the floor | kill it as failed, pause mining, SEV-1; resume once memory is back above the floor |
| data incident | a run failed on its market data ("bad data: ...") | data readiness set to not ready with the errors, SEV-1 (data-engineer); an operator marks it ready again |
| unreachable | the scheduler or the miner not answering for ``unreachable_minutes`` | SEV-1 |
| database unreachable | the watchdog's database out of reach for ``[database] unreachable_s`` (the scheduler reports its own) | pause mining, SEV-0 (written once the database is back), resume when it is back |
| CPU over budget | above ``resources.max_cpu_util_pct`` for ``cpu_sustained_s`` | throttle admission (``throttle_factor`` for ``throttle_minutes``, then normal by itself), SEV-2 |
| red flags | failure rate over 30% (24 h, at least 5 runs), more than 3 daemon starts in 24 h, a disk over 80% used, memory over 80% used for 5 minutes, no promotion in 7 days of judged runs, the variance gate blocking 3 runs in 24 h | SEV-2 |

A service that cannot be reached is noted and tried again at the next tick; the watchdog never
stops because another service is down.
"""
from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, field

from omp_services.common.errors import DeadlineExceeded, OmpError, Unavailable
from omp_services.common.database_watch import DatabaseWatch
from omp_services.common.errors import DatabaseBusy
from omp_services.common.resources import ResourceSampler, Sample, tree_rss_mb
from omp_services.common.vocabulary import blames_campaign
from omp_services.watchdog.entities import Report, Severity
from omp_services.watchdog.incidents import IncidentBook
from omp_services.watchdog.ports import MinerPort, SchedulerPort
from omp_services.watchdog.settings import WatchdogSettings

log = logging.getLogger("omp.watchdog")

#: how much a run must grow between samples, while memory is below the floor, to be the culprit
GROWTH_MB = 50.0
#: available memory must be this much above the floor before mining resumes (no flapping)
RESUME_MARGIN = 1.25
WEEK_S = 7 * 86400.0


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
    housekeeping: object = None             # retention (None: the policy is not run from here)
    ops_log: object = None                  # the daily ops log (None: not written from here)
    floor_mb: float = 400.0                 # the resource budget's available-memory floor
    db_unreachable_s: float = 30.0          # [database] unreachable_s
    cpu_budget_pct: float = 85.0            # the resource budget's CPU ceiling
    rss: object = tree_rss_mb               # a run's memory (MB) from its pid
    last_sample: Sample | None = None
    _events_seq: int | None = None
    _burst_seq: int = 0                     # failures up to this event were counted in a burst already
    _failures: collections.deque = field(default_factory=collections.deque)
    _progress: dict = field(default_factory=dict)
    _day: collections.deque = field(default_factory=collections.deque)      # (at, kind, seq) of the last 24 h
    _week: collections.deque = field(default_factory=collections.deque)     # (at, outcome, seq): judged runs, 7 days
    _rss: dict = field(default_factory=dict)                                # run id -> MB at the last sample
    _memory_pause: int | None = None        # the incident whose pause this watchdog will lift
    _down_since: dict = field(default_factory=dict)                         # service -> first failure
    _mem_high_since: float | None = None
    _cpu_high_since: float | None = None
    _throttled_until: float = 0.0
    _killed: set = field(default_factory=set)                                # run ids killed, until gone
    _pending_data: list = field(default_factory=list)                       # bad-data failures to act on
    _held: list = field(default_factory=list)       # findings and notes made while the database was away
    _db_pause: str = ""                     # why this watchdog paused mining for its database ("" = it did not)
    _db_pause_wanted: str = ""              # a pause that could not be made yet (tried again each pass)
    _db_resume_wanted: str = ""             # a resume that could not be made yet (tried again each pass)

    def __post_init__(self):
        self.database = DatabaseWatch("watchdog", self.db_unreachable_s, self.clock, self._held.append,
                                      on_down=self._database_down, on_back=self._database_back)

    # ------------------------------------------------------------------------------ the loop
    def tick(self) -> float:
        """One pass; returns the seconds until the next."""
        for step, service in ((self._resources, ""), (self._scheduler_events, "scheduler"),
                              (self._runs, "miner"), (self._red_flags, ""), (self._daily, "scheduler")):
            try:
                step()
            except OmpError as exc:         # a service is down, slow or refusing: next tick
                log.warning("watchdog step failed", extra={"step": step.__name__, "error": str(exc)})
                if service and isinstance(exc, (Unavailable, DeadlineExceeded)) and not isinstance(exc, DatabaseBusy):
                    self._unreachable(service, exc)
            else:
                if service:
                    self._down_since.pop(service, None)
        return self.cfg.sample_interval_s

    def _unreachable(self, service: str, exc: Exception) -> None:
        now = self.clock.now()
        since = self._down_since.setdefault(service, now)
        if now - since >= self.cfg.unreachable_minutes * 60:
            self.book.open(Report(Severity.SEV1, f"{service}_unreachable", f"the {service} has not answered for "
                                  f"{(now - since) / 60:.1f} minutes", symptoms=(str(exc)[:300],),
                                  handoffs=("devops-infra",)))

    # ------------------------------------------------------------------------------ resources
    def _resources(self) -> None:
        try:
            s = self.sampler.sample()
        except Exception as exc:  # noqa: BLE001 - no reading is itself a finding
            self.book.open(Report(Severity.SEV2, "no_resource_reading", f"resources cannot be read: {exc}",
                                  symptoms=(f"{type(exc).__name__}: {exc}",), handoffs=("devops-infra",)))
            return
        self.last_sample = s
        if self.metrics:
            self.metrics.sample(s)
        # the disks first, from the sample in memory: on a full disk every database write fails,
        # and acting must not wait for one
        self._cpu(s)
        for path, free in sorted(s.disk_free_gb.items()):
            reading = f"{path}: {free:.2f} GB free"
            if free < self.cfg.disk_critical_gb:
                self._disk_critical(path, reading)
            elif free < self.cfg.disk_warn_gb:
                inc, new = self.book.open(Report(Severity.SEV2, "disk_pressure", f"disk below {self.cfg.disk_warn_gb:g} "
                                                 f"GB on {path}", key=path, symptoms=(reading,),
                                                 handoffs=("devops-infra",)))
                if new and self.housekeeping is not None:       # retention at once, not at its hour
                    self._cleanup(inc.id)
        if self.housekeeping is not None and self.housekeeping.due():
            self._cleanup(None)
        try:
            with self.store.tx() as tx:
                tx.add_sample(s.taken_at, s.cpu_util_pct, s.mem_available_mb, s.disk_free_gb,
                              self.cfg.history_samples)
        except DatabaseBusy as exc:         # the history is best effort; its database is watched
            if not self.database.failed(exc):
                log.warning("resource sample not stored", extra={"error": str(exc)})
            elif self._db_pause_wanted:
                self._database_down(self._db_pause_wanted)
        except OmpError as exc:
            log.warning("resource sample not stored", extra={"error": str(exc)})
        else:
            self.database.ok()
            if self._db_resume_wanted:          # a resume that could not be made yet
                self._database_back(self._db_resume_wanted)
            self._write_held()

    # ------------------------------------------------------------------------------ its database
    def _database_down(self, why: str) -> None:
        """Pause mining while the database is away (the scheduler keeps the pause in its own
        database, which may be another one); tried again each pass until it goes through."""
        try:
            if self.scheduler.daemon_state() == "running":
                self.scheduler.pause(f"{why}")
                self._db_pause = why
                self._held.append(f"mining paused (scheduler PauseDaemon): {why}")
                self._count("pause")
            self._db_pause_wanted = ""
        except OmpError as exc:
            self._db_pause_wanted = why
            log.warning("could not pause mining for the database", extra={"error": str(exc)})

    def _database_back(self, why: str) -> None:
        """Resume the pause this watchdog made for its database (tried again each pass until the
        scheduler hears it); never one a memory runaway or an error burst still holds."""
        self._db_pause_wanted = ""
        if not self._db_pause:
            return
        self._db_resume_wanted = why
        if self._memory_pause is None and self._resume_if_ours(why):
            self._held.append(f"mining resumed: {why}")
        self._db_pause, self._db_resume_wanted = "", ""

    def _write_held(self) -> None:
        """What happened while the database was away, written now that it is back: the incident
        (SEV-0) and, on its timeline, the actions taken."""
        inc = None
        while self._held:
            item = self._held[0]
            if isinstance(item, str):
                if inc is not None:
                    self.book.note(inc.id, "watchdog", item)
            else:
                inc, _ = self.book.open(Report(Severity(item.severity), item.kind, item.summary, key=item.key,
                                               symptoms=item.symptoms, handoffs=item.handoffs))
            self._held.pop(0)

    def _resume_if_ours(self, why: str) -> bool:
        """Resume a pause this watchdog made, unless an error burst's pause (an operator's to lift)
        stands, or the daemon is no longer paused."""
        with self.store.read() as tx:
            burst = tx.open_of("error_burst", "") is not None
        if burst or self.scheduler.daemon_state() != "paused":
            return False
        self.scheduler.resume(why)
        self._count("resume")
        return True

    def _daily(self) -> None:
        if self.ops_log is not None:
            written = self.ops_log.write_due()
            if written is not None:
                log.info("daily ops log written", extra={"path": str(written)})

    def _cleanup(self, incident_id: int | None) -> None:
        try:
            _, outcome = self.housekeeping.cleanup(False, "watchdog")
        except Exception as exc:  # noqa: BLE001 - a failed cleanup is noted, the watch goes on
            log.exception("retention cleanup failed")
            if incident_id is not None:
                self.book.note(incident_id, "watchdog", f"retention cleanup failed: {exc}")
            return
        if incident_id is not None:
            self.book.note(incident_id, "watchdog", f"retention cleanup: {len(outcome.done)} actions, "
                           f"{outcome.freed_bytes / 2**30:.2f} GB freed, {len(outcome.failed)} failed")

    def _cpu(self, s: Sample) -> None:
        if s.cpu_util_pct <= self.cpu_budget_pct:
            self._cpu_high_since = None
            return
        self._cpu_high_since = self._cpu_high_since or s.taken_at
        held = s.taken_at - self._cpu_high_since
        if held < self.cfg.cpu_sustained_s or s.taken_at < self._throttled_until:
            return
        seconds = self.cfg.throttle_minutes * 60
        inc, _ = self.book.open(Report(Severity.SEV2, "cpu_over_budget", f"CPU over {self.cpu_budget_pct:g}% for "
                                       f"{held:.0f} s: admission throttled", symptoms=(f"cpu {s.cpu_util_pct:.0f}%",)))
        try:
            self.scheduler.throttle(self.cfg.throttle_factor, seconds, f"{inc.label}: CPU {s.cpu_util_pct:.0f}% for "
                                                                       f"{held:.0f} s")
        except OmpError as exc:
            self.book.note(inc.id, "watchdog", f"could not throttle: {exc}")
            return
        self._throttled_until = s.taken_at + seconds
        self.book.note(inc.id, "watchdog", f"admission throttled x{self.cfg.throttle_factor:g} for "
                                           f"{self.cfg.throttle_minutes:g} minutes")
        self._count("throttle")

    def _disk_critical(self, path: str, reading: str) -> None:
        """Act first (kill the runs, stop mining), each on its own; then record: on a full disk
        the incident's own write may fail, and the actions must not depend on it."""
        done, why = [], f"disk critical on {path} ({reading}, critical below {self.cfg.disk_critical_gb:g} GB)"
        try:
            for run in self.miner.running_runs():
                if run.run_id in self._killed:
                    continue                # killed already, in its grace period
                try:
                    self.miner.kill(run.run_id, f"{why}; its checkpoints are kept")
                    self._killed.add(run.run_id)
                    done.append(f"run {run.run_id} of {run.campaign_id} killed (checkpoints kept)")
                    self._count("kill")
                except OmpError as exc:
                    done.append(f"run {run.run_id} could not be killed: {exc}")
        except OmpError as exc:
            done.append(f"runs could not be listed: {exc}")
        try:
            if self.scheduler.daemon_state() != "offline":
                self.scheduler.stop(why)
                done.append("mining stopped (scheduler StopDaemon)")
                self._count("stop")
        except OmpError as exc:
            done.append(f"mining could not be stopped: {exc}")
        inc, _ = self.book.open(Report(
            Severity.SEV0, "disk_critical", f"disk below {self.cfg.disk_critical_gb:g} GB on {path}: mining "
            "stopped; start it again only above the warning level", key=path, symptoms=(reading,),
            handoffs=("devops-infra",)))
        for event in done:
            self.book.note(inc.id, "watchdog", event)

    # ------------------------------------------------------------------------------ scheduler events
    def _scheduler_events(self) -> None:
        now = self.clock.now()
        if self._events_seq is None:
            self._resume_cursor()
        before = (self._events_seq, self._burst_seq, len(self._pending_data))
        while True:
            events = self.scheduler.events_after(self._events_seq)
            if not events:
                break
            for e in events:
                self._take(e, act=True)
        while self._pending_data:           # retried on the next tick if the scheduler did not hear it
            self._data_incident(self._pending_data[0])
            self._pending_data.pop(0)
        while self._day and self._day[0][0] < now - 86400:
            self._day.popleft()
        while self._week and self._week[0][0] < now - WEEK_S:
            self._week.popleft()
        self._error_burst(now)
        if (self._events_seq, self._burst_seq, len(self._pending_data)) != before:
            self._save_cursor(now)

    def _take(self, e, act: bool) -> None:
        """Count one event of the scheduler's log into the windows; ``act``: and act on it (a
        replay after a restart only rebuilds the windows)."""
        self._events_seq = max(self._events_seq or 0, e.seq)
        campaigns_fault = e.kind == "run.failed" and blames_campaign("failed", e.error)
        if e.kind == "run.completed" or campaigns_fault:
            self._day.append((e.at, e.kind, e.seq))
        elif e.kind == "daemon.running" and e.detail_from == "offline":     # a start, not a resume
            self._day.append((e.at, e.kind, e.seq))
        if campaigns_fault and e.seq > self._burst_seq:    # a burst already acted on is not counted again
            self._failures.append(e)
        if campaigns_fault and act and e.error.startswith("bad data:"):
            self._pending_data.append(e)
        if e.kind == "promotion.judged" and e.outcome:
            self._week.append((e.at, e.outcome, e.seq))

    def _resume_cursor(self) -> None:
        """Where this watchdog was in the scheduler's event log before it restarted: the windows
        (24 h of runs and starts, the error burst's) are rebuilt from the events still in them,
        and what came after is acted on. With no saved place, it starts from now: history before
        the watchdog is not a burst."""
        with self.store.read() as tx:
            saved = tx.state("events")
        if not saved:
            seq, events = 0, self.scheduler.events_after(0)
            while events:
                seq = events[-1].seq
                events = self.scheduler.events_after(seq)
            self._events_seq = seq
            return
        self._burst_seq = int(saved.get("burst_seq", 0))
        self._events_seq = int(saved.get("window_seq", saved["seq"]))
        until = int(saved["seq"])
        while self._events_seq < until:
            events = [e for e in self.scheduler.events_after(self._events_seq) if e.seq <= until]
            if not events:
                break
            for e in events:
                self._take(e, act=False)
        self._events_seq = until

    def _save_cursor(self, now: float) -> None:
        window = min([d[0][2] - 1 for d in (self._day, self._week) if d] or [self._events_seq])
        try:
            with self.store.tx() as tx:
                tx.put_state("events", {"seq": self._events_seq, "window_seq": window, "burst_seq": self._burst_seq},
                             now)
        except OmpError as exc:         # saved again at the next change
            log.warning("event cursor not saved", extra={"error": str(exc)})

    def _data_incident(self, e) -> None:
        """A run failed on its market data: the data, not the campaign, is at fault, so nothing
        more is mined until someone who knows the data says it is fit (playbook rule 4)."""
        inc, new = self.book.open(Report(
            Severity.SEV1, "data_incident", "a run failed on invalid market data: mining waits until an operator "
            "marks the data ready (omp data-ready yes)", symptoms=(e.error[:1000],),
            campaigns=(e.campaign_id,) if e.campaign_id else (), handoffs=("data-engineer",)))
        self.scheduler.data_not_ready(f"{inc.label}: {e.error[:1500]}")
        self.book.note(inc.id, "watchdog", "data readiness set to not ready")
        self._count("data_not_ready")

    def _error_burst(self, now: float) -> None:
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
        self._burst_seq = self._events_seq or 0

    # ------------------------------------------------------------------------------ runs
    def _runs(self) -> None:
        runs = self.miner.running_runs()
        self._stuck_runs(runs)
        self._memory(runs)

    def _memory(self, runs) -> None:
        s = self.last_sample
        floor = self.floor_mb
        if s is not None and self._memory_pause is not None and s.mem_available_mb >= floor * RESUME_MARGIN:
            if not self._db_pause and self._resume_if_ours(f"INC-{self._memory_pause}: available memory back above {floor:g} MB"):
                self.book.note(self._memory_pause, "watchdog", f"memory recovered ({s.mem_available_mb:.0f} MB "
                                                               "available): mining resumed")
            self._memory_pause = None           # only once the resume went through (or was not ours to make)
        growth = {}
        for r in runs:
            rss = self.rss(r.pid)
            growth[r.run_id] = rss - self._rss.get(r.run_id, rss)
            self._rss[r.run_id] = rss
        squeezed = s is not None and s.mem_available_mb < floor
        # under the floor, the one run that grew most (and by a real amount) is the culprit
        grower = max((r for r in runs if growth[r.run_id] >= GROWTH_MB), key=lambda r: growth[r.run_id],
                     default=None) if squeezed else None
        for r in runs:
            if r.run_id in self._killed:
                continue
            rss = self._rss[r.run_id]
            over_cap = self.cfg.max_run_memory_mb and rss > self.cfg.max_run_memory_mb
            if not (over_cap or r is grower):
                continue
            why = (f"its processes hold {rss:.0f} MB, over the {self.cfg.max_run_memory_mb:g} MB cap" if over_cap
                   else f"it grew to {rss:.0f} MB while only {s.mem_available_mb:.0f} MB are available "
                        f"(floor {floor:g} MB)")
            inc, _ = self.book.open(Report(Severity.SEV1, "memory_runaway", f"run {r.run_id}: {why}: killed",
                                           key=r.run_id, symptoms=(why,), campaigns=(r.campaign_id,),
                                           runs=(r.run_id,), handoffs=("devops-infra",)))
            self.miner.kill(r.run_id, f"{inc.label}: {why}")
            self._killed.add(r.run_id)
            self.book.note(inc.id, "watchdog", f"run {r.run_id} killed as failed")
            self._count("kill")
            if self.scheduler.daemon_state() == "running":
                self.scheduler.pause(f"{inc.label}: memory runaway; admission resumes once memory recovers")
                self.book.note(inc.id, "watchdog", "mining paused until memory recovers")
                self._memory_pause = inc.id
                self._count("pause")

    def _stuck_runs(self, runs) -> None:
        now = self.clock.now()
        alive = {r.run_id for r in runs}
        for gone in set(self._progress) - alive:
            del self._progress[gone]
        for gone in set(self._rss) - alive:
            del self._rss[gone]
        self._killed &= alive
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
            try:
                self.miner.kill(r.run_id, f"{inc.label}: no progress for {still:.0f} s")
            except OmpError as exc:             # this run's kill failed: the others still get their look
                self.book.note(inc.id, "watchdog", f"run {r.run_id} could not be killed: {exc}")
                continue
            self._killed.add(r.run_id)
            self.book.note(inc.id, "watchdog", f"run {r.run_id} killed as failed; its campaign is re-queued by policy")
            self._count("kill")
            del self._progress[r.run_id]

    # ------------------------------------------------------------------------------ red flags
    def _red_flags(self) -> None:
        """The playbook's red flags that need investigating (SEV-2); each is one incident while it lasts."""
        now, s = self.clock.now(), self.last_sample
        ended = [k for _, k, _ in self._day if k in ("run.failed", "run.completed")]
        failed = ended.count("run.failed")
        if len(ended) >= 5 and failed / len(ended) > 0.30:
            self._flag("failure_rate", f"{failed} of {len(ended)} runs failed in 24 h ({failed / len(ended):.0%} > 30%)")
        starts = sum(1 for _, k, _ in self._day if k == "daemon.running")
        if starts > 3:
            self._flag("daemon_restarts", f"the daemon was started or resumed {starts} times in 24 h (> 3)")
        judged = [o for _, o, _ in self._week]
        # mining for a week (the first judged run seen is 6.5 days old at least) and nothing entered
        if judged and "promoted" not in judged and now - self._week[0][0] >= WEEK_S - 12 * 3600:
            self._flag("no_promotions", f"{len(judged)} runs judged in 7 days and none promoted: is the search "
                                        "space or the data still worth mining?")
        blocked = sum(1 for at, o, _ in self._week if o == "blocked" and at >= now - 86400)
        if blocked >= 3:
            self._flag("variance_gate", f"the variance gate blocked {blocked} runs in 24 h: collapsed metrics "
                                        "point at a bug or bad data")
        if s is None:
            return
        for path, used in sorted(s.disk_used_ratio.items()):
            if used > 0.80:
                self._flag("disk_usage", f"{path} is {used:.0%} used (> 80%)", key=path)
        if s.mem_used_ratio > 0.80:
            self._mem_high_since = self._mem_high_since or now
            if now - self._mem_high_since >= 300:
                self._flag("memory_usage", f"memory {s.mem_used_ratio:.0%} used for "
                                           f"{(now - self._mem_high_since) / 60:.0f} minutes (> 80%)")
        else:
            self._mem_high_since = None

    def _flag(self, what: str, symptom: str, key: str = "") -> None:
        self.book.open(Report(Severity.SEV2, f"red_flag_{what}", f"red flag: {symptom}", key=key,
                              symptoms=(symptom,)))

    def _count(self, action: str) -> None:
        if self.metrics:
            self.metrics.action(action)
