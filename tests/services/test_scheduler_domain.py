"""The scheduler's rules against a real database (SQLite and PostgreSQL), a fake clock, a probe that
returns chosen readings (the machine's real load cannot be set), and a miner gateway that records
what it is asked (the real gRPC path is covered by tests/services/test_end_to_end.py)."""
from __future__ import annotations

import json
import os

import pytest

from helpers_services import CONFIGS
from services.common import settings as settings_mod
from services.common.clock import FakeClock
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.common.storage.db import Database
from services.scheduler.repository import SchedulerStore
from services.scheduler.resources import Reading, judge
from services.scheduler.scheduler import CampaignSpec, RunState, Scheduler


class Probe:
    def __init__(self):
        self.reading = judge(10.0, 8000.0, 50.0, 85.0, 400.0, 1.0)

    def read(self):
        return self.reading


class Miner:
    def __init__(self):
        self.started, self.runs, self.fail_with = [], {}, None
        self.target = "127.0.0.1:50052"

    def register(self, address):
        self.target = address

    def start_run(self, campaign_id, attempt, config_path, config_hash):
        if self.fail_with:
            raise self.fail_with
        run_id = f"run_{campaign_id}_{attempt}"
        self.started.append((campaign_id, attempt, config_hash))
        self.runs[(campaign_id, attempt)] = RunState(run_id, "running")
        return run_id

    def get_run(self, campaign_id, attempt):
        return self.runs.get((campaign_id, attempt))


@pytest.fixture
def env(database_url, tmp_path):
    settings = settings_mod.load(overrides={
        "paths": {"configs_root": str(CONFIGS), "data_dir": str(tmp_path)},
        "database": {"url": database_url},
        "scheduler": {"max_concurrent_campaigns": 1, "lease_seconds": 60.0, "aging_hours_per_step": 1.0}})
    db = Database(database_url)
    db.migrate()
    clock, probe, miner = FakeClock(), Probe(), Miner()
    sched = Scheduler(SchedulerStore(db), settings, clock, probe, miner)
    yield sched, clock, probe, miner, db
    db.dispose()


def spec(name="c", priority=10, **kw):
    return CampaignSpec(name=name, config_path="tiny.toml", priority=priority, **kw)


def snapshot(sched):
    """Everything an operator could see change."""
    campaigns, total = sched.list(offset=0, limit=10_000)
    return [c.public() for c in campaigns], total, len(sched.changes(limit=10_000)), len(sched.events_after(0))


def test_migrations_are_idempotent(env):
    sched, *_, db = env
    db.migrate()            # a second service starting on the same database
    assert sched.status()["daemon"].state == "offline"


def test_queue_order_priority_then_age_with_aging(env):
    sched, clock, *_ = env
    a = sched.add(spec("low", 3), "op")
    clock.advance(60)
    b = sched.add(spec("high", 1), "op")
    clock.advance(60)
    c = sched.add(spec("high-later", 1), "op")
    order = [x.id for x in sched.list(state="queued")[0]]
    assert order == [b.id, c.id, a.id]
    # one priority step per hour of waiting (aging_hours_per_step = 1): "low" has waited 2 min more
    # than "high"; after 2 hours it is ahead
    clock.advance(2 * 3600)
    d = sched.add(spec("new-high", 1), "op")
    assert [x.id for x in sched.list(state="queued")[0]][-1] == d.id


def test_list_filters_by_tag_state_and_enabled_with_pages(env):
    sched, *_ = env
    sched.add(spec("a", 1, tags=("a_b",)), "op")
    b = sched.add(spec("b", 2, tags=("axb", "50%")), "op")
    c = sched.add(spec("c", 3, tags=("a",), enabled=False), "op")
    names = lambda **f: [x.name for x in sched.list(**f)[0]]  # noqa: E731
    # LIKE's own characters in a tag match only themselves; a tag matches whole elements only
    assert names(tag="a_b") == ["a"]
    assert names(tag="50%") == ["b"] and names(tag="50") == []
    assert names(tag="a") == ["c"]
    assert names(enabled_only=True) == ["a", "b"]
    sched.remove(b.id, "op", "done with it")
    assert names(state="queued") == ["a", "c"]
    page, total = sched.list(offset=1, limit=1)
    assert [x.id for x in page] == [c.id] and total == 2


def test_changes_are_logged_with_actor_and_reason(env):
    sched, *_ = env
    c = sched.add(spec(), "alice", "first campaign")
    sched.reorder(c.id, 2, "bob", "more urgent")
    sched.set_enabled(c.id, False, "carol", "broken data")
    sched.update(c.id, {"repeat": True, "tags": ("momentum",)}, "dave")
    sched.remove(c.id, "erin", "obsolete")
    log = sched.changes(c.id)
    assert [(x.action, x.actor, x.reason) for x in log] == [
        ("add", "alice", "first campaign"), ("reorder", "bob", "more urgent"), ("disable", "carol", "broken data"),
        ("update", "dave", ""), ("remove", "erin", "obsolete")]
    assert log[1].before["priority"] == 10 and log[1].after["priority"] == 2
    assert log[-1].after is None
    with pytest.raises(NotFound):
        sched.get(c.id)
    kinds = [e.kind for e in sched.events_after(0)]
    assert kinds == ["campaign.added", "campaign.reorder", "campaign.disable", "campaign.updated",
                     "campaign.removed"]


@pytest.mark.parametrize("call,field", [
    (lambda s, c: s.add(spec(name=""), "op"), "campaign.name"),
    (lambda s, c: s.add(spec(name="x" * 201), "op"), "campaign.name"),
    (lambda s, c: s.add(spec(priority=-3), "op"), "campaign.priority"),
    (lambda s, c: s.add(CampaignSpec("x", "../golden/backtests.json"), "op"), "campaign.config_path"),
    (lambda s, c: s.add(CampaignSpec("x", "../../../examples/campaigns/us_daily_momentum.toml"), "op"),
     "campaign.config_path"),
    (lambda s, c: s.add(CampaignSpec("x", str(CONFIGS / "tiny.toml")), "op"), "campaign.config_path"),
    (lambda s, c: s.add(CampaignSpec("x", "missing.toml"), "op"), "campaign.config_path"),
    (lambda s, c: s.add(spec(market="jp"), "op"), "campaign.market"),
    (lambda s, c: s.update(c.id, {"state": "completed"}, "op"), "update_mask"),
    (lambda s, c: s.update(c.id, {"priority": -1}, "op", "why"), "campaign.priority"),
    (lambda s, c: s.reorder(c.id, 1, "op", ""), "reason"),
    (lambda s, c: s.set_enabled(c.id, False, "op", " "), "reason"),
    (lambda s, c: s.remove(c.id, "op", ""), "reason"),
    (lambda s, c: s.import_queue(b"{not json", "op"), "queue_json"),
    (lambda s, c: s.import_queue(b'{"campaigns": [{"name": "x", "config_path": "tiny.toml", "priority": "1"}]}',
                                 "op"), "queue_json.campaigns[0].priority"),
    (lambda s, c: s.import_queue(b'{"campaigns": [{"name": "ok", "config_path": "tiny.toml"}, '
                                 b'{"name": "x", "config_path": "/etc/passwd"}]}', "op"),
     "queue_json.campaigns[1].config_path"),
])
def test_bad_input_names_the_field_and_changes_nothing(env, call, field):
    sched, *_ = env
    c = sched.add(spec(), "op")
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
            sched.add(CampaignSpec("x", link.name), "op")
    finally:
        link.unlink()


def test_unknown_ids_are_not_found(env):
    sched, *_ = env
    for call in (lambda: sched.get("camp_nope"), lambda: sched.reorder("camp_nope", 1, "op", "r"),
                 lambda: sched.remove("camp_nope", "op", "r"), lambda: sched.update("camp_nope", {"repeat": True}, "op")):
        with pytest.raises(NotFound, match="camp_nope"):
            call()


def test_daemon_transitions(env):
    sched, *_ = env
    with pytest.raises(FailedPrecondition, match="cannot pause while offline"):
        sched.transition("pause", "op")
    assert sched.transition("start", "op") == "running"
    with pytest.raises(FailedPrecondition):
        sched.transition("start", "op")
    assert sched.transition("pause", "op") == "paused"
    with pytest.raises(FailedPrecondition):
        sched.transition("pause", "op")
    assert sched.transition("resume", "op") == "running"
    assert sched.transition("stop", "op") == "offline"


def test_admission_checks_daemon_data_resources_and_concurrency(env):
    sched, clock, probe, miner, _ = env
    a = sched.add(spec("a", 1), "op")
    b = sched.add(spec("b", 2), "op")
    sched.tick()
    assert miner.started == []                                  # daemon offline
    sched.transition("start", "op")
    sched.set_data_ready(False, "data-eng", "vendor feed late")
    sched.tick()
    assert miner.started == [] and "data readiness" in sched.last_tick_outcome
    sched.set_data_ready(True, "data-eng", "")
    probe.reading = judge(91.0, 300.0, 50.0, 85.0, 400.0, 1.0)
    sched.tick()
    assert miner.started == []
    refused = [e for e in sched.events_after(0) if e.kind == "admission.refused"][-1]
    assert "cpu 91.0% > 85%" in refused.message and "memory available 300 MB < 400 MB" in refused.message
    assert "cpu 91.0%" in refused.detail["reading"]
    probe.reading = Reading(error="psutil failed")               # no reading: fail closed
    sched.tick()
    assert miner.started == [] and "no resource reading" in sched.last_tick_outcome
    probe.reading = judge(10.0, 8000.0, 50.0, 85.0, 400.0, 1.0)
    sched.tick()
    assert [s[:2] for s in miner.started] == [(a.id, 1)]
    assert len(miner.started[0][2]) == 64                       # the config hash is recorded
    sched.tick()
    assert len(miner.started) == 1 and sched.last_tick_outcome.startswith("full")
    assert sched.get(a.id).state == "running" and sched.get(b.id).state == "queued"


def test_stale_reports_are_refused_and_one_result_is_accepted(env):
    sched, clock, probe, miner, _ = env
    c = sched.add(spec(repeat=True), "op")
    sched.transition("start", "op")
    sched.tick()
    sched.report_progress(c.id, 1, "run_x", {"generation": 1, "generations": 4})
    with pytest.raises(FailedPrecondition, match="stale"):
        sched.report_progress(c.id, 2, "run_x", {})
    after = sched.report_result(c.id, 1, "run_x", "completed")
    assert after.state == "queued" and after.consecutive_failures == 0      # repeat: re-queued
    with pytest.raises(FailedPrecondition, match="stale"):
        sched.report_result(c.id, 1, "run_x", "completed")              # a second result for attempt 1
    clock.advance(3600)                                                 # its repeat cooldown
    sched.tick()
    assert sched.get(c.id).attempt == 2 and sched.get(c.id).state == "running"
    kinds = [e.kind for e in sched.events_after(0)]
    assert "run.completed" in kinds and "campaign.requeue" in kinds and "promotion.pending" in kinds


def test_repeated_failure_quarantines(env):
    sched, clock, probe, miner, _ = env
    c = sched.add(spec(), "op")
    sched.transition("start", "op")
    for n in (1, 2, 3):
        sched.tick()
        after = sched.report_result(c.id, n, f"run_{n}", "failed", "exit code 1: boom")
    assert after.state == "failed" and not after.enabled and after.consecutive_failures == 3
    assert sched.changes(c.id)[-1].action == "quarantine"
    sched.tick()
    assert len(miner.started) == 3


def test_expired_lease_of_an_unknown_run_fails_as_orphaned(env):
    sched, clock, probe, miner, _ = env
    c = sched.add(spec(), "op")
    sched.transition("start", "op")
    sched.tick()
    miner.runs.clear()                        # the miner restarted and does not know the run
    clock.advance(61)
    sched.tick()                              # reconcile first, then admit again
    log = sched.changes(c.id)
    assert [x.action for x in log][-2:] == ["requeue", "admit"]
    assert "orphaned" in log[-2].reason
    assert sched.get(c.id).attempt == 2


def test_miner_unavailable_requeues_without_counting_a_failure(env):
    sched, clock, probe, miner, _ = env
    c = sched.add(spec(), "op")
    sched.transition("start", "op")
    miner.fail_with = Unavailable("connection refused")
    sched.tick()
    got = sched.get(c.id)
    assert got.state == "queued" and got.consecutive_failures == 0 and "miner did not start" in got.last_error


def test_invalid_config_at_admission_quarantines(env, tmp_path):
    sched, clock, probe, miner, _ = env
    bad = CONFIGS / f"bad-{os.getpid()}.toml"
    bad.write_text((CONFIGS / "tiny.toml").read_text().replace("population = 16", "population = -1"))
    try:
        c = sched.add(CampaignSpec("bad", bad.name), "op")
        sched.transition("start", "op")
        sched.tick()
    finally:
        bad.unlink()
    got = sched.get(c.id)
    assert got.state == "failed" and not got.enabled and "ga.population" in got.last_error
    assert miner.started == []


def test_request_id_makes_add_idempotent(env):
    sched, *_ = env
    a = sched.add(spec("x"), "op", request_id="req-1")
    b = sched.add(spec("x"), "op", request_id="req-1")
    assert a.id == b.id and sched.list()[1] == 1 and len(sched.changes()) == 1


def test_import_export_round_trip(env):
    sched, *_ = env
    doc = {"version": "1.0", "updated_at": "2026-01-01T00:00:00Z", "campaigns": [
        {"id": "camp_a", "name": "A", "config_path": "tiny.toml", "market": "br", "priority": 1, "enabled": True,
         "repeat": True, "tags": ["momentum", "intraday"], "created_at": "2026-01-01T00:00:00Z"},
        {"id": "camp_b", "name": "B", "config_path": "tiny.toml", "market": "us", "priority": 2, "enabled": False,
         "repeat": False, "tags": [], "created_at": "2026-01-01T00:00:00Z"}]}
    added, skipped = sched.import_queue(json.dumps(doc).encode(), "op", "migration")
    assert (len(added), skipped) == (2, 0)
    again, skipped = sched.import_queue(json.dumps(doc).encode(), "op")
    assert (len(again), skipped) == (0, 2)
    out = json.loads(sched.export_queue())
    assert [(c["id"], c["market"], c["priority"], c["enabled"], c["repeat"], c["tags"]) for c in out["campaigns"]] == [
        ("camp_a", "br", 1, True, True, ["momentum", "intraday"]), ("camp_b", "us", 2, False, False, [])]


def test_a_repeat_campaign_waits_out_its_cooldown_and_enabling_ends_it(env):
    sched, clock, probe, miner, _ = env
    rep = sched.add(spec("rep", 1, repeat=True), "op")
    sched.transition("start", "op")
    sched.tick()
    t_done = clock.now().timestamp()
    after = sched.report_result(rep.id, 1, "run_1", "completed")
    assert after.state == "queued" and after.not_before == t_done + 3600   # the default cooldown
    requeue = [e for e in sched.events_after(0) if e.kind == "campaign.requeue"][-1]
    assert "not before" in requeue.message
    sched.tick()                                    # nothing else queued: it waits, and says so
    assert len(miner.started) == 1 and "waits until" in sched.last_tick_outcome
    other = sched.add(spec("other", 5), "op")       # a lower priority that is due runs meanwhile
    sched.tick()
    assert [s[0] for s in miner.started] == [rep.id, other.id]
    sched.report_result(other.id, 1, "run_o", "completed")
    clock.advance(3599)
    sched.tick()
    assert len(miner.started) == 2
    clock.advance(1)                                # the cooldown is over
    sched.tick()
    assert [s[:2] for s in miner.started][-1] == (rep.id, 2)
    sched.report_result(rep.id, 2, "run_2", "completed")
    assert sched.get(rep.id).not_before is not None
    sched.set_enabled(rep.id, True, "op", "run it now")   # the operator's "go"
    assert sched.get(rep.id).not_before is None
    sched.tick()
    assert [s[:2] for s in miner.started][-1] == (rep.id, 3)


def test_a_failed_run_is_requeued_without_a_cooldown(env):
    sched, clock, probe, miner, _ = env
    rep = sched.add(spec("rep", 1, repeat=True), "op")
    sched.transition("start", "op")
    sched.tick()
    after = sched.report_result(rep.id, 1, "run_1", "failed", "exit 1")
    assert after.state == "queued" and after.not_before is None
    sched.tick()
    assert [s[:2] for s in miner.started][-1] == (rep.id, 2)
