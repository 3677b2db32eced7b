"""The watchdog against the real scheduler and miner processes: a frozen run is killed, so is one
that grows past its memory limit, a burst of failing runs pauses mining, a small real filesystem
filling up warns and then stops mining (and, where no filesystem can be mounted, thresholds set
above the machine's free space stand in)."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from helpers_services import (ROOT, free_port, gone, miner_client, running_run, scheduler_client, set_data_ready, wait_for,
                              write_settings)
from omp.v1 import common_pb2 as pb, miner_pb2 as mpb, scheduler_pb2 as spb, watchdog_pb2 as wpb, watchdog_pb2_grpc
from omp_services.common.clients import Client

pytestmark = pytest.mark.slow      # three services as processes, real runs

TINY = ROOT / "tests" / "fixtures" / "campaigns" / "tiny.toml"


def _configs(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    root.mkdir()
    text = TINY.read_text().replace("../../../examples/data/", f"{ROOT}/examples/data/")
    (root / "long.toml").write_text(text.replace("generations = 4", "generations = 100000"))
    (root / "broken.toml").write_text(text.replace(f"{ROOT}/examples/data/us_stocks_2013_2018.csv",
                                                   "/nonexistent/us_stocks.csv"))
    # fails for itself, not for its data: its time limit runs out at once (exit 1)
    (root / "hasty.toml").write_text(text.replace("generations = 4", "generations = 100000")
                                     + "\n[constraints]\nmax_runtime_minutes = 0.001\n")
    return root


def _start(services, tmp_path, scheduler=None, **watchdog):
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", paths={"configs_root": str(_configs(tmp_path))},
                            watchdog={"sample_interval_s": 0.5, **watchdog}, scheduler=scheduler or {})
    port, pport = free_port(), free_port()      # the scheduler and the miner report to the watchdog
    services.start("omp_services.promoter.app", config, "--port", str(pport), "--watchdog", f"127.0.0.1:{port}")
    sched = services.start("omp_services.scheduler.app", config, "--watchdog", f"127.0.0.1:{port}", "--promoter",
                           f"127.0.0.1:{pport}")
    sched.promoter = f"127.0.0.1:{pport}"
    miner = services.start("omp_services.miner.app", config, "--scheduler", sched.address, "--watchdog", f"127.0.0.1:{port}")
    dog = services.start("omp_services.watchdog.app", config, "--port", str(port), "--scheduler", sched.address,
                         "--miner", miner.address)
    client, mclient = scheduler_client(sched.address), miner_client(miner.address)
    wclient = Client(watchdog_pb2_grpc.WatchdogServiceStub, dog.address)
    return sched, miner, dog, client, mclient, wclient


def _add(client, config_path, name="c"):
    return client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
        name=name, config_path=config_path, priority=1), actor="t")).campaign


def _go(client):
    client.call("StartDaemon", spb.StartDaemonRequest(actor="t"))
    set_data_ready(client)


def _incidents(wclient, kind: str):
    """The open incidents of one kind (a runner whose disk is over 80% used has a red flag too)."""
    return [i for i in wclient.call("ListIncidents", wpb.ListIncidentsRequest(open_only=True)).incidents
            if i.kind == kind]


def _watching(wclient) -> None:
    """The watchdog has made two passes, so it has read the scheduler's history: what follows is new."""
    wait_for(lambda: len(wclient.call("GetResources", wpb.GetResourcesRequest(history=5)).history) >= 1,
             timeout=30, what="the watchdog's first passes")


def test_a_frozen_run_is_killed_within_the_limit_and_its_campaign_runs_again(services, tmp_path):
    sched, miner, dog, client, mclient, wclient = _start(services, tmp_path, stuck_run_minutes=0.05)   # 3 s
    c = _add(client, "long.toml")
    _go(client)
    run = running_run(mclient, c.id)
    psutil.Process(run.pid).send_signal(signal.SIGSTOP)         # alive, heartbeat and all, but no progress
    t0 = time.monotonic()
    ended = wait_for(lambda: (r := mclient.call("GetRun", mpb.GetRunRequest(run_id=run.run_id)).run).status
                     != pb.RUN_STATUS_RUNNING and r, timeout=30, what="the frozen run to be killed")
    delay = time.monotonic() - t0
    assert ended.status == pb.RUN_STATUS_FAILED and ended.error.startswith("killed: INC-")
    assert delay < 3.0 + 0.5 + 3.0, f"killed {delay:.1f} s after it froze"     # limit + a sample + the kill
    assert wait_for(lambda: gone(run.pid), timeout=10, what="no process of it")
    (inc,) = _incidents(wclient, "stuck_run")
    assert (inc.severity, list(inc.runs)) == (wpb.SEVERITY_SEV1, [run.run_id])
    # a failure, not a cancel: the campaign is re-queued by its policy and runs again
    again = wait_for(lambda: (x := client.call("GetCampaign", spb.GetCampaignRequest(id=c.id)).campaign).attempt >= 2 and x,
                     timeout=30, what="the next attempt")
    assert again.enabled and again.consecutive_failures == 1
    client.call("StopDaemon", spb.StopDaemonRequest(actor="t"))
    # the operator's side: list, read the report, resolve with a postmortem, look at the resources
    omp = lambda *a: subprocess.run([sys.executable, "-m", "omp_cli", *a, "--watchdog", dog.address,  # noqa: E731
                                     "--scheduler", sched.address, "--miner", miner.address,
                                     "--promoter", sched.promoter], capture_output=True, text=True, cwd=ROOT,
                                    timeout=60)
    r = omp("incidents", "list", "--open", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["items"][0]["id"] == inc.id
    r = omp("incidents", "show", inc.id)
    assert r.returncode == 0 and "## OMP Incident Report" in r.stdout and run.run_id in r.stdout
    r = omp("incidents", "resolve", inc.id, "--root-cause", "", "--resolution", "restarted")
    assert r.returncode == 2 and "root_cause is required" in r.stderr
    r = omp("incidents", "resolve", inc.id, "--root-cause", "frozen by a test", "--resolution", "killed and re-run",
            "--prevention", "none needed", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["open"] is False
    r = omp("resources", "--json", "--history", "3")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and len(doc["history"]) == 3 and doc["latest"]["disks"]
    r = omp("health", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["healthy"], doc
    assert {"scheduler", "miner", "watchdog", "promoter", "daemon", "last_tick", "disk", "incidents"} <= set(doc["checks"])
    miner.kill()
    r = omp("health", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and not doc["healthy"] and not doc["checks"]["miner"]["ok"]
    assert "unreachable" in doc["checks"]["miner"]["detail"]


def test_a_run_that_grows_past_its_memory_limit_is_killed(services, tmp_path):
    """A real run's process tree (the interpreter, numpy, the engine and its data: about 100 MB)
    grows past a 40 MB cap as it starts: killed as failed, nothing of it left, SEV-1."""
    sched, miner, dog, client, mclient, wclient = _start(services, tmp_path, max_run_memory_mb=40)
    c = _add(client, "long.toml")
    _go(client)
    inc = wait_for(lambda: _incidents(wclient, "memory_runaway"), timeout=60, what="the memory incident")[0]
    assert inc.severity == wpb.SEVERITY_SEV1 and "over the 40 MB cap" in inc.summary
    run_id = inc.runs[0]
    ended = wait_for(lambda: (r := mclient.call("GetRun", mpb.GetRunRequest(run_id=run_id)).run).status
                     != pb.RUN_STATUS_RUNNING and r, timeout=30, what="the run to be killed")
    assert ended.status == pb.RUN_STATUS_FAILED and ended.error.startswith(f"killed: {inc.id}")
    assert ended.error.endswith("(by anonymous for watchdog)")          # who killed it, as authenticated
    assert ended.campaign_id == c.id and wait_for(lambda: gone(ended.pid), timeout=10, what="no process of it")


def test_a_burst_of_failing_runs_pauses_mining(services, tmp_path):
    sched, miner, dog, client, mclient, wclient = _start(services, tmp_path, error_burst_count=3)
    _watching(wclient)
    for k in range(3):
        _add(client, "hasty.toml", f"hasty {k}")
    _go(client)
    wait_for(lambda: client.call("GetStatus", spb.GetStatusRequest()).status.state == pb.DAEMON_STATE_PAUSED,
             timeout=60, what="mining to be paused")
    (inc,) = _incidents(wclient, "error_burst")
    assert inc.severity == wpb.SEVERITY_SEV1 and len(inc.symptoms) >= 3
    events = [e for e in (x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0), timeout=10))]
    paused = [e for e in events if e.kind == "daemon.paused"]
    assert paused and paused[0].actor == "anonymous for watchdog" and inc.id in paused[0].message


def test_a_run_that_fails_on_its_data_marks_the_data_not_ready(services, tmp_path):
    sched, miner, dog, client, mclient, wclient = _start(services, tmp_path)
    _watching(wclient)
    c = _add(client, "broken.toml")
    _go(client)
    st = wait_for(lambda: (x := client.call("GetStatus", spb.GetStatusRequest()).status).data_readiness
                  == pb.DATA_READINESS_NOT_READY and x, timeout=60, what="data readiness to be withdrawn")
    (inc,) = _incidents(wclient, "data_incident")
    assert inc.severity == wpb.SEVERITY_SEV1 and list(inc.handoffs) == ["data-engineer"]
    assert st.data_readiness_reason.startswith(inc.id) and "data file not found" in st.data_readiness_reason
    assert "/nonexistent/us_stocks.csv" in inc.symptoms[0]
    full = wclient.call("GetIncident", wpb.GetIncidentRequest(id=inc.id)).incident       # the miner reported it too
    assert {"anonymous for miner", "watchdog"} <= {t.actor for t in full.timeline}, full.timeline
    attempts = client.call("GetCampaign", spb.GetCampaignRequest(id=c.id)).campaign.attempt
    time.sleep(2.0)                                     # and nothing more is admitted meanwhile
    assert client.call("GetCampaign", spb.GetCampaignRequest(id=c.id)).campaign.attempt == attempts


def test_disk_critical_stops_mining_and_kills_the_runs_keeping_the_database_intact(services, tmp_path):
    big = 10.0 ** 7                                     # GB: more than this machine has free
    sched, miner, dog, client, mclient, wclient = _start(services, tmp_path, sample_interval_s=60.0)
    c = _add(client, "long.toml")
    _go(client)
    run = running_run(mclient, c.id)
    dog.terminate()                                     # the same watchdog, now with thresholds above the disk
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", paths={"configs_root": str(tmp_path / "configs")},
                            watchdog={"sample_interval_s": 0.5, "disk_warn_gb": big * 2, "disk_critical_gb": big})
    t0 = time.monotonic()
    dog = services.start("omp_services.watchdog.app", config, "--scheduler", sched.address, "--miner", miner.address)
    wait_for(lambda: client.call("GetStatus", spb.GetStatusRequest()).status.state == pb.DAEMON_STATE_OFFLINE,
             timeout=30, what="mining to be stopped")
    delay = time.monotonic() - t0
    ended = wait_for(lambda: (r := mclient.call("GetRun", mpb.GetRunRequest(run_id=run.run_id)).run).status
                     != pb.RUN_STATUS_RUNNING and r, timeout=30, what="the run to be killed")
    assert ended.status == pb.RUN_STATUS_FAILED and "disk critical" in ended.error
    assert wait_for(lambda: gone(run.pid), timeout=10, what="no process of it")
    dclient = Client(watchdog_pb2_grpc.WatchdogServiceStub, dog.address)
    # the watchdog acts first and records after (on a full disk the record may fail): the incident
    # may come a moment after the kill it lists
    critical = wait_for(lambda: [i for i in dclient.call("ListIncidents", wpb.ListIncidentsRequest(
        open_only=True)).incidents if i.kind == "disk_critical"], timeout=15, what="the disk_critical incident")
    assert all(i.severity == wpb.SEVERITY_SEV0 for i in critical)                # one per filesystem watched
    assert delay < 10.0, f"mining stopped {delay:.1f} s after the watchdog started"
    conn = sqlite3.connect(tmp_path / "omp.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


@pytest.fixture
def small_fs(tmp_path):
    """A real 64 MiB filesystem (tmpfs), mounted for the test; where mounting is refused (not
    root, no CAP_SYS_ADMIN) the test above, with thresholds set over the free space, stands in."""
    where = tmp_path / "small"
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here ({r.stderr.strip()})")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def _fill_to(fs: Path, name: str, free_mib: float) -> None:
    """Write ballast until ``fs`` has about ``free_mib`` MiB free."""
    excess = os.statvfs(fs).f_bavail * os.statvfs(fs).f_frsize - int(free_mib * 2**20)
    with open(fs / name, "wb") as fh:
        while excess > 0:
            n = min(excess, 2**20)
            fh.write(b"\0" * n)
            excess -= n
        fh.flush()
        os.fsync(fh.fileno())


def test_a_small_real_filesystem_filling_up_warns_cleans_up_then_stops_mining_losing_nothing(services, tmp_path,
                                                                                             small_fs):
    configs = _configs(tmp_path)
    mib = 1 / 1024                                      # in GB
    config = write_settings(tmp_path, f"sqlite:///{small_fs / 'omp.db'}", paths={
        "configs_root": str(configs), "data_dir": str(small_fs / "var"), "runs_dir": str(small_fs / "runs")},
        watchdog={"sample_interval_s": 0.5, "disk_warn_gb": 40 * mib, "disk_critical_gb": 20 * mib},
        resources={"min_disk_free_gb": 5 * mib})
    sched = services.start("omp_services.scheduler.app", config)
    miner = services.start("omp_services.miner.app", config, "--scheduler", sched.address)
    dog = services.start("omp_services.watchdog.app", config, "--scheduler", sched.address, "--miner", miner.address)
    client, mclient = scheduler_client(sched.address), miner_client(miner.address)
    wclient = Client(watchdog_pb2_grpc.WatchdogServiceStub, dog.address)
    c = _add(client, "long.toml")
    _go(client)
    run = running_run(mclient, c.id)
    acked = {c.id} | {_add(client, "long.toml", f"waiting {k}").id for k in range(20)}

    _fill_to(small_fs, "ballast-1", 30)                 # below the warning, above the critical level
    warn = wait_for(lambda: _incidents(wclient, "disk_pressure"), timeout=30, what="the disk warning")[0]
    assert warn.severity == wpb.SEVERITY_SEV2
    timeline = lambda: [t.event for t in wclient.call("GetIncident", wpb.GetIncidentRequest(id=warn.id)).incident.timeline]  # noqa: E731
    wait_for(lambda: any(e.startswith("retention cleanup:") for e in timeline()), timeout=30, what="a cleanup")
    assert client.call("GetStatus", spb.GetStatusRequest()).status.state == pb.DAEMON_STATE_RUNNING    # a warning only

    _fill_to(small_fs, "ballast-2", 12)                 # below the critical level
    wait_for(lambda: client.call("GetStatus", spb.GetStatusRequest()).status.state == pb.DAEMON_STATE_OFFLINE,
             timeout=30, what="mining to be stopped")
    ended = wait_for(lambda: (r := mclient.call("GetRun", mpb.GetRunRequest(run_id=run.run_id)).run).status
                     != pb.RUN_STATUS_RUNNING and r, timeout=30, what="the run to be killed")
    assert ended.status == pb.RUN_STATUS_FAILED and "disk critical" in ended.error
    assert wait_for(lambda: gone(run.pid), timeout=10, what="no process of it")
    assert all(i.severity == wpb.SEVERITY_SEV0 for i in _incidents(wclient, "disk_critical"))
    for sp in (dog, miner, sched):
        assert sp.terminate() == 0
    conn = sqlite3.connect(small_fs / "omp.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert {r[0] for r in conn.execute("SELECT id FROM campaigns")} == acked        # nothing acknowledged lost
    conn.close()


def test_with_the_miner_down_the_scheduler_tries_a_bounded_number_of_times_and_one_incident_opens(services, tmp_path):
    """The miner stopped while a campaign waits: admission backs off (1, 2, 4, 8, 16 s: at most 6
    attempts in the first minute, none counted against the campaign), and one SEV-1 opens for the
    whole outage: the scheduler's own finding, sent through the watchdog (miner_unreachable_minutes
    is 0.2 here, 3 by default; the watchdog's own probe of the miner waits 10 minutes here, its
    report is tested in test_watchdog_monitor)."""
    sched, miner, dog, client, mclient, wclient = _start(services, tmp_path, {"miner_unreachable_minutes": 0.2},
                                                         unreachable_minutes=10)
    miner.terminate()
    c = _add(client, "long.toml")
    _go(client)
    t0 = time.monotonic()
    wait_for(lambda: _incidents(wclient, "miner_unreachable"), timeout=60, what="the outage's incident")
    assert time.monotonic() - t0 < 60           # so the backoff allows at most 6 attempts by now
    camp = client.call("GetCampaign", spb.GetCampaignRequest(id=c.id)).campaign
    assert 1 <= camp.attempt <= 6 and camp.consecutive_failures == 0 and camp.enabled, camp
    events = list((x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0), timeout=10)))
    assert sum(e.kind == "campaign.admitted" for e in events) == camp.attempt          # no storm
    (inc,) = _incidents(wclient, "miner_unreachable")
    assert inc.severity == wpb.SEVERITY_SEV1 and inc.opened_by == "anonymous for scheduler" and "StartRun" in inc.summary


def test_omp_cleanup_plans_compresses_lists_and_restores_a_real_run_folder(services, tmp_path):
    sched, miner, dog, client, mclient, wclient = _start(services, tmp_path)
    (tmp_path / "configs" / "tiny.toml").write_text((tmp_path / "configs" / "long.toml").read_text().replace(
        "generations = 100000", "generations = 4"))
    c = _add(client, "tiny.toml")
    _go(client)
    done = wait_for(lambda: next((r for r in mclient.call("ListRuns", mpb.ListRunsRequest(campaign_id=c.id)).runs
                                  if r.status == pb.RUN_STATUS_COMPLETED), None), timeout=120, what="a completed run")
    folder = Path(done.run_dir)
    old = time.time() - 10 * 86400
    for p in [*folder.rglob("*"), folder]:
        os.utime(p, (old, old))
    omp = lambda *a: subprocess.run([sys.executable, "-m", "omp_cli", *a, "--watchdog", dog.address,  # noqa: E731
                                     "--scheduler", sched.address, "--miner", miner.address],
                                    capture_output=True, text=True, cwd=ROOT, timeout=120)
    r = omp("cleanup", "--dry-run", "--json")
    plan = {Path(a["path"]).name: a for a in json.loads(r.stdout)["actions"]}
    assert r.returncode == 0 and plan[folder.name]["kind"] == "compress" and plan[folder.name]["campaign_id"] == c.id
    assert folder.is_dir()                                          # a dry run changes nothing
    r = omp("cleanup", "--json")
    assert r.returncode == 0 and int(json.loads(r.stdout)["compressed_bytes"]) > 0
    assert not folder.exists() and folder.with_name(folder.name + ".tar.zst").is_file()
    r = omp("cleanup", "--archives", "--json")
    assert [Path(p).name for p in json.loads(r.stdout)["items"]] == [folder.name + ".tar.zst"]
    r = omp("cleanup", "--restore", folder.name)
    assert r.returncode == 0 and (folder / "manifest.json").is_file() and (folder / "candidates.json").is_file()
    r = omp("ops-log", "--json")                    # today's log, from the real figures
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["campaigns_completed"] >= 1 and doc["samples"] >= 1
    r = omp("ops-log")
    assert r.returncode == 0 and "## Mining Daily Ops Log" in r.stdout and "- Campaigns Completed: " in r.stdout
