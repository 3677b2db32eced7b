"""The watchdog's policy against a real database and a fake clock; the scheduler and the miner are
stand-ins that record what they are asked (the real ones: tests/services/system/test_watchdog.py),
and the samples are chosen (the machine's real disk cannot be filled on demand)."""
from __future__ import annotations

import pytest

from omp_services.common.clock import FakeClock
from omp_services.common.resources import Sample
from omp_services.watchdog.entities import Report, Severity
from omp_services.watchdog.incidents import IncidentBook
from omp_services.watchdog.monitor import Monitor
from omp_services.watchdog.ports import RunView, SchedulerEvent
from omp_services.watchdog.repository import WatchdogStore
from omp_services.watchdog.settings import WatchdogSettings


class Sampler:
    def __init__(self, clock):
        self.clock, self.free = clock, {"/data": 50.0, "/runs": 50.0}
        self.available, self.mem_used, self.disk_used, self.cpu = 8000.0, 0.3, 0.5, 20.0

    def sample(self):
        return Sample(self.clock.now(), self.cpu, self.available, dict(self.free), self.mem_used,
                      {p: self.disk_used for p in self.free})


class Scheduler:
    def __init__(self):
        self.state, self.calls, self.events = "running", [], []

    def daemon_state(self):
        return self.state

    def stop(self, reason):
        self.calls.append(("stop", reason))
        self.state = "offline"

    def pause(self, reason):
        self.calls.append(("pause", reason))
        self.state = "paused"

    def resume(self, reason):
        self.calls.append(("resume", reason))
        self.state = "running"

    def data_not_ready(self, reason):
        self.calls.append(("data_not_ready", reason))

    def throttle(self, factor, seconds, reason):
        self.calls.append(("throttle", factor, seconds))

    def events_after(self, seq):
        return [e for e in self.events if e.seq > seq][:500]


class Miner:
    def __init__(self):
        self.runs, self.killed = {}, []

    def running_runs(self):
        return list(self.runs.values())

    def kill(self, run_id, reason):
        self.killed.append((run_id, reason))
        self.runs.pop(run_id, None)


@pytest.fixture
def watch(db):
    clock = FakeClock()
    store = WatchdogStore(db)
    cfg = WatchdogSettings(sample_interval_s=10, stuck_run_minutes=10, history_samples=5)
    m = Monitor(cfg, Sampler(clock), store, IncidentBook(store, clock), Scheduler(), Miner(), clock, floor_mb=400.0)
    m.memory = {}                   # pid -> MB: a run's memory as the test sets it
    m.rss = lambda pid: m.memory.get(pid, 100.0)
    return m, clock


def _open(m):
    return m.book.list(True, 0, 100)


def test_samples_are_kept_as_a_bounded_history(watch):
    m, clock = watch
    for _ in range(8):
        assert m.tick() == 10
        clock.advance(10)
    with m.store.read() as tx:
        kept = tx.recent_samples(100)
    assert len(kept) == 5 and [s[0] for s in kept] == sorted(s[0] for s in kept)
    assert kept[-1][0] == clock.now() - 10 and kept[-1][3] == {"/data": 50.0, "/runs": 50.0}


def test_disk_pressure_warns_once_and_disk_critical_stops_mining_and_kills_the_runs(watch):
    m, clock = watch
    m.miner.runs["run_a"] = RunView("run_a", "camp_a", 1, 100, 3, 30, 7)
    m.sampler.free["/runs"] = 1.5
    for _ in range(3):
        m.tick()
        clock.advance(10)
    (warn,) = _open(m)
    assert (warn.kind, warn.key, warn.severity, warn.occurrences) == ("disk_pressure", "/runs", Severity.SEV2, 3)
    assert m.scheduler.calls == [] and m.miner.killed == []
    m.sampler.free["/runs"] = 0.5
    m.tick()
    crit = next(i for i in _open(m) if i.kind == "disk_critical")
    assert crit.severity is Severity.SEV0 and m.scheduler.state == "offline"
    assert m.scheduler.calls[0][0] == "stop" and "disk critical on /runs" in m.scheduler.calls[0][1]
    assert [k for k, _ in m.miner.killed] == ["run_a"] and "checkpoints are kept" in m.miner.killed[0][1]
    clock.advance(10)
    m.tick()                                        # still critical, already stopped: nothing more
    assert len(m.scheduler.calls) == 1 and m.book.get(crit.id).occurrences == 2
    m.scheduler.state = "running"                   # an operator started it while still critical
    m.tick()
    assert [c for c, _ in m.scheduler.calls] == ["stop", "stop"]
    events = [t.event for t in m.book.get(crit.id).timeline]
    assert sum("(scheduler StopDaemon)" in e for e in events) == 2


def test_an_error_burst_pauses_mining_once_and_old_failures_do_not_count(watch):
    m, clock = watch
    ev = m.scheduler.events

    def fail(seq, campaign):
        ev.append(SchedulerEvent(seq, clock.now(), "run.failed", campaign, f"run of {campaign} failed"))
    fail(1, "camp_old")
    m.tick()                                        # history before the watchdog started: not counted
    fail(2, "camp_a")
    clock.advance(3000)
    fail(3, "camp_b")
    m.tick()
    assert m.scheduler.calls == []
    clock.advance(700)                              # camp_a's failure is now 62 minutes old
    fail(4, "camp_c")
    m.tick()
    assert m.scheduler.calls == []
    fail(5, "camp_d")
    m.tick()
    (inc,) = _open(m)
    assert inc.kind == "error_burst" and inc.severity is Severity.SEV1 and inc.campaigns == ("camp_b", "camp_c", "camp_d")
    assert m.scheduler.calls[0][0] == "pause" and m.scheduler.state == "paused"
    m.tick()
    assert len(m.scheduler.calls) == 1              # counted once


def test_a_run_without_progress_is_killed_after_the_limit_and_progress_resets_it(watch):
    m, clock = watch
    m.miner.runs["run_s"] = RunView("run_s", "camp_s", 2, 100, 5, 50, 7)
    m.miner.runs["run_ok"] = RunView("run_ok", "camp_ok", 1, 101, 1, 10, 7)
    for step in range(60):                          # 10 minutes in 10 s samples
        m.tick()
        clock.advance(10)
        ok = m.miner.runs["run_ok"]
        m.miner.runs["run_ok"] = RunView(ok.run_id, ok.campaign_id, 1, 101, ok.generation + (step % 7 == 0),
                                         ok.evaluations, 7)
    assert m.miner.killed == []
    m.tick()
    assert [k for k, _ in m.miner.killed] == ["run_s"]
    (inc,) = _open(m)
    assert (inc.kind, inc.key, inc.runs, inc.campaigns) == ("stuck_run", "run_s", ("run_s",), ("camp_s",))
    assert "generation 5" in inc.symptoms[0]


def test_a_service_that_does_not_answer_is_tried_again_and_the_watch_goes_on(watch):
    from omp_services.common.errors import Unavailable
    m, clock = watch

    def down(*a, **k):
        raise Unavailable("connection refused")
    m.miner.running_runs = down
    m.scheduler.events_after = down
    assert m.tick() == 10
    with m.store.read() as tx:
        assert len(tx.recent_samples(10)) == 1      # the machine was still sampled


def test_a_run_that_fails_on_its_data_withdraws_data_readiness(watch):
    m, clock = watch
    m.tick()
    m.scheduler.events.append(SchedulerEvent(1, clock.now(), "run.failed", "camp_a", "run failed",
                                             "bad data: 3 rows fail validation: line 7 nan_price"))
    m.scheduler.events.append(SchedulerEvent(2, clock.now(), "run.failed", "camp_b", "run failed", "exit code 1: x"))
    m.tick()
    (inc,) = _open(m)
    assert (inc.kind, inc.severity, inc.handoffs) == ("data_incident", Severity.SEV1, ("data-engineer",))
    assert m.scheduler.calls == [("data_not_ready", f"{inc.label}: bad data: 3 rows fail validation: line 7 nan_price")]


def test_a_runaway_run_is_killed_and_mining_waits_for_memory_to_come_back(watch):
    m, clock = watch
    m.cfg = WatchdogSettings(max_run_memory_mb=1000)
    m.miner.runs["run_big"] = RunView("run_big", "camp_b", 1, 200, 1, 1, 7)
    m.miner.runs["run_grow"] = RunView("run_grow", "camp_g", 1, 201, 1, 1, 7)
    m.miner.runs["run_small"] = RunView("run_small", "camp_s", 1, 202, 1, 1, 7)
    m.memory = {200: 500.0, 201: 300.0, 202: 100.0}
    m.tick()
    assert m.miner.killed == []
    m.memory[200] = 1500.0                           # over the fixed cap
    m.tick()
    assert [k for k, _ in m.miner.killed] == ["run_big"] and m.scheduler.state == "paused"
    m.tick()                                          # memory is fine: the pause it made is lifted
    assert m.scheduler.calls[-1][0] == "resume" and m.scheduler.state == "running"
    m.sampler.available = 300.0                       # below the 400 MB floor ...
    m.memory[202] = 101.0                             # ... a run that grows a little is no culprit
    m.tick()
    assert [k for k, _ in m.miner.killed] == ["run_big"]
    m.memory[201], m.memory[202] = 800.0, 200.0       # two grow for real: the one that grew most goes
    m.tick()
    assert [k for k, _ in m.miner.killed] == ["run_big", "run_grow"] and m.scheduler.state == "paused"
    m.sampler.available = 450.0                       # above the floor, but not by the margin
    m.tick()
    assert m.scheduler.state == "paused"
    m.sampler.available = 2000.0
    m.tick()
    assert m.scheduler.state == "running"
    assert sorted(i.kind for i in _open(m)) == ["memory_runaway", "memory_runaway"]


def test_the_watchdog_never_lifts_a_pause_an_error_burst_made(watch):
    m, clock = watch
    m.miner.runs["run_grow"] = RunView("run_grow", "camp_g", 1, 201, 1, 1, 7)
    m.memory = {201: 300.0}
    m.tick()
    m.sampler.available = 300.0
    m.memory[201] = 900.0
    m.tick()
    assert m.scheduler.state == "paused"
    m.book.open(Report(Severity.SEV1, "error_burst", "3 runs failed"))          # an operator's to look at
    m.sampler.available = 4000.0
    m.tick()
    assert m.scheduler.state == "paused" and ("resume", ) not in [c[:1] for c in m.scheduler.calls]


def test_on_a_full_disk_the_watchdog_acts_although_it_cannot_write(watch):
    """Every database write fails on a full disk: the runs are killed and mining stopped all the
    same, and the incident is recorded once the database takes writes again."""
    from omp_services.common.errors import DatabaseBusy
    m, clock = watch
    m.miner.runs["run_a"] = RunView("run_a", "camp_a", 1, 100, 3, 30, 7)
    real_open, m.book.open = m.book.open, lambda *a, **k: (_ for _ in ()).throw(DatabaseBusy("database or disk is full"))
    real_tx, m.store.tx = m.store.tx, lambda: (_ for _ in ()).throw(DatabaseBusy("database or disk is full"))
    m.sampler.free["/runs"] = 0.1
    m.tick()
    assert [k for k, _ in m.miner.killed] == ["run_a"] and m.scheduler.state == "offline"
    m.book.open, m.store.tx = real_open, real_tx
    m.tick()
    (inc,) = [i for i in _open(m) if i.kind == "disk_critical"]
    assert inc.severity is Severity.SEV0


def test_failures_that_are_not_the_campaigns_fault_make_no_burst(watch):
    m, clock = watch
    m.tick()
    for k, error in enumerate(("miner did not start the run: UNAVAILABLE", "interrupted: the miner shut down",
                               "killed: INC-3: no progress for 600 s", "orphaned: the miner does not know this run")):
        m.scheduler.events.append(SchedulerEvent(k + 1, clock.now(), "run.failed", f"c{k}", "failed", error))
    m.tick()
    assert m.scheduler.calls == [] and _open(m) == []


def test_a_service_down_for_minutes_is_an_incident(watch):
    from omp_services.common.errors import Unavailable
    m, clock = watch

    def down(*a, **k):
        raise Unavailable("connection refused")
    m.miner.running_runs = down
    for _ in range(18):                               # down for 0..170 s: not yet
        m.tick()
        clock.advance(10)
    assert _open(m) == []
    m.tick()                                          # 180 s: three minutes
    clock.advance(10)
    (inc,) = _open(m)
    assert inc.kind == "miner_unreachable" and inc.severity is Severity.SEV1
    m.tick()
    assert _open(m)[0].occurrences == 2               # the same incident while it lasts


def test_red_flags_open_sev2_incidents(watch):
    m, clock = watch
    m.tick()
    ev = m.scheduler.events
    for k in range(10):
        ev.append(SchedulerEvent(k + 1, clock.now(), "run.failed" if k < 4 else "run.completed", "c", "x"))
    for k in range(4):
        ev.append(SchedulerEvent(20 + k, clock.now(), "daemon.running", "", "daemon offline -> running",
                                 detail_from="offline"))
    ev.append(SchedulerEvent(30, clock.now(), "daemon.running", "", "daemon paused -> running",
                             detail_from="paused"))             # a resume is no restart
    m.sampler.disk_used = 0.85
    m.sampler.mem_used = 0.9
    for _ in range(31):                               # memory high for 5 minutes
        m.tick()
        clock.advance(10)
    flags = [i for i in _open(m) if i.kind.startswith("red_flag_")]
    assert sorted(i.kind for i in flags) == ["red_flag_daemon_restarts", "red_flag_disk_usage", "red_flag_disk_usage",
                                             "red_flag_failure_rate", "red_flag_memory_usage"]
    assert all(i.severity is Severity.SEV2 for i in flags)


def test_sustained_cpu_over_budget_throttles_admission_for_a_while(watch):
    m, clock = watch
    m.sampler.cpu = 97.0
    for _ in range(6):                                # 50 s over budget: not yet sustained
        m.tick()
        clock.advance(10)
    assert m.scheduler.calls == []
    m.tick()                                          # 60 s
    assert m.scheduler.calls == [("throttle", 4.0, 300.0)]
    (inc,) = _open(m)
    assert inc.kind == "cpu_over_budget" and inc.severity is Severity.SEV2
    for _ in range(20):                               # still hot, but throttled already
        clock.advance(10)
        m.tick()
    assert len(m.scheduler.calls) == 1
    clock.advance(100)                                # the 5 minutes are over and it is still hot
    m.tick()
    assert len(m.scheduler.calls) == 2
    m.sampler.cpu = 30.0
    m.tick()
    clock.advance(400)
    m.sampler.cpu = 97.0
    m.tick()                                          # hot again: sustained counts from here
    assert len(m.scheduler.calls) == 2


def _restarted(m, clock):
    """A new watchdog on the same database, scheduler and miner (its process restarted)."""
    again = Monitor(m.cfg, m.sampler, m.store, IncidentBook(m.store, clock), m.scheduler, m.miner, clock, floor_mb=400.0)
    again.rss = m.rss
    return again


def test_a_restart_keeps_its_place_in_the_event_log_and_the_windows_it_counts(watch):
    m, clock = watch
    ev = m.scheduler.events

    def fail(seq, campaign, error=""):
        ev.append(SchedulerEvent(seq, clock.now(), "run.failed", campaign, f"run of {campaign} failed", error))
    fail(1, "camp_old")
    m.tick()                                        # the very first start: history is not counted
    fail(2, "camp_a")
    fail(3, "camp_b")
    m.tick()
    assert m.scheduler.calls == []
    m = _restarted(m, clock)                        # two failures in the window survive the restart
    fail(4, "camp_c", "bad data: /data/x.csv: 3 rows out of order")      # while it was down
    clock.advance(10)
    m.tick()
    kinds = [c[0] for c in m.scheduler.calls]
    assert kinds.count("pause") == 1 and kinds.count("data_not_ready") == 1     # three failures; the data acted on
    burst = next(i for i in _open(m) if i.kind == "error_burst")
    assert set(burst.campaigns) == {"camp_a", "camp_b", "camp_c"}
    m.scheduler.state = "running"                   # an operator resumed
    m = _restarted(m, clock)                        # the burst acted on is not counted again, nor the data
    fail(5, "camp_d")
    clock.advance(10)
    m.tick()
    assert [c[0] for c in m.scheduler.calls].count("pause") == 1
    assert [c[0] for c in m.scheduler.calls].count("data_not_ready") == 1


def test_a_week_of_judged_runs_without_a_promotion_and_a_blocking_variance_gate_are_red_flags(watch):
    m, clock = watch
    m.tick()
    ev = m.scheduler.events

    def judged(seq, outcome):
        ev.append(SchedulerEvent(seq, clock.now(), "promotion.judged", "c", f"run r{seq} judged: {outcome}",
                                 outcome=outcome))
    for day in range(7):                              # a run judged every day for a week, none promoted
        judged(day + 1, "rejected")
        m.tick()
        clock.advance(86400)
    assert not [i for i in _open(m) if i.kind == "red_flag_no_promotions"]     # 6 days of history only
    judged(8, "rejected")
    m.tick()
    (flag,) = [i for i in _open(m) if i.kind == "red_flag_no_promotions"]
    assert "none promoted" in flag.summary and flag.severity is Severity.SEV2
    m.book.resolve(flag.id, "op", "the search space was exhausted", "new features queued")
    judged(9, "promoted")                             # one promotion ends the condition
    m = _restarted(m, clock)                          # (and the week survives a restart)
    clock.advance(10)
    m.tick()
    assert not [i for i in _open(m) if i.kind == "red_flag_no_promotions"]
    for k in range(3):
        judged(10 + k, "blocked")
    m.tick()
    (gate,) = [i for i in _open(m) if i.kind == "red_flag_variance_gate"]
    assert "blocked 3 runs in 24 h" in gate.summary


def test_the_metrics_carry_the_used_ratios_and_the_disk_floors_the_alerts_compare_with():
    from prometheus_client import CollectorRegistry
    from omp_services.watchdog.metrics import WatchdogMetrics
    registry = CollectorRegistry()
    metrics = WatchdogMetrics(registry, disk_warn_gb=3.0, disk_critical_gb=1.5)
    metrics.sample(Sample(taken_at=10.0, cpu_util_pct=50.0, mem_available_mb=1024.0, disk_free_gb={"/d": 2.0},
                          mem_used_ratio=0.75, disk_used_ratio={"/d": 0.9}))
    value = registry.get_sample_value
    assert value("omp_watchdog_disk_warn_free_bytes") == 3 * 2**30
    assert value("omp_watchdog_disk_critical_free_bytes") == 1.5 * 2**30
    assert value("omp_resource_disk_free_bytes", {"path": "/d"}) == 2 * 2**30
    assert value("omp_resource_memory_used_ratio") == 0.75 and value("omp_resource_disk_used_ratio", {"path": "/d"}) == 0.9
    assert value("omp_resource_cpu_utilization_ratio") == 0.5 and value("omp_resource_memory_available_bytes") == 2**30
