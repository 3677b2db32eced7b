"""The scheduler's rules against a real database (SQLite and PostgreSQL), a fake clock, a probe that
returns chosen readings (the machine's real load cannot be set), and a miner gateway that records
what it is asked (the real gRPC path is covered by tests/services/test_end_to_end.py)."""
from __future__ import annotations

import collections
import dataclasses
import os

import pytest

from helpers_services import CONFIGS
from omp_services.common import settings as settings_mod
from omp_services.common.clock import FakeClock
from omp_services.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from omp_services.common.settings import Resources
from omp_services.common.storage.db import Database, Statement
from sqlalchemy import literal, select
from omp_services.migrations import migrate
from omp_services.scheduler.admission import Reading, judge
from omp_services.scheduler.entities import CampaignSpec, RunState, Tick
from omp_services.scheduler.repository import DAEMON, SchedulerStore
from omp_services.scheduler.scheduler import Scheduler
from omp_services.scheduler.settings import SECTIONS


class Probe:
    def __init__(self):
        self.reading = judge(10.0, 8000.0, 50.0, Resources())

    def read(self):
        return self.reading


class Promoter:
    """Records the runs handed to it, or is away (``down``): the port's other side (the real one:
    tests/services/system/test_promotion.py)."""
    configured = True

    def __init__(self):
        self.handed, self.down = [], False

    def promote(self, campaign_id, run_id):
        if self.down:
            from omp_services.common.errors import Unavailable
            raise Unavailable("promoter at 127.0.0.1:50053 is not answering")
        self.handed.append((campaign_id, run_id))
        return "rejected"


class Miner:
    """The miners' side of the gateway: records what each address is asked; ``fail_with`` (for
    every address) or ``down`` (a set of addresses) makes StartRun fail."""

    def __init__(self):
        self.started, self.runs, self.fail_with, self.down, self.forgotten = [], {}, None, set(), []
        self.at = {}                       # (campaign, attempt) -> the address that started it

    def forget(self, address):
        self.forgotten.append(address)

    def start_run(self, address, campaign_id, attempt, config_path, config_hash):
        if self.fail_with:
            raise self.fail_with
        if address in self.down:
            raise Unavailable(f"miner at {address} is not answering")
        run_id = f"run_{campaign_id}_{attempt}"
        self.started.append((campaign_id, attempt, config_hash))
        self.runs[(campaign_id, attempt)] = RunState(run_id, "running")
        self.at[(campaign_id, attempt)] = address
        return run_id

    def get_run(self, address, campaign_id, attempt):
        if address in self.down:
            raise Unavailable(f"miner at {address} is not answering")
        return self.runs.get((campaign_id, attempt)) if self.at.get((campaign_id, attempt)) == address else None


@pytest.fixture
def env(database_url, tmp_path):
    settings = settings_mod.load(overrides={
        "paths": {"configs_root": str(CONFIGS), "data_dir": str(tmp_path)},
        "database": {"url": database_url},
        "scheduler": {"max_concurrent_campaigns": 1, "lease_seconds": 60.0, "aging_hours_per_step": 1.0}},
        sections=SECTIONS)
    db = Database(database_url)
    migrate(db)
    clock, probe, miner = FakeClock(), Probe(), Miner()
    sched = Scheduler(SchedulerStore(db), settings.section("scheduler"), settings.configs_root, clock, probe, miner,
                      promoter=Promoter())
    sched.daemon.set_data_ready(True, "data-eng", "")     # a fresh scheduler fails closed on data readiness
    yield sched, clock, probe, miner, db
    db.dispose()


def spec(name="c", priority=10, **kw):
    return CampaignSpec(name=name, config_path="tiny.toml", priority=priority, **kw)


def snapshot(sched):
    """Everything an operator could see change."""
    campaigns, total = sched.queue.list(offset=0, limit=10_000)
    return [c.public() for c in campaigns], total, len(sched.queue.changes(limit=10_000)), len(sched.events_after(0))


def test_migrations_are_idempotent(env):
    sched, *_, db = env
    migrate(db)            # a second service starting on the same database
    assert sched.status().daemon.state == "offline"


def test_queue_order_priority_then_age_with_aging(env):
    sched, clock, *_ = env
    a = sched.queue.add(spec("low", 3), "op")
    clock.advance(60)
    b = sched.queue.add(spec("high", 1), "op")
    clock.advance(60)
    c = sched.queue.add(spec("high-later", 1), "op")
    order = [x.id for x in sched.queue.list(state="queued")[0]]
    assert order == [b.id, c.id, a.id]
    # one priority step per hour of waiting (aging_hours_per_step = 1): "low" has waited 2 min more
    # than "high"; after 2 hours it is ahead
    clock.advance(2 * 3600)
    d = sched.queue.add(spec("new-high", 1), "op")
    assert [x.id for x in sched.queue.list(state="queued")[0]][-1] == d.id


def test_list_filters_by_tag_state_and_enabled_with_pages(env):
    sched, *_ = env
    sched.queue.add(spec("a", 1, tags=("a_b",)), "op")
    b = sched.queue.add(spec("b", 2, tags=("axb", "50%")), "op")
    c = sched.queue.add(spec("c", 3, tags=("a",), enabled=False), "op")
    names = lambda **f: [x.name for x in sched.queue.list(**f)[0]]  # noqa: E731
    # LIKE's own characters in a tag match only themselves; a tag matches whole elements only
    assert names(tag="a_b") == ["a"]
    assert names(tag="50%") == ["b"] and names(tag="50") == []
    assert names(tag="a") == ["c"]
    assert names(enabled_only=True) == ["a", "b"]
    sched.queue.remove(b.id, "op", "done with it")
    assert names(state="queued") == ["a", "c"]
    page, total = sched.queue.list(offset=1, limit=1)
    assert [x.id for x in page] == [c.id] and total == 2


def test_changes_are_logged_with_actor_and_reason(env):
    sched, *_ = env
    c = sched.queue.add(spec(), "alice", "first campaign")
    sched.queue.reorder(c.id, 2, "bob", "more urgent")
    sched.queue.set_enabled(c.id, False, "carol", "broken data")
    sched.queue.update(c.id, {"repeat": True, "tags": ("momentum",)}, "dave")
    sched.queue.remove(c.id, "erin", "obsolete")
    log = sched.queue.changes(c.id)
    assert [(x.action, x.actor, x.reason) for x in log] == [
        ("add", "alice", "first campaign"), ("reorder", "bob", "more urgent"), ("disable", "carol", "broken data"),
        ("update", "dave", ""), ("remove", "erin", "obsolete")]
    assert log[1].before["priority"] == 10 and log[1].after["priority"] == 2
    assert log[-1].after is None
    with pytest.raises(NotFound):
        sched.queue.get(c.id)
    kinds = [e.kind for e in sched.events_after(0) if e.kind != "data.ready"]
    assert kinds == ["campaign.added", "campaign.reorder", "campaign.disable", "campaign.updated",
                     "campaign.removed"]


@pytest.mark.parametrize("call,field", [
    (lambda s, c: s.queue.add(spec(name=""), "op"), "campaign.name"),
    (lambda s, c: s.queue.add(spec(name="x" * 201), "op"), "campaign.name"),
    (lambda s, c: s.queue.add(spec(priority=-3), "op"), "campaign.priority"),
    (lambda s, c: s.queue.add(CampaignSpec("x", "../golden/backtests.json"), "op"), "campaign.config_path"),
    (lambda s, c: s.queue.add(CampaignSpec("x", "../../../examples/campaigns/us_daily_momentum.toml"), "op"),
     "campaign.config_path"),
    (lambda s, c: s.queue.add(CampaignSpec("x", str(CONFIGS / "tiny.toml")), "op"), "campaign.config_path"),
    (lambda s, c: s.queue.add(CampaignSpec("x", "missing.toml"), "op"), "campaign.config_path"),
    (lambda s, c: s.queue.add(spec(market="jp"), "op"), "campaign.market"),
    (lambda s, c: s.queue.update(c.id, {"state": "completed"}, "op"), "update_mask"),
    (lambda s, c: s.queue.update(c.id, {"priority": -1}, "op", "why"), "campaign.priority"),
    (lambda s, c: s.queue.reorder(c.id, 1, "op", ""), "reason"),
    (lambda s, c: s.queue.set_enabled(c.id, False, "op", " "), "reason"),
    (lambda s, c: s.queue.remove(c.id, "op", ""), "reason"),
    (lambda s, c: s.queue_file.import_({"campaigns": "all of them"}, "op"), "queue must be an object with a 'campaigns'"),
    (lambda s, c: s.queue_file.import_({"campaigns": [{"name": "x", "config_path": "tiny.toml", "priority": "1"}]},
                                       "op"), "queue.campaigns[0].priority"),
    (lambda s, c: s.queue_file.import_({"campaigns": [{"name": "x", "config_path": "tiny.toml", "priority": 1.5}]},
                                       "op"), "queue.campaigns[0].priority must be an integer, got 1.5"),
    (lambda s, c: s.queue_file.import_({"campaigns": [{"name": "ok", "config_path": "tiny.toml"},
                                                      {"name": "x", "config_path": "/etc/passwd"}]}, "op"),
     "queue.campaigns[1].config_path"),
    (lambda s, c: s.queue_file.import_({"campaigns": [{"id": "camp_a", "name": "a", "config_path": "tiny.toml"},
                                                      {"id": "camp_a", "name": "b", "config_path": "tiny.toml"}]}, "op"),
     "the id 'camp_a' appears twice"),
])
def test_bad_input_names_the_field_and_changes_nothing(env, call, field):
    sched, *_ = env
    c = sched.queue.add(spec(), "op")
    before = snapshot(sched)
    with pytest.raises(InvalidArgument) as err:
        call(sched, c)
    assert field in str(err.value)
    assert snapshot(sched) == before


def test_symlink_out_of_the_configs_root_is_refused(env, tmp_path):
    sched, *_ = env
    link = CONFIGS / f"link-{os.getpid()}.toml"
    target = tmp_path / "outside.toml"
    target.write_text((CONFIGS / "tiny.toml").read_text())
    link.symlink_to(target)
    try:
        with pytest.raises(InvalidArgument, match="leaves the root"):
            sched.queue.add(CampaignSpec("x", link.name), "op")
    finally:
        link.unlink()


def test_unknown_ids_are_not_found(env):
    sched, *_ = env
    for call in (lambda: sched.queue.get("camp_nope"), lambda: sched.queue.reorder("camp_nope", 1, "op", "r"),
                 lambda: sched.queue.remove("camp_nope", "op", "r"), lambda: sched.queue.update("camp_nope", {"repeat": True}, "op")):
        with pytest.raises(NotFound, match="camp_nope"):
            call()


def test_daemon_transitions(env):
    sched, *_ = env
    with pytest.raises(FailedPrecondition, match="cannot pause while offline"):
        sched.daemon.transition("pause", "op")
    assert sched.daemon.transition("start", "op") == "running"
    with pytest.raises(FailedPrecondition):
        sched.daemon.transition("start", "op")
    assert sched.daemon.transition("pause", "op") == "paused"
    with pytest.raises(FailedPrecondition):
        sched.daemon.transition("pause", "op")
    assert sched.daemon.transition("resume", "op") == "running"
    assert sched.daemon.transition("stop", "op") == "offline"


def test_admission_checks_daemon_data_resources_and_concurrency(env):
    sched, clock, probe, miner, _ = env
    a = sched.queue.add(spec("a", 1), "op")
    b = sched.queue.add(spec("b", 2), "op")
    sched.tick()
    assert miner.started == []                                  # daemon offline
    sched.daemon.transition("start", "op")
    sched.daemon.set_data_ready(False, "data-eng", "vendor feed late")
    out = sched.tick()
    assert miner.started == [] and out.kind is Tick.REFUSED and "data readiness" in out.message
    sched.daemon.set_data_ready(True, "data-eng", "")
    probe.reading = judge(91.0, 300.0, 50.0, Resources())
    sched.tick()
    assert miner.started == []
    refused = [e for e in sched.events_after(0) if e.kind == "admission.refused"][-1]
    assert "cpu 91.0% > 85%" in refused.message and "memory available 300 MB < 400 MB" in refused.message
    assert "cpu 91.0%" in refused.detail["reading"]
    probe.reading = Reading(error="psutil failed")               # no reading: fail closed
    out = sched.tick()
    assert miner.started == [] and out.kind is Tick.REFUSED and "no resource reading" in out.message
    probe.reading = judge(10.0, 8000.0, 50.0, Resources())
    sched.tick()
    assert [s[:2] for s in miner.started] == [(a.id, 1)]
    assert len(miner.started[0][2]) == 64                       # the config hash is recorded
    out = sched.tick()
    assert len(miner.started) == 1 and out.kind is Tick.FULL and out.message.startswith("full")
    assert sched.queue.get(a.id).state == "running" and sched.queue.get(b.id).state == "queued"


def test_stale_reports_are_refused_and_one_result_is_accepted(env):
    sched, clock, probe, miner, _ = env
    c = sched.queue.add(spec(repeat=True), "op")
    sched.daemon.transition("start", "op")
    sched.tick()
    sched.attempts.report_progress(c.id, 1, "run_x", {"generation": 1, "generations": 4})
    with pytest.raises(FailedPrecondition, match="stale"):
        sched.attempts.report_progress(c.id, 2, "run_x", {})
    after = sched.attempts.report_result(c.id, 1, "run_x", "completed")
    assert after.state == "queued" and after.consecutive_failures == 0      # repeat: re-queued
    with pytest.raises(FailedPrecondition, match="stale"):
        sched.attempts.report_result(c.id, 1, "run_x", "completed")              # a second result for attempt 1
    clock.advance(3600)                                                 # its repeat cooldown
    sched.tick()
    assert sched.queue.get(c.id).attempt == 2 and sched.queue.get(c.id).state == "running"
    kinds = [e.kind for e in sched.events_after(0) if e.kind != "data.ready"]
    assert "run.completed" in kinds and "campaign.requeue" in kinds and "promotion.pending" in kinds


def test_repeated_failure_quarantines(env):
    sched, clock, probe, miner, _ = env
    c = sched.queue.add(spec(), "op")
    sched.daemon.transition("start", "op")
    for n in (1, 2, 3):
        sched.tick()
        after = sched.attempts.report_result(c.id, n, f"run_{n}", "failed", "exit code 1: boom")
    assert after.state == "failed" and not after.enabled and after.consecutive_failures == 3
    assert sched.queue.changes(c.id)[-1].action == "quarantine"
    sched.tick()
    assert len(miner.started) == 3


def test_expired_lease_of_an_unknown_run_fails_as_orphaned(env):
    sched, clock, probe, miner, _ = env
    c = sched.queue.add(spec(), "op")
    sched.daemon.transition("start", "op")
    sched.tick()
    miner.runs.clear()                        # the miner restarted and does not know the run
    clock.advance(61)
    sched.tick()                              # reconcile first, then admit again
    log = sched.queue.changes(c.id)
    assert [x.action for x in log][-2:] == ["requeue", "admit"]
    assert "orphaned" in log[-2].reason
    assert sched.queue.get(c.id).attempt == 2


def test_miner_unavailable_requeues_without_counting_a_failure(env):
    sched, clock, probe, miner, _ = env
    c = sched.queue.add(spec(), "op")
    sched.daemon.transition("start", "op")
    miner.fail_with = Unavailable("connection refused")
    sched.tick()
    got = sched.queue.get(c.id)
    assert got.state == "queued" and got.consecutive_failures == 0 and "miner did not start" in got.last_error


def test_an_unreachable_miner_is_backed_off_without_an_event_storm_and_its_return_ends_the_wait(env):
    """With the miner down, admission doubles its wait (capped) instead of re-admitting on every
    wake-up, counts nothing against the campaign, and goes again at once when the miner registers."""
    sched, clock, probe, miner, _ = env
    c = sched.queue.add(spec(), "op")
    sched.daemon.transition("start", "op")
    miner.fail_with = Unavailable("connection refused")
    sched.ctx.wake.clear()
    delays = []
    for _ in range(12):
        out = sched.tick()
        assert not sched.ctx.wake.is_set(), "a refused StartRun must not wake the loop again at once"
        if out.message.startswith("admitted"):
            delays.append(out.delay)
        clock.advance(out.delay)
    assert delays[:5] == [1.0, 2.0, 4.0, 8.0, 16.0] and max(delays) <= 300.0
    attempts = sched.queue.get(c.id).attempt
    assert attempts == len(delays) and sched.queue.get(c.id).consecutive_failures == 0
    assert sched.tick().delay == 300.0                                 # a new wait starts
    out = sched.tick()                                                 # inside the wait: no attempt
    assert out.message.startswith("waiting for the miner") and sched.queue.get(c.id).attempt == attempts + 1
    miner.fail_with = None
    sched.register_miner("127.0.0.1:50052")
    assert sched.ctx.wake.is_set()
    assert sched.tick().kind is Tick.ADMITTED


def test_a_miner_that_refuses_the_campaign_counts_a_failure(env):
    sched, clock, probe, miner, _ = env
    c = sched.queue.add(spec(), "op")
    sched.daemon.transition("start", "op")
    miner.fail_with = InvalidArgument("config_path 'tiny.toml': no such file under /elsewhere")
    for _ in range(3):
        sched.tick()
    got = sched.queue.get(c.id)
    assert got.state == "failed" and not got.enabled and "miner refused the run" in got.last_error


def test_invalid_config_at_admission_quarantines(env, tmp_path):
    sched, clock, probe, miner, _ = env
    bad = CONFIGS / f"bad-{os.getpid()}.toml"
    bad.write_text((CONFIGS / "tiny.toml").read_text().replace("population = 16", "population = -1"))
    try:
        c = sched.queue.add(CampaignSpec("bad", bad.name), "op")
        sched.daemon.transition("start", "op")
        sched.tick()
    finally:
        bad.unlink()
    got = sched.queue.get(c.id)
    assert got.state == "failed" and not got.enabled and "ga.population" in got.last_error
    assert miner.started == []


def test_request_id_makes_add_idempotent(env):
    sched, *_ = env
    a = sched.queue.add(spec("x"), "op", request_id="req-1")
    b = sched.queue.add(spec("x"), "op", request_id="req-1")
    assert a.id == b.id and sched.queue.list()[1] == 1 and len(sched.queue.changes()) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_same_add_twice_at_once_is_still_one_campaign(env, database_url):
    """A client's retry while its first try is still in the database (calls on PostgreSQL run side
    by side): both tries look for the request id before either commits, both insert, and the one
    that loses the unique key's race answers with the winner's campaign, as a later retry does.
    The winner is held before its COMMIT (another session locks the kept counts it writes last) until
    the loser waits on the request id's unique index; then both go."""
    import threading
    import psycopg
    from helpers_services import wait_for
    sched, *_ = env
    plain = database_url.replace("+psycopg", "")
    holder, watcher = psycopg.connect(plain), psycopg.connect(plain, autocommit=True)
    holder.execute("SELECT n FROM campaign_counts WHERE state = 'queued' FOR UPDATE")
    got = {}

    def add(who):
        try:
            got[who] = sched.queue.add(spec("twice"), "op", request_id="req-twice").id
        except Exception as exc:  # noqa: BLE001 - what the loser raised is what the test reports
            got[who] = exc

    first = threading.Thread(target=add, args=("first",))
    first.start()
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    try:
        wait_for(lambda: watcher.execute(waiting).fetchone()[0] == 1, timeout=20, what="the first add at its counts")
        second = threading.Thread(target=add, args=("second",))
        second.start()
        wait_for(lambda: watcher.execute(waiting).fetchone()[0] == 2, timeout=20, what="the second add at the key")
    finally:
        holder.rollback()
    first.join(20)
    second.join(20)
    assert isinstance(got["first"], str) and got["second"] == got["first"]
    assert sched.queue.list()[1] == 1 and len(sched.queue.changes()) == 1
    holder.close()
    watcher.close()


def _first_held_at_its_write(database_url, monkeypatch, write: str, call):
    """``call(who)`` twice on threads, the first held inside its transaction just after
    ``SchedulerTx.<write>`` (its INSERT in the server) until the second waits on the same key;
    what each returned or raised."""
    import threading
    import psycopg
    from helpers_services import wait_for
    from omp_services.scheduler.repository import SchedulerTx
    watcher = psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True)
    go, holding, original = threading.Event(), threading.Event(), getattr(SchedulerTx, write)

    def held(self, *args):
        original(self, *args)
        if threading.current_thread().name == "first":
            self.tx.touched(Statement(select(literal(1))))       # what was sent is in the server
            holding.set()
            go.wait(20)
    monkeypatch.setattr(SchedulerTx, write, held)
    out = {}

    def run(who):
        try:
            out[who] = call(who)
        except Exception as exc:  # noqa: BLE001 - what a call raised is what the test checks
            out[who] = exc
    activity = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
    threads = [threading.Thread(target=run, args=(who,), name=who) for who in ("first", "second")]
    threads[0].start()
    try:
        # the first held just after its write (a session merely idle in a transaction could be
        # between two statements before it, and a loaded machine lets the second overtake it there)
        assert holding.wait(20), "the first never reached its write"
        threads[1].start()
        wait_for(lambda: watcher.execute(activity + "wait_event_type = 'Lock'").fetchone()[0] == 1, timeout=20,
                 what="the second at the key")
    finally:
        go.set()
        for t in threads:
            if t.ident is not None:         # started
                t.join(20)
        watcher.close()
    return out


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_miners_first_registration_twice_at_once_is_one_miner(env, database_url, monkeypatch):
    """The second registration loses the race on the miner id's key and registers again, as an update."""
    sched, *_ = env
    out = _first_held_at_its_write(database_url, monkeypatch, "save_miner",
                                   lambda who: sched.register_miner("10.0.0.9:50052", "m-twice", 2))
    assert out == {"first": None, "second": None}
    with sched.ctx.store.read() as tx:
        assert [m.miner_id for m in tx.miners()] == ["m-twice"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_changes_of_one_campaign_at_once_log_one_after_the_other(env, database_url):
    """Two reorders of one campaign, both started while another session holds its row: each
    change's "before" in the queue change log is what the other left, never the row they both
    saw before either changed it."""
    import threading
    import psycopg
    from helpers_services import wait_for
    sched, *_ = env
    c = sched.queue.add(spec("x", priority=1), "op")
    plain = database_url.replace("+psycopg", "")
    holder, watcher = psycopg.connect(plain), psycopg.connect(plain, autocommit=True)
    holder.execute("SELECT 1 FROM campaigns WHERE id = %s FOR UPDATE", (c.id,))
    ts = [threading.Thread(target=sched.queue.reorder, args=(c.id, p, "op", "why")) for p in (2, 3)]
    for t in ts:
        t.start()
    try:
        wait_for(lambda: watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND wait_event_type = 'Lock'").fetchone()[0] == 2, timeout=20,
                 what="both reorders at the row")
    finally:
        holder.rollback()
    for t in ts:
        t.join(20)
    changes = [ch for ch in sched.queue.changes(c.id) if ch.action == "reorder"]
    assert len(changes) == 2 and changes[1].before == changes[0].after
    assert changes[0].before["priority"] == 1 and sched.queue.get(c.id).priority == changes[1].after["priority"]
    holder.close()
    watcher.close()


def _side_by_side(database_url, lock_sql, params, *calls):
    """Run ``calls`` on threads while another session holds the row ``lock_sql`` locks; let it go
    once every call waits at it. What each call returned or raised, in order."""
    import threading
    import psycopg
    from helpers_services import wait_for
    plain = database_url.replace("+psycopg", "")
    holder, watcher = psycopg.connect(plain), psycopg.connect(plain, autocommit=True)
    holder.execute(lock_sql, params)
    out = [None] * len(calls)

    def run(i, call):
        try:
            out[i] = call()
        except Exception as exc:  # noqa: BLE001 - what a call raised is part of what the test checks
            out[i] = exc
    ts = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in ts:
        t.start()
    try:
        wait_for(lambda: watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND wait_event_type = 'Lock'").fetchone()[0] == len(calls), timeout=20,
                 what="every call at the locked row")
    finally:
        holder.rollback()
        for t in ts:
            t.join(20)
        holder.close()
        watcher.close()
    return out


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_miner_that_moves_twice_at_once_is_forgotten_at_each_old_address(env, database_url):
    """Two registrations of one miner from two new addresses at once: each reads the row locked,
    so the second sees the first's address as the old one (its channel is dropped) and logs the
    move from there, instead of both moving from the first address."""
    sched, _clock, _probe, miner, _db = env
    sched.register_miner("10.0.0.1:50052", "m-moving", 2)
    _side_by_side(database_url, "SELECT 1 FROM miners WHERE miner_id = %s FOR UPDATE", ("m-moving",),
                  lambda: sched.register_miner("10.0.0.2:50052", "m-moving", 2),
                  lambda: sched.register_miner("10.0.0.3:50052", "m-moving", 2))
    with sched.ctx.store.read() as tx:
        now_at = tx.miner("m-moving").address
    assert len(set(miner.forgotten)) == 2 and now_at not in miner.forgotten
    assert set(miner.forgotten) | {now_at} == {"10.0.0.1:50052", "10.0.0.2:50052", "10.0.0.3:50052"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_pause_and_a_data_readiness_change_at_once_both_stay(env, database_url):
    """Each daemon change reads the row locked: neither writes back what it read before the other
    committed (the pause was lost 20 times in 20 without the lock)."""
    sched, *_ = env
    sched.daemon.transition("start", "op")
    _side_by_side(database_url, "SELECT 1 FROM daemon WHERE id = 1 FOR UPDATE", (),
                  lambda: sched.daemon.transition("pause", "op", "maintenance"),
                  lambda: sched.daemon.set_data_ready(False, "data-eng", "the feed is late"))
    d = sched.daemon.status()
    assert (d.state, d.data_ready) == ("paused", False)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_first_two_daemon_changes_ever_at_once_go_one_after_the_other(env, database_url, monkeypatch):
    """No daemon row yet: both starts find none and insert it; the second loses the race on its key,
    runs again behind the first and is refused as a start of a running daemon, not as a conflict."""
    sched, *_ = env
    with sched.ctx.store.tx() as tx:
        tx.tx.run(Statement(DAEMON.delete()))
    out = _first_held_at_its_write(database_url, monkeypatch, "save_daemon",
                                   lambda who: sched.daemon.transition("start", who))
    assert out["first"] == "running" and isinstance(out["second"], FailedPrecondition)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_run_result_and_its_retry_at_once_settle_the_campaign_once(env, database_url):
    """A miner's retry of a result while the first is still in the database: the fence reads the
    campaign locked, so the second sees the attempt ended and is refused as stale."""
    sched, *_ = env
    c = sched.queue.add(spec(repeat=True), "op")
    sched.daemon.transition("start", "op")
    sched.tick()
    out = _side_by_side(database_url, "SELECT 1 FROM campaigns WHERE id = %s FOR UPDATE", (c.id,),
                        lambda: sched.attempts.report_result(c.id, 1, "run_x", "completed"),
                        lambda: sched.attempts.report_result(c.id, 1, "run_x", "completed"))
    assert sorted(type(o).__name__ for o in out) == ["Campaign", "FailedPrecondition"]
    assert [ch.action for ch in sched.queue.changes(c.id)].count("requeue") == 1


def test_import_export_round_trip(env):
    sched, *_ = env
    doc = {"version": "1.0", "updated_at": "2026-01-01T00:00:00Z", "campaigns": [
        {"id": "camp_a", "name": "A", "config_path": "tiny.toml", "market": "br", "priority": 1, "enabled": True,
         "repeat": True, "tags": ["momentum", "intraday"], "created_at": "2026-01-01T00:00:00Z"},
        {"id": "camp_b", "name": "B", "config_path": "tiny.toml", "market": "us", "priority": 2, "enabled": False,
         "repeat": False, "tags": [], "created_at": "2026-01-01T00:00:00Z"}]}
    added, skipped = sched.queue_file.import_(doc, "op", "migration")
    assert (len(added), skipped) == (2, 0)
    again, skipped = sched.queue_file.import_(doc, "op")
    assert (len(again), skipped) == (0, 2)
    out = sched.queue_file.export()[0]
    assert [(c["id"], c["market"], c["priority"], c["enabled"], c["repeat"], c["tags"]) for c in out["campaigns"]] == [
        ("camp_a", "br", 1, True, True, ["momentum", "intraday"]), ("camp_b", "us", 2, False, False, [])]


def test_a_repeat_campaign_waits_out_its_cooldown_and_enabling_ends_it(env):
    sched, clock, probe, miner, _ = env
    rep = sched.queue.add(spec("rep", 1, repeat=True), "op")
    sched.daemon.transition("start", "op")
    sched.tick()
    t_done = clock.now()
    after = sched.attempts.report_result(rep.id, 1, "run_1", "completed")
    assert after.state == "queued" and after.not_before == t_done + 3600   # the default cooldown
    requeue = [e for e in sched.events_after(0) if e.kind == "campaign.requeue"][-1]
    assert "not before" in requeue.message
    out = sched.tick()                              # nothing else queued: it waits, and says so
    assert len(miner.started) == 1 and out.kind is Tick.IDLE and "waits until" in out.message
    other = sched.queue.add(spec("other", 5), "op")       # a lower priority that is due runs meanwhile
    sched.tick()
    assert [s[0] for s in miner.started] == [rep.id, other.id]
    sched.attempts.report_result(other.id, 1, "run_o", "completed")
    clock.advance(3599)
    sched.tick()
    assert len(miner.started) == 2
    clock.advance(1)                                # the cooldown is over
    sched.tick()
    assert [s[:2] for s in miner.started][-1] == (rep.id, 2)
    sched.attempts.report_result(rep.id, 2, "run_2", "completed")
    assert sched.queue.get(rep.id).not_before is not None
    sched.queue.set_enabled(rep.id, True, "op", "run it now")   # the operator's "go"
    assert sched.queue.get(rep.id).not_before is None
    sched.tick()
    assert [s[:2] for s in miner.started][-1] == (rep.id, 3)


def test_a_failed_run_is_requeued_without_a_cooldown(env):
    sched, clock, probe, miner, _ = env
    rep = sched.queue.add(spec("rep", 1, repeat=True), "op")
    sched.daemon.transition("start", "op")
    sched.tick()
    after = sched.attempts.report_result(rep.id, 1, "run_1", "failed", "exit 1")
    assert after.state == "queued" and after.not_before is None
    sched.tick()
    assert [s[:2] for s in miner.started][-1] == (rep.id, 2)


def test_a_fresh_scheduler_is_offline_and_uncertain_of_its_data_so_it_admits_nothing(database_url, tmp_path):
    """The domain decides the first-start default (fail closed, DESIGN.md): offline, and data
    readiness uncertain until an operator vouches for it; starting the daemon alone admits nothing."""
    settings = settings_mod.load(overrides={"paths": {"configs_root": str(CONFIGS)}}, sections=SECTIONS)
    db = Database(database_url)
    migrate(db)
    miner = Miner()
    sched = Scheduler(SchedulerStore(db), settings.section("scheduler"), settings.configs_root, FakeClock(),
                      Probe(), miner)
    try:
        d = sched.status().daemon
        assert (d.state, d.data_ready) == ("offline", False) and "never confirmed" in d.data_reason
        sched.queue.add(spec(), "op")
        sched.daemon.transition("start", "op")
        out = sched.tick()
        assert out.kind is Tick.REFUSED and "never confirmed" in out.message and miner.started == []
        sched.daemon.set_data_ready(True, "data-eng", "")
        assert sched.tick().kind is Tick.ADMITTED and len(miner.started) == 1
        assert sched.status().daemon.state == "running"      # the data change kept the daemon's state
    finally:
        db.dispose()


def test_the_tick_says_what_it_did_and_when_the_next_one_is_due(env):
    sched, clock, probe, miner, _ = env
    interval = sched.cfg.loop_interval_s
    out = sched.tick()
    assert (out.kind, out.delay) == (Tick.IDLE, interval) and out.message == "idle: daemon offline"
    sched.daemon.transition("start", "op")
    rep = sched.queue.add(spec("rep", repeat=True), "op")
    out = sched.tick()
    assert out.kind is Tick.ADMITTED and out.delay == interval           # max_concurrent_campaigns = 1: full
    assert sched.tick().kind is Tick.FULL
    sched.attempts.report_result(rep.id, 1, "run_1", "completed")
    clock.advance(3600 - 10)                  # the repeat cooldown ends in 10 s: the next tick then, not later
    out = sched.tick()
    assert out.kind is Tick.IDLE and out.delay == 10.0
    clock.advance(10)
    assert sched.tick().kind is Tick.ADMITTED
    sched.attempts.report_result(rep.id, 2, "run_2", "failed", "boom")
    sched.ctx.cfg = dataclasses.replace(sched.ctx.cfg, max_concurrent_campaigns=2)
    sched.queue.add(spec("other"), "op")
    out = sched.tick()
    assert out.kind is Tick.ADMITTED and out.delay == 0.0                # room for one more: look again at once
    probe.reading = Reading(error="psutil failed")
    out = sched.tick()
    assert out.kind is Tick.REFUSED and out.delay == interval


def test_a_completed_run_is_handed_to_promotion_and_a_failed_one_is_not(env):
    sched, clock, probe, miner, _ = env
    promoter = sched.attempts.promoter
    a, b = sched.queue.add(spec("a", 1), "op"), sched.queue.add(spec("b", 2), "op")
    sched.daemon.transition("start", "op")
    sched.tick()
    sched.attempts.report_result(a.id, 1, "run_a", "failed", "boom")
    assert promoter.handed == []
    sched.queue.set_enabled(a.id, False, "op", "look at it first")
    sched.tick()
    promoter.down = True
    sched.attempts.report_result(b.id, 1, "run_b", "completed")
    assert sched.attempts.handoff_wake.is_set()                     # the sender is told at once
    assert sched.attempts.deliver_handoffs() == 1 and promoter.handed == []     # away: kept in the outbox
    promoter.down = False
    assert sched.attempts.deliver_handoffs() == 1 and promoter.handed == []     # its retry is not due yet
    clock.advance(1.0)
    assert sched.attempts.deliver_handoffs() == 0 and promoter.handed == [(b.id, "run_b")]
    assert sched.attempts.deliver_handoffs() == 0 and promoter.handed == [(b.id, "run_b")]     # once
    pending = [e for e in sched.events_after(0) if e.kind == "promotion.pending"]
    assert [e.detail["run_id"] for e in pending] == ["run_b"]
    assert "no promoter configured" not in pending[0].message
    judged = [e for e in sched.events_after(0) if e.kind == "promotion.judged"]
    assert [(e.detail["run_id"], e.detail["outcome"]) for e in judged] == [("run_b", "rejected")]


def test_a_hand_off_refused_again_and_again_is_reported_and_never_holds_up_the_others(env):
    sched, clock, probe, miner, _ = env
    promoter = sched.attempts.promoter
    found = []
    sched.ctx.report = found.append
    refused = {"run_a"}

    def promote(campaign_id, run_id):
        if run_id in refused:
            from omp_services.common.errors import FailedPrecondition
            raise FailedPrecondition(f"run_id: run {run_id} did not complete")
        promoter.handed.append((campaign_id, run_id))
        return "promoted"
    promoter.promote = promote
    a, b = sched.queue.add(spec("a", 1), "op"), sched.queue.add(spec("b", 2), "op")
    sched.daemon.transition("start", "op")
    sched.ctx.cfg = dataclasses.replace(sched.ctx.cfg, max_concurrent_campaigns=2)
    sched.tick()
    sched.tick()
    sched.attempts.report_result(a.id, 1, "run_a", "completed")
    sched.attempts.report_result(b.id, 1, "run_b", "completed")
    for _ in range(6):
        sched.attempts.deliver_handoffs()
        clock.advance(10**6)
    assert promoter.handed == [(b.id, "run_b")]                 # the refused one did not hold it up
    assert [(f.kind, f.key) for f in found] == [("promotion_handoff", "run_a")]
    with sched.ctx.store.tx() as tx:                            # after weeks of refusals, no overflow
        tx.retry_handoff("run_a", 5000, clock.now(), "still refused")
    assert sched.attempts.deliver_handoffs() == 1


def test_the_kept_counts_equal_the_queue_after_every_kind_of_change(env):
    """The status reads counts kept with each change (it no longer scans the queue): after a random
    mix of everything that moves a campaign, each count equals a scan of the queue."""
    import random
    from omp_services.common.vocabulary import CampaignState
    sched, clock, probe, miner, _ = env
    sched.daemon.transition("start", "op")
    sched.ctx.cfg = dataclasses.replace(sched.ctx.cfg, max_concurrent_campaigns=3, repeat_cooldown_s=0)
    rng = random.Random(11)
    ids: list[str] = []

    def check():
        st = sched.status()
        rows, total = sched.queue.list(offset=0, limit=100_000)
        scanned = collections.Counter(c.state for c in rows)       # the rows themselves, not a count
        assert total == len(rows)
        for state in CampaignState:
            with sched.ctx.store.read() as tx:
                assert tx.count(state) == scanned[state], (state, tx.count(state), scanned[state])
            assert sched.queue.list(state=state, limit=1)[1] == scanned[state]
        disabled = sum(1 for c in rows if c.state == "queued" and not c.enabled)
        assert (st.queued, st.running, st.disabled) == (scanned["queued"] - disabled, scanned["running"], disabled)

    for step in range(160):
        op = rng.choice(["add", "add", "tick", "report", "disable", "enable", "remove", "import", "requeue"])
        try:
            if op == "add":
                ids.append(sched.queue.add(spec(f"c{step}", rng.randint(0, 5), repeat=rng.random() < 0.3), "op").id)
            elif op == "import":
                doc = {"campaigns": [{"name": f"i{step}-{k}", "config_path": "tiny.toml"} for k in range(3)]}
                ids += [c.id for c in sched.queue_file.import_(doc, "op")[0]]
            elif op == "tick":
                sched.tick()
            elif op == "report":
                running = sched.queue.list(state="running", limit=100)[0]
                if running:
                    c = rng.choice(running)
                    sched.attempts.report_result(c.id, c.attempt, f"run_{step}",
                                                 rng.choice(["completed", "failed", "cancelled"]), "x")
            elif ids:
                cid = rng.choice(ids)
                if op == "disable":
                    sched.queue.set_enabled(cid, False, "op", "pause it")
                elif op == "enable":
                    sched.queue.set_enabled(cid, True, "op", "")
                elif op == "requeue":
                    sched.queue.requeue(cid, "op", "again")
                else:
                    sched.queue.remove(cid, "op", "gone")
        except (FailedPrecondition, NotFound):
            pass                    # a running campaign cannot be removed; a removed one is gone
        check()


def test_a_throttle_spaces_admissions_and_ends_by_itself(env):
    sched, clock, probe, miner, _ = env
    sched.ctx.cfg = dataclasses.replace(sched.ctx.cfg, max_concurrent_campaigns=3, loop_interval_s=30.0)
    for k in range(3):
        sched.queue.add(spec(f"c{k}", k), "op")
    sched.daemon.transition("start", "op")
    with pytest.raises(InvalidArgument, match="factor must be in"):
        sched.throttle(0.5, 60, "watchdog")
    with pytest.raises(InvalidArgument, match="seconds must be in"):
        sched.throttle(4, 0, "watchdog")
    sched.throttle(4, 300, "watchdog", "INC-1: cpu 97% for 60 s")
    st = sched.status()
    assert st.throttle_factor == 4 and st.throttled_until == clock.now() + 300
    assert sched.tick().kind is Tick.ADMITTED
    out = sched.tick()
    assert out.kind is Tick.IDLE and out.message.startswith("throttled") and len(miner.started) == 1
    assert out.delay == 120.0                           # 4 x the 30 s interval
    clock.advance(120)
    assert sched.tick().kind is Tick.ADMITTED and len(miner.started) == 2
    clock.advance(200)                                  # the throttle is over: normal pace again
    assert sched.tick().kind is Tick.ADMITTED and len(miner.started) == 3
    assert sched.status().throttled_until is None
    throttled = [e for e in sched.events_after(0) if e.kind == "daemon.throttled"]
    assert len(throttled) == 1 and throttled[0].actor == "watchdog" and "INC-1" in throttled[0].message


def test_the_metrics_start_every_end_status_and_tick_outcome_at_zero():
    """So that an error-burst or failure-rate alert sees the first failure as an increase."""
    from prometheus_client import CollectorRegistry
    from omp_services.scheduler.entities import Tick
    from omp_services.scheduler.metrics import SchedulerMetrics
    registry = CollectorRegistry()
    metrics = SchedulerMetrics(registry)
    value = registry.get_sample_value
    ended = [("completed", ""), ("failed", "campaign"), ("failed", "other"), ("cancelled", "")]
    assert [value("omp_scheduler_runs_ended_total", {"status": s, "fault": f}) for s, f in ended] == [0] * 4
    assert value("omp_scheduler_runs_ended_total", {"status": "running", "fault": ""}) is None
    assert all(value("omp_scheduler_ticks_total", {"outcome": t.value}) == 0 for t in Tick)
    # a failure the campaign is to blame for, and one it is not (the alerts count only the first)
    from omp_services.common.vocabulary import blames_campaign
    for error in ("exit code 1: KeyError", "miner did not start the run: unreachable"):
        metrics.run_ended("failed", blames_campaign("failed", error))
    assert value("omp_scheduler_runs_ended_total", {"status": "failed", "fault": "campaign"}) == 1
    assert value("omp_scheduler_runs_ended_total", {"status": "failed", "fault": "other"}) == 1


# ---------------------------------------------------------------------------- several miners
def _two_miners(sched, slots_a=1, slots_b=1, cap=3):
    sched.ctx.cfg = dataclasses.replace(sched.ctx.cfg, max_concurrent_campaigns=cap)
    sched.register_miner("10.0.0.1:50052", "host-a", slots_a)
    sched.register_miner("10.0.0.2:50052", "host-b", slots_b)


def test_admission_spreads_campaigns_over_the_miners_with_free_slots(env):
    """Each campaign goes to a registered miner with a free slot (the most free first); when every
    slot is taken the queue waits even under the global cap; a run's end frees its miner's slot."""
    sched, clock, probe, miner, _ = env
    _two_miners(sched, slots_a=2, slots_b=1, cap=4)
    cs = [sched.queue.add(spec(f"c{i}"), "op") for i in range(4)]
    sched.daemon.transition("start", "op")
    kinds = [sched.tick().kind for _ in range(4)]
    assert kinds == [Tick.ADMITTED] * 3 + [Tick.FULL]
    assert collections.Counter(miner.at.values()) == {"10.0.0.1:50052": 2, "10.0.0.2:50052": 1}
    assert "every miner's slots are taken (host-a 2/2, host-b 1/1)" in sched.status().last_tick.message
    views = {v.miner.miner_id: v for v in sched.status().miners}
    assert (views["host-a"].running, views["host-b"].running) == (2, 1) and views["host-a"].fresh
    # the first campaign (on host-a) completes: host-a has a slot again and takes the fourth
    first = next(c for c in cs if miner.at.get((c.id, 1)) == "10.0.0.1:50052")
    (last,) = [c for c in cs if (c.id, 1) not in miner.at]
    sched.attempts.report_result(first.id, 1, f"run_{first.id}_1", "completed")
    assert sched.tick().kind is Tick.ADMITTED
    assert miner.at[(last.id, 1)] == "10.0.0.1:50052"


def test_a_miner_that_does_not_answer_backs_off_alone_while_the_other_goes_on(env):
    sched, clock, probe, miner, _ = env
    _two_miners(sched, slots_a=0, slots_b=0)
    a, b = sched.queue.add(spec("a"), "op"), sched.queue.add(spec("b"), "op")
    sched.daemon.transition("start", "op")
    miner.down = {"10.0.0.1:50052"}          # host-a (first by id when both are free) is down
    out = sched.tick()
    assert out.kind is Tick.MINER_REFUSED and "host-a" in out.message and out.delay == 0.0   # host-b is there
    assert sched.tick().kind is Tick.ADMITTED and sched.tick().kind is Tick.ADMITTED
    assert set(miner.at.values()) == {"10.0.0.2:50052"} and len(miner.at) == 2
    got = [sched.queue.get(c.id) for c in (a, b)]
    assert sorted(c.attempt for c in got) == [1, 2] and all(c.consecutive_failures == 0 for c in got)
    views = {v.miner.miner_id: v for v in sched.status().miners}
    assert views["host-a"].backoff_until is not None and views["host-b"].backoff_until is None


def test_a_dead_miner_fails_only_its_own_attempts_as_orphaned_and_is_used_again_when_back(env):
    sched, clock, probe, miner, _ = env
    _two_miners(sched)
    a, b = sched.queue.add(spec("a"), "op"), sched.queue.add(spec("b"), "op")
    sched.daemon.transition("start", "op")
    sched.tick(), sched.tick()
    on = {miner.at[(c.id, 1)]: c for c in (a, b)}
    dead, alive = on["10.0.0.1:50052"], on["10.0.0.2:50052"]
    miner.down = {"10.0.0.1:50052"}
    clock.advance(61)                       # both leases expired; only host-b registers meanwhile
    sched.register_miner("10.0.0.2:50052", "host-b", 1)
    out = sched.tick()
    got_dead, got_alive = sched.queue.get(dead.id), sched.queue.get(alive.id)
    assert got_dead.state == "queued" and "orphaned: lease expired and the miner is unreachable" in got_dead.last_error
    assert got_alive.state == "running" and got_alive.attempt == 1       # renewed, untouched
    assert out.kind is Tick.FULL                                           # host-a is stale, host-b is full
    clock.advance(31)
    sched.register_miner("10.0.0.2:50052", "host-b", 1)
    assert sched.tick().kind is Tick.FULL, "a miner not heard of for miner_seen_within_s is not chosen"
    miner.down = set()
    sched.ctx.wake.clear()
    sched.register_miner("10.0.0.1:50052", "host-a", 1)                  # it comes back
    assert sched.ctx.wake.is_set()
    assert sched.tick().kind is Tick.ADMITTED and miner.at[(dead.id, 2)] == "10.0.0.1:50052"


def test_a_miner_that_moved_is_reached_at_its_new_address(env):
    sched, clock, probe, miner, _ = env
    sched.register_miner("10.0.0.1:50052", "host-a", 1)
    c = sched.queue.add(spec(), "op")
    sched.daemon.transition("start", "op")
    sched.tick()
    sched.register_miner("10.0.0.9:50052", "host-a", 1)      # restarted elsewhere, its run still there
    assert miner.forgotten == ["10.0.0.1:50052"]
    miner.at[(c.id, 1)] = "10.0.0.9:50052"
    clock.advance(61)
    sched.tick()                                              # the lease expired: asked at the new address
    assert sched.queue.get(c.id).state == "running"


@pytest.mark.parametrize("address, miner_id, slots, field", [
    ("nohost", "m", 1, "address"), ("10.0.0.1:70000", "m", 1, "address"), ("10.0.0.1:1", "bad id", 1, "miner_id"),
    ("10.0.0.1:1", "-m", 1, "miner_id"), ("10.0.0.1:1", "m", -1, "slots"), ("10.0.0.1:1", "m", 1025, "slots"),
    ("0.0.0.0:50052", "m", 1, "advertise_address"), ("[::]:50052", "m", 1, "advertise_address")])
def test_a_bad_registration_is_refused_naming_the_field_and_changes_nothing(env, address, miner_id, slots, field):
    sched, *_ = env
    before = snapshot(sched)
    with pytest.raises(InvalidArgument, match=field):
        sched.register_miner(address, miner_id, slots)
    assert snapshot(sched) == before and [v.miner.miner_id for v in sched.status().miners] == [""]


# ---------------------------------------------------------------------------- a standby scheduler
def _standby(env, scheduler_id="s2"):
    sched, clock, probe, miner, db = env
    return Scheduler(SchedulerStore(db), sched.cfg, sched.ctx.configs_root, clock, probe, miner,
                     promoter=Promoter(), scheduler_id=scheduler_id)


def test_one_of_two_schedulers_leads_and_the_other_takes_over_once_the_lease_expires(env):
    sched, clock, probe, miner, db = env
    other = _standby(env)
    c = sched.queue.add(spec(), "op")
    other.daemon.transition("start", "op")          # a standby serves writes: they are the database's
    assert other.tick().kind is Tick.ADMITTED and other.status().leading
    assert sched.tick().kind is Tick.STANDBY and sched.status().leader == "s2" and not sched.status().leading
    with pytest.raises(FailedPrecondition, match="standby: throttle the leader, s2"):
        sched.throttle(2.0, 60.0, "watchdog")
    sched.attempts.report_result(c.id, 1, f"run_{c.id}_1", "completed")
    d = sched.queue.add(spec("d"), "op")
    clock.advance(sched.cfg.leader_lease_s - 1)
    assert sched.tick().kind is Tick.STANDBY, "the lease has not expired"
    clock.advance(2)                                  # s2 died: its lease expired
    assert sched.tick().kind is Tick.ADMITTED and sched.status().leading
    assert miner.started[-1][0] == d.id
    assert other.tick().kind is Tick.STANDBY and other.status().leader == "scheduler"
    (took,) = [e for e in sched.events_after(0) if e.kind == "scheduler.leader"]   # a change of leader only
    assert "scheduler leads (epoch 2) after s2" in took.message


def test_a_deposed_leader_admits_nothing_even_if_it_has_not_noticed(env):
    """The fence: the attempt is written in a transaction that first finds the lease still this
    scheduler's at its epoch; a leader that lost it between its renewal and its admission writes nothing."""
    sched, clock, probe, miner, db = env
    other = _standby(env)
    c = sched.queue.add(spec(), "op")
    sched.daemon.transition("start", "op")
    assert sched.leadership.renew()
    clock.advance(sched.cfg.leader_lease_s + 1)
    assert other.leadership.renew()                  # the standby took the lease
    before = snapshot(sched)
    out = sched.admission._admit_next(clock.now(), sched.miners.default)
    assert out.kind is Tick.STANDBY and snapshot(sched) == before and miner.started == []
    assert sched.queue.get(c.id).attempt == 0


def test_a_clean_stop_gives_the_lease_up_and_a_restart_takes_its_own_back(env):
    sched, clock, probe, miner, db = env
    other = _standby(env)
    assert sched.leadership.renew() and not other.leadership.renew()
    sched.leadership.release()
    assert other.leadership.renew(), "a released lease is taken at once"
    epoch = other.leadership.epoch
    restarted = _standby(env, "s2")                   # s2 again, after a SIGKILL: its own lease
    assert restarted.leadership.renew() and restarted.leadership.epoch == epoch + 1
    with SchedulerStore(db).tx() as tx:
        assert not other.leadership.holds(tx, clock.now()), "its former self is fenced off by the epoch"


def test_a_miner_that_refuses_what_another_takes_backs_off_and_the_campaign_is_not_blamed(env):
    """A miner whose configs root or data differ refuses every campaign: with another miner there,
    it backs off and the campaigns go to the other; nothing is quarantined."""
    sched, clock, probe, miner, _ = env
    _two_miners(sched, slots_a=2, slots_b=2, cap=4)
    cs = [sched.queue.add(spec(f"c{i}"), "op") for i in range(4)]
    sched.daemon.transition("start", "op")
    real = miner.start_run

    def refusing(address, *args):
        if address == "10.0.0.1:50052":
            raise InvalidArgument("config_path 'tiny.toml': no such file under /elsewhere")
        return real(address, *args)
    miner.start_run = refusing
    kinds = []
    for _ in range(12):                 # host-b fills up; host-a is asked again after each wait
        out = sched.tick()
        kinds.append(out.kind)
        clock.advance(max(out.delay, 1.0))
    assert kinds.count(Tick.ADMITTED) == 2 and kinds.count(Tick.MINER_REFUSED) >= 3
    got = [sched.queue.get(c.id) for c in cs]
    assert all(c.enabled and c.consecutive_failures == 0 for c in got)
    assert set(miner.at.values()) == {"10.0.0.2:50052"}
    views = {v.miner.miner_id: v for v in sched.status().miners}
    assert views["host-a"].backoff_until is not None


def test_a_miner_that_keeps_registering_but_never_answers_stays_backed_off_and_is_reported(env):
    sched, clock, probe, miner, _ = env
    reported = []
    sched.ctx.report = reported.append
    sched.register_miner("10.0.0.1:50052", "host-a", 1)
    sched.queue.add(spec(), "op")
    sched.daemon.transition("start", "op")
    miner.down = {"10.0.0.1:50052"}
    starts = 0
    for _ in range(200):                    # ten minutes, registering every few seconds as a miner does
        out = sched.tick()
        starts += out.message.startswith("admitted")
        step = min(out.delay, 3.0)
        clock.advance(step)
        sched.register_miner("10.0.0.1:50052", "host-a", 1)
    assert starts <= 12, f"{starts} StartRuns to a miner that never answers"
    assert [f.kind for f in reported] == ["miner_unreachable"]


def test_two_schedulers_with_one_id_do_not_take_the_lease_from_each_other(env):
    sched, clock, probe, miner, db = env
    twin = _standby(env, "scheduler")                 # the same id as sched, by mistake
    assert sched.leadership.renew()
    clock.advance(sched.cfg.leader_lease_s + 1)
    assert twin.leadership.renew()                    # the lease had expired: taken, new epoch
    assert not sched.leadership.renew() and twin.leadership.renew()
    assert not sched.leadership.renew(), "the one whose epoch was taken stands by, it does not take it back"


def test_a_released_lease_is_never_taken_again_by_the_stopping_scheduler(env):
    sched, clock, probe, miner, db = env
    assert sched.leadership.renew()
    sched.leadership.release()
    assert not sched.leadership.renew() and not sched.status().leading


def test_a_lease_row_held_by_a_frozen_scheduler_does_not_block_a_renewal(pg_url, tmp_path):
    """PostgreSQL: the row is locked NOWAIT; a standby whose renewal finds it held goes on standing by
    at once (the server ends the frozen session after IDLE_IN_TX_S)."""
    import time

    import psycopg
    settings = settings_mod.load(overrides={"paths": {"configs_root": str(CONFIGS), "data_dir": str(tmp_path)},
                                            "database": {"url": pg_url}}, sections=SECTIONS)
    db = Database(pg_url)
    migrate(db)
    try:
        standby = Scheduler(SchedulerStore(db), settings.section("scheduler"), settings.configs_root, FakeClock(),
                            Probe(), Miner(), scheduler_id="s2")
        with psycopg.connect(pg_url.replace("+psycopg", "")) as frozen:
            frozen.execute("SELECT * FROM leases WHERE name = 'scheduler' FOR UPDATE")
            t0 = time.monotonic()
            assert not standby.leadership.renew()
            assert time.monotonic() - t0 < 5.0
        assert standby.leadership.renew()             # the frozen one is gone: the lease is taken
    finally:
        db.dispose()
