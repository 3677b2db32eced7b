"""Several miners on one PostgreSQL (issue 15): two real miner processes register with one scheduler,
each with one slot; both run at once; one is killed with SIGKILL mid-run and only its own attempt
fails as orphaned while the other's run goes on untouched; when it comes back it is used again
(two campaigns added then go one to each); every campaign completes once, nothing is lost and
nothing runs twice."""
from __future__ import annotations

import collections

import pytest

from helpers_services import (gone, long_campaign_root, miner_client, scheduler_client,
                              set_data_ready, wait_for, write_settings)
from omp.v1 import common_pb2 as pb, miner_pb2 as mpb, scheduler_pb2 as spb

pytestmark = pytest.mark.slow      # real kills of real service processes


def _miner_config(tmp_path, url, root, name: str):
    """A host of its own: its id, one slot, its own run folders."""
    return write_settings(tmp_path, url, name=f"{name}.toml",
                          paths={"configs_root": str(root), "runs_dir": str(tmp_path / name / "runs")},
                          miner={"id": name, "slots": 1})


def _runs(mclient, **kw):
    return list(mclient.call("ListRuns", mpb.ListRunsRequest(page_size=1000, **kw)).runs)


def _miners(client):
    return {m.miner_id: m for m in client.call("GetStatus", spb.GetStatusRequest()).status.miners}


def test_two_miners_share_the_queue_and_a_killed_one_fails_only_its_own_attempt(services, tmp_path, pg_url):
    root = long_campaign_root(tmp_path, generations=120)
    config = write_settings(tmp_path, pg_url, paths={"configs_root": str(root)},
                            scheduler={"lease_seconds": 4.0, "max_concurrent_campaigns": 4, "miner_seen_within_s": 5.0})
    sched = services.start("omp_services.scheduler.app", config)
    client = scheduler_client(sched.address)
    configs = {n: _miner_config(tmp_path, pg_url, root, n) for n in ("host-a", "host-b")}
    miners = {n: services.start("omp_services.miner.app", c, "--scheduler", sched.address) for n, c in configs.items()}
    wait_for(lambda: set(_miners(client)) == {"host-a", "host-b"}, timeout=30, what="both miners to register")
    camps = [client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
        name=f"long-{i}", config_path="long.toml", market="us", priority=1, enabled=True), actor="t")).campaign
        for i in range(3)]
    client.call("StartDaemon", spb.StartDaemonRequest(actor="t"))
    set_data_ready(client)

    # both busy at once, one campaign each; the third waits although the global cap (4) allows it
    mc = {n: miner_client(m.address) for n, m in miners.items()}

    def running_on(name):
        return [r for r in _runs(mc[name], this_miner_only=True) if r.status == pb.RUN_STATUS_RUNNING]
    first = wait_for(lambda: all(running_on(n) for n in mc) and {n: running_on(n)[0] for n in mc},
                     timeout=60, what="a run on each miner")
    assert first["host-a"].miner_id == "host-a" and first["host-b"].miner_id == "host-b"
    assert first["host-a"].campaign_id != first["host-b"].campaign_id
    # the tick after the second admission is the one that finds every slot taken
    status = wait_for(lambda: (st := client.call("GetStatus", spb.GetStatusRequest()).status) and
                      "every miner's slots are taken" in st.last_tick_outcome and st, timeout=15,
                      what="a tick that finds every slot taken")
    assert status.running == 2 and status.queued == 1
    assert {m.miner_id: m.running for m in status.miners} == {"host-a": 1, "host-b": 1}

    # SIGKILL host-a mid-run: its run dies with it; host-b's run goes on, never restarted
    victim = first["host-a"]
    miners["host-a"].kill()
    wait_for(lambda: gone(victim.pid), timeout=10, what="the killed miner's run process to die with it")
    orphaned = wait_for(lambda: [c for c in client.call("ListQueueChanges", spb.ListQueueChangesRequest(
        campaign_id=victim.campaign_id)).changes if c.action == "requeue" and "orphaned" in c.reason],
        timeout=30, what="the dead miner's attempt to be failed as orphaned")
    assert "miner is unreachable" in orphaned[0].reason
    survivor = mc["host-b"].call("GetRun", mpb.GetRunRequest(run_id=first["host-b"].run_id)).run
    assert survivor.status in (pb.RUN_STATUS_RUNNING, pb.RUN_STATUS_COMPLETED), survivor.error
    assert wait_for(lambda: not _miners(client)["host-a"].fresh, timeout=15, what="host-a to be stale")

    # host-a comes back under its id: its old run is failed as orphaned (its own, not host-b's)
    # and it is used again
    miners["host-a"] = services.start("omp_services.miner.app", configs["host-a"], "--scheduler", sched.address)
    mc["host-a"] = miner_client(miners["host-a"].address)
    old = mc["host-a"].call("GetRun", mpb.GetRunRequest(run_id=victim.run_id)).run
    assert old.status == pb.RUN_STATUS_FAILED and "orphaned" in old.error
    # runs last seconds: host-b may have taken every campaign left while host-a was away. Two more,
    # once host-a is fresh again, go one to each miner (the most free slots first), whatever the timing
    wait_for(lambda: _miners(client)["host-a"].fresh, timeout=15, what="host-a to register again")
    camps += [client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
        name=f"long-{i}", config_path="long.toml", market="us", priority=1, enabled=True), actor="t")).campaign
        for i in range(3, 5)]

    def all_completed():
        got = [client.call("GetCampaign", spb.GetCampaignRequest(id=c.id)).campaign for c in camps]
        return all(c.state == pb.CAMPAIGN_STATE_COMPLETED for c in got) and got
    wait_for(all_completed, timeout=240, interval=0.5, what="every campaign to complete")

    # nothing lost, nothing run twice: one completed run per campaign, never two runs of one attempt,
    # host-b's first run completed as the first and only run of its attempt
    runs = _runs(mc["host-b"])                       # one database: every miner's runs
    completed = collections.Counter(r.campaign_id for r in runs if r.status == pb.RUN_STATUS_COMPLETED)
    assert completed == {c.id: 1 for c in camps}
    assert len({(r.campaign_id, r.attempt) for r in runs}) == len(runs)
    assert {r.miner_id for r in runs if r.status == pb.RUN_STATUS_COMPLETED} == {"host-a", "host-b"}, \
        "the miner that came back ran campaigns again"
    kept = mc["host-b"].call("GetRun", mpb.GetRunRequest(run_id=first["host-b"].run_id)).run
    assert kept.status == pb.RUN_STATUS_COMPLETED and kept.attempt == 1
    assert not [r for r in runs if r.status == pb.RUN_STATUS_RUNNING]
