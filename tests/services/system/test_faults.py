"""Faults against real processes: SIGTERM drains, SIGKILL of the miner mid-run and of the scheduler
mid-write, cancellation that leaves no process behind, bad settings and port clashes at start-up."""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from helpers_services import (ROOT, gone, long_campaign_root, miner_client, running_run, scheduler_client,
                              set_data_ready, wait_for, write_settings)
from omp.v1 import common_pb2 as pb, miner_pb2 as mpb, scheduler_pb2 as spb
from omp_services.common.errors import OmpError, Unavailable

pytestmark = pytest.mark.slow      # real kills of real service processes

def all_pages(client, method, request_type, field):
    items, token = [], ""
    while True:
        page = client.call(method, request_type(page_size=1000, page_token=token))
        items += list(getattr(page, field))
        token = page.next_page_token
        if not token:
            return items


def start_pair(services, config):
    sched = services.start("omp_services.scheduler.app", config)
    miner = services.start("omp_services.miner.app", config, "--scheduler", sched.address)
    return sched, miner


def add_and_start(client, config_path="long.toml", **kw):
    c = client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
        name="long", config_path=config_path, market="us", priority=1, enabled=True, **kw), actor="t")).campaign
    client.call("StartDaemon", spb.StartDaemonRequest(actor="t"))
    set_data_ready(client)
    return c


def test_miner_sigkill_mid_run_orphans_the_attempt_and_leaves_no_process(services, tmp_path, database_url):
    config = write_settings(tmp_path, database_url, paths={"configs_root": str(long_campaign_root(tmp_path))},
                            scheduler={"lease_seconds": 5.0})
    sched, miner = start_pair(services, config)
    client, mclient = scheduler_client(sched.address), miner_client(miner.address)
    camp = add_and_start(client)
    run = running_run(mclient, camp.id)
    child = run.pid
    assert psutil.pid_exists(child)
    miner.kill()                                                     # SIGKILL
    wait_for(lambda: gone(child), timeout=10, what="the run process to die with its miner")
    restarted = services.start("omp_services.miner.app", config, "--scheduler", sched.address)
    mclient = miner_client(restarted.address)
    old = mclient.call("GetRun", mpb.GetRunRequest(run_id=run.run_id)).run
    assert old.status == pb.RUN_STATUS_FAILED and "orphaned" in old.error

    def requeued():
        changes = client.call("ListQueueChanges", spb.ListQueueChangesRequest(campaign_id=camp.id)).changes
        return [c for c in changes if c.action == "requeue" and "orphaned" in c.reason]
    wait_for(requeued, timeout=30, what="the orphaned attempt to be re-queued")
    # the next attempt resumes from the checkpoints the killed run left, and completes
    done = wait_for(lambda: (lambda c: c if c.state == pb.CAMPAIGN_STATE_COMPLETED else None)(
        client.call("GetCampaign", spb.GetCampaignRequest(id=camp.id)).campaign), timeout=120, interval=0.3,
        what="the campaign to complete")
    assert done.attempt == 2
    final = mclient.call("GetRun", mpb.GetRunRequest(campaign_id=camp.id, attempt=2)).run
    assert final.status == pb.RUN_STATUS_COMPLETED and (Path(final.run_dir) / "manifest.json").exists()
    # one run id end to end: the miner's, the folder's, the manifest's, the scheduler's; and the
    # search went on from the orphaned run's checkpoints, handed on to the new folder
    manifest = json.loads((Path(final.run_dir) / "manifest.json").read_text())
    assert Path(final.run_dir).name == final.run_id == manifest["run_id"] == done.last_run_id
    assert (manifest["campaign_id"], manifest["attempt"]) == (camp.id, 2)
    assert manifest["resumed_from"] == run.run_id and manifest["resumed_checkpoints"]
    assert not [p for p in psutil.process_iter(["cmdline"]) if "omp_services.miner.child" in " ".join(p.info["cmdline"] or [])
                and p.status() != psutil.STATUS_ZOMBIE and p.ppid() in (restarted.proc.pid, miner.proc.pid)]


def test_cancel_kills_the_process_group_and_disables_the_campaign(services, tmp_path):
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}",
                            paths={"configs_root": str(long_campaign_root(tmp_path, 20000))})
    sched, miner = start_pair(services, config)
    client, mclient = scheduler_client(sched.address), miner_client(miner.address)
    camp = add_and_start(client)
    run = running_run(mclient, camp.id)
    watch = subprocess.Popen([sys.executable, "-m", "omp_cli", "runs", "watch", run.run_id, "--json",
                              "--miner", miner.address], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    first = watch.stdout.readline()                 # the watch is attached and has seen the live run
    # the miner's threads block SIGTERM (only its main thread takes it): its runs must not inherit that
    blocked = int(next(x for x in open(f"/proc/{run.pid}/status") if x.startswith("SigBlk:")).split()[1], 16)
    assert not blocked & (1 << (signal.SIGTERM - 1)), "the run would not hear its cancel"
    mclient.call("CancelRun", mpb.CancelRunRequest(run_id=run.run_id, reason="operator", actor="auditor"))
    ended = wait_for(lambda: (lambda r: r if r.status != pb.RUN_STATUS_RUNNING else None)(
        mclient.call("GetRun", mpb.GetRunRequest(run_id=run.run_id)).run), timeout=30, what="the run to end")
    assert ended.status == pb.RUN_STATUS_CANCELLED
    out, _ = watch.communicate(timeout=30)
    seen = [json.loads(line) for line in [first, *out.splitlines()]]
    assert seen[0]["status"] == "RUN_STATUS_RUNNING" and seen[-1]["status"] == "RUN_STATUS_CANCELLED"
    assert watch.returncode == 1                          # the watched run did not complete
    assert gone(run.pid)
    assert not any(p.info["pid"] == run.pid for p in psutil.process_iter(["pid"]) if p.status() != psutil.STATUS_ZOMBIE)
    c = wait_for(lambda: (lambda c: c if not c.enabled else None)(
        client.call("GetCampaign", spb.GetCampaignRequest(id=camp.id)).campaign), timeout=30, what="the campaign disabled")
    assert c.state == pb.CAMPAIGN_STATE_QUEUED
    # the trail names who cancelled, on whose behalf, not the miner that reported the end
    events = list((x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0, follow=False), timeout=10)))
    end = next(e for e in events if e.kind == "run.cancelled")
    assert end.actor == "anonymous for auditor" and "cancelled: operator (by anonymous for auditor)" in end.message


def test_sigterm_drains_streams_and_exits_cleanly(services, tmp_path):
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}")
    sched = services.start("omp_services.scheduler.app", config)
    client = scheduler_client(sched.address)
    got, ended = [], threading.Event()

    def watch():
        try:
            for e in (x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(follow=True))):
                got.append(e.kind)
        except OmpError:
            pass
        ended.set()
    threading.Thread(target=watch, daemon=True).start()
    client.call("StartDaemon", spb.StartDaemonRequest(actor="t"))
    set_data_ready(client)
    wait_for(lambda: "daemon.running" in got, timeout=10, what="the live event")
    t0 = time.monotonic()
    assert sched.terminate(timeout=15) == 0
    assert ended.wait(10), "the event stream did not end on SIGTERM"
    assert time.monotonic() - t0 < 10


def test_bad_settings_stop_start_up_naming_the_key(tmp_path):
    config = write_settings(tmp_path, "", resources={"max_cpu_util_pct": 120.0})
    for module in ("omp_services.scheduler.app", "omp_services.miner.app"):
        r = subprocess.run([sys.executable, "-m", module, "--config", str(config)], capture_output=True, text=True,
                           cwd=ROOT, timeout=60)
        assert r.returncode == 2
        assert "resources.max_cpu_util_pct: must be in (0, 100], got 120.0" in r.stderr


@pytest.mark.parametrize("url, says", [
    ("mysql://omp:s3cret-pw@db.example/omp", "database.url: must be a sqlite:// or postgresql+psycopg:// URL, "
                                             "got 'mysql://omp:***@db.example/omp'"),
    ("postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/omp", "database.url: cannot connect (connection failed"),
])
def test_a_database_that_cannot_be_used_is_one_line_naming_the_key_and_never_its_password(tmp_path, url, says):
    config = write_settings(tmp_path, url)
    for module in ("omp_services.scheduler.app", "omp_services.miner.app"):
        r = subprocess.run([sys.executable, "-m", module, "--config", str(config)], capture_output=True, text=True,
                           cwd=ROOT, timeout=60)
        assert r.returncode == 2, r.stderr
        assert says in r.stderr and "s3cret-pw" not in r.stderr + r.stdout and "Traceback" not in r.stderr
        lines = [ln for ln in r.stderr.splitlines() if not ln.startswith('{"ts"')]    # the JSON log aside
        assert len(lines) == 1 and lines[0].startswith(f"omp-{module.split('.')[1]}: database.url")


def test_the_promoters_sections_are_the_promoters_to_check(services, tmp_path):
    """[promotion] and [auto_reject] are the promoter's: the scheduler starts with them whatever
    they hold; the promoter refuses a bad key at start (exit 2), naming it."""
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", promotion={"max_pbo": 0.2, "max_pdo": 1})
    sched = services.start("omp_services.scheduler.app", config)
    assert sched.terminate() == 0
    r = subprocess.run([sys.executable, "-m", "omp_services.promoter.app", "--config", str(config)], capture_output=True,
                       text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "promotion.max_pdo" in r.stderr


def test_port_clash_fails_loudly(services, tmp_path):
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}")
    first = services.start("omp_services.scheduler.app", config)
    r = subprocess.run([sys.executable, "-m", "omp_services.scheduler.app", "--config", str(config), "--port",
                        str(first.port)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and f"cannot bind 127.0.0.1:{first.port}" in r.stderr


def test_scheduler_sigkill_while_clients_add_loses_nothing_and_duplicates_nothing(services, tmp_path, database_url):
    config = write_settings(tmp_path, database_url)
    sched = services.start("omp_services.scheduler.app", config)
    port = sched.port
    n_clients, per_client = 4, 300
    todo = {f"c{i}-{j}": f"req-{i}-{j}" for i in range(n_clients) for j in range(per_client)}
    acked: dict[str, str] = {}
    failures = []
    lock = threading.Lock()
    stop = threading.Event()

    def client_loop(i):
        c = scheduler_client(f"127.0.0.1:{port}", timeout=2.0)
        names = [n for n in todo if n.startswith(f"c{i}-")]
        while names and not stop.is_set():
            name = names[0]
            try:
                got = c.call("AddCampaign", spb.AddCampaignRequest(
                    campaign=pb.Campaign(name=name, config_path="tiny.toml", market="us", priority=5),
                    actor=f"client{i}", request_id=todo[name])).campaign
            except OmpError as exc:
                failures.append(exc)
                time.sleep(0.05)          # the scheduler is down: retry the same request later
                continue
            with lock:
                acked[name] = got.id
            names.pop(0)
        c.close()

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    rng = random.Random(7)
    kills = 0
    while kills < 3 and len(acked) < len(todo):
        time.sleep(rng.uniform(0.05, 0.4))
        sched.kill()
        kills += 1
        sched = services.start("omp_services.scheduler.app", config, "--port", str(port))
    assert kills == 3, f"the clients finished after {kills} kill(s): make the workload bigger"
    for t in threads:
        t.join(timeout=120)
    stop.set()
    assert len(acked) == len(todo), "every add was eventually acknowledged"
    assert failures, "the kills never interrupted a client: the test proved nothing"
    client = scheduler_client(f"127.0.0.1:{port}")
    campaigns = all_pages(client, "ListCampaigns", spb.ListCampaignsRequest, "campaigns")
    names = [c.name for c in campaigns]
    assert sorted(names) == sorted(todo)                      # each exactly once
    assert {c.name: c.id for c in campaigns} == acked         # the ids clients were told
    changes = all_pages(client, "ListQueueChanges", spb.ListQueueChangesRequest, "changes")
    assert sorted(c.campaign_id for c in changes if c.action == "add") == sorted(acked.values())


def _run_children(miner_pid: int) -> list[psutil.Process]:
    """The miner's live run processes: its own children (a run's helper, such as the git it asks
    for the code version, is a fork of the run that carries the run's command line until it
    execs, and would be counted as a second run)."""
    out = []
    for p in psutil.Process(miner_pid).children(recursive=False):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "omp_services.miner.child" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


def test_a_miner_frozen_past_its_lease_never_runs_two_attempts_of_one_campaign(services, tmp_path):
    """SIGSTOP the miner longer than the lease: the scheduler fails the attempt as orphaned and
    admits again while the old run's child keeps computing; StartRuns pile up in the frozen miner.
    On SIGCONT, at no moment do two runs of the campaign live, and the one left is the current attempt."""
    root = long_campaign_root(tmp_path, generations=100000)
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", paths={"configs_root": str(root)},
                            scheduler={"lease_seconds": 2.0, "rpc_timeout_s": 0.5})
    # the miner keeps its runs in a SQLite file of its own: frozen inside one of its writes, it would
    # hold a shared file's write lock, and the scheduler could then not record anything at all
    (tmp_path / "miner").mkdir()
    miner_config = write_settings(tmp_path / "miner", f"sqlite:///{tmp_path / 'miner' / 'miner.db'}",
                                  paths={"configs_root": str(root)})
    sched = services.start("omp_services.scheduler.app", config)
    miner = services.start("omp_services.miner.app", miner_config, "--scheduler", sched.address)
    client, mclient = scheduler_client(sched.address), miner_client(miner.address)
    c = add_and_start(client)
    first = running_run(mclient, c.id)
    miner.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: client.call("GetCampaign", spb.GetCampaignRequest(id=c.id)).campaign.attempt >= 3, timeout=60,
                 what="the scheduler to give up on attempt 1 and try again")
        # checked while the miner is still frozen: once it thaws it may stop that run at once
        assert not gone(first.pid), "the frozen miner's run should still be alive here: the test proves nothing"
    finally:
        miner.proc.send_signal(signal.SIGCONT)
    most = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        most = max(most, len(_run_children(miner.proc.pid)))
        time.sleep(0.02)
    assert most <= 1, f"{most} runs of one campaign were alive at once"
    assert gone(first.pid)

    def settled():
        camp = client.call("GetCampaign", spb.GetCampaignRequest(id=c.id)).campaign
        runs = [r for r in mclient.call("ListRuns", mpb.ListRunsRequest(campaign_id=c.id)).runs
                if r.status == pb.RUN_STATUS_RUNNING]
        return camp.state == pb.CAMPAIGN_STATE_RUNNING and len(runs) == 1 and runs[0].attempt == camp.attempt \
            and runs
    runs = wait_for(settled, timeout=60, what="one run, of the current attempt")
    assert [p.pid for p in _run_children(miner.proc.pid)] == [runs[0].pid]
    client.call("StopDaemon", spb.StopDaemonRequest(actor="t"))
    mclient.call("CancelRun", mpb.CancelRunRequest(run_id=runs[0].run_id, reason="test over"))


def test_a_run_watch_ends_unavailable_when_the_miner_drains_so_its_watcher_comes_back(services, tmp_path):
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}",
                            paths={"configs_root": str(long_campaign_root(tmp_path, 20000))})
    sched, miner = start_pair(services, config)
    client, mclient = scheduler_client(sched.address), miner_client(miner.address)
    run = running_run(mclient, add_and_start(client).id)
    stream = (x.run for x in mclient.stream("WatchRun", mpb.WatchRunRequest(run_id=run.run_id), timeout=60))
    assert next(stream).run_id == run.run_id
    miner.proc.send_signal(signal.SIGTERM)
    with pytest.raises(Unavailable, match="shutting down"):
        for _ in stream:
            pass
    assert miner.proc.wait(timeout=60) == 0
