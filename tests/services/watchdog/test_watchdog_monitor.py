"""The watchdog's policy against a real database and a fake clock; the scheduler and the miner are
stand-ins that record what they are asked (the real ones: tests/services/system/test_watchdog.py),
and the samples are chosen (the machine's real disk cannot be filled on demand)."""
from __future__ import annotations

import pytest

from services.common.clock import FakeClock
from services.common.resources import Sample
from services.watchdog.entities import Severity
from services.watchdog.incidents import IncidentBook
from services.watchdog.monitor import Monitor
from services.watchdog.ports import RunView, SchedulerEvent
from services.watchdog.repository import WatchdogStore
from services.watchdog.settings import WatchdogSettings


class Sampler:
    def __init__(self, clock):
        self.clock, self.free = clock, {"/data": 50.0, "/runs": 50.0}

    def sample(self):
        return Sample(self.clock.now(), 20.0, 8000.0, dict(self.free))


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
    m = Monitor(cfg, Sampler(clock), store, IncidentBook(store, clock), Scheduler(), Miner(), clock)
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
    assert m.scheduler.calls[0][0] == "stop" and crit.label in m.scheduler.calls[0][1]
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
    from services.common.errors import Unavailable
    m, clock = watch

    def down(*a, **k):
        raise Unavailable("connection refused")
    m.miner.running_runs = down
    m.scheduler.events_after = down
    assert m.tick() == 10
    with m.store.read() as tx:
        assert len(tx.recent_samples(10)) == 1      # the machine was still sampled
