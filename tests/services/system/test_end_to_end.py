"""Both services as real processes, driven through the ``omp`` command as an operator would."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers_services import ROOT, wait_for, write_settings

pytestmark = pytest.mark.slow      # both services and the omp command as processes


def omp(sched, miner, *args, timeout=60):
    cmd = [sys.executable, "-m", "omp_cli", *args, "--scheduler", sched.address,
           *(["--miner", miner.address] if miner else [])]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def events(sched):
    r = omp(sched, None, "events", "--all", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["items"]


def test_campaign_runs_end_to_end_through_the_omp_command(services, tmp_path, database_url):
    # one priority step per 0.36 s of waiting: the repeat campaign at priority 1 cannot starve the
    # one at priority 2 (aging), which then runs within a second or two
    config = write_settings(tmp_path, database_url, scheduler={"aging_hours_per_step": 0.0001})
    sched = services.start("omp_services.scheduler.app", config)
    miner = services.start("omp_services.miner.app", config, "--scheduler", sched.address)

    r = omp(sched, miner, "queue", "add", "tiny repeat", "tiny.toml", "--priority", "1", "--repeat", "--json")
    assert r.returncode == 0, r.stderr
    cid = json.loads(r.stdout)["id"]
    r = omp(sched, miner, "queue", "add", "tiny once", "tiny.toml", "--priority", "2", "--json")
    once = json.loads(r.stdout)["id"]
    assert omp(sched, miner, "start").returncode == 0
    # a fresh installation fails closed: nothing is admitted until someone vouches for the data
    st = json.loads(omp(sched, miner, "status", "--json").stdout)
    assert st["data_readiness"] == "DATA_READINESS_NOT_READY" and "never confirmed" in st["data_readiness_reason"]
    assert omp(sched, miner, "data-ready", "yes").returncode == 0

    def done():
        kinds = [(e["kind"], e.get("campaign_id")) for e in events(sched)]
        return ("campaign.complete", once) in kinds and kinds.count(("run.completed", cid)) >= 1 and kinds
    kinds = wait_for(done, timeout=120, interval=0.5, what="both campaigns to run")
    order = [k for k, c in kinds if c == cid]
    for step in ("campaign.added", "campaign.admitted", "run.started", "run.progress", "run.completed",
                 "campaign.requeue", "promotion.pending"):
        assert step in order, (step, order)
    assert [k for k, _ in kinds].index("daemon.running") < [k for k, _ in kinds].index("campaign.admitted")

    queue = {c["id"]: c for c in json.loads(omp(sched, miner, "queue", "list", "--json").stdout)["items"]}
    assert queue[once]["state"] == "CAMPAIGN_STATE_COMPLETED"
    assert queue[cid]["repeat"] and int(queue[cid]["attempt"]) >= 1
    assert "not_before" in queue[cid] and "not_before" not in queue[once]   # the repeat cooldown
    runs = json.loads(omp(sched, miner, "runs", "list", "--json").stdout)["items"]
    completed = [x for x in runs if x["status"] == "RUN_STATUS_COMPLETED"]
    assert completed and all(x["run_dir"] for x in completed)
    top = omp(sched, miner, "runs", "export", completed[0]["run_id"], "--top", "1")
    assert top.returncode == 0 and len(json.loads(top.stdout)["candidates"]) == 1

    st = json.loads(omp(sched, miner, "status", "--json").stdout)
    assert st["state"] == "DAEMON_STATE_RUNNING" and st["resources"]["within_budget"]
    text = urllib.request.urlopen(f"http://127.0.0.1:{sched.metrics_port}/metrics", timeout=5).read().decode()
    completed = [float(line.split()[-1]) for line in text.splitlines()
                 if line.startswith("omp_scheduler_runs_ended_total{") and 'status="completed"' in line]
    assert completed and completed[0] >= 1, text[:2000]
    commits = float(text.split("omp_storage_group_commit_seconds_count ")[1].split()[0])
    assert (commits >= 1) == database_url.startswith("sqlite")          # group commits: SQLite only
    mtext = urllib.request.urlopen(f"http://127.0.0.1:{miner.metrics_port}/metrics", timeout=5).read().decode()
    assert 'omp_miner_runs_finished_total{status="completed"}' in mtext
    assert omp(sched, miner, "stop").returncode == 0
    assert sched.terminate() == 0 and miner.terminate() == 0


def test_unreachable_service_is_one_clear_line(tmp_path):
    class Nobody:
        address = "127.0.0.1:1"
    r = omp(Nobody, Nobody, "status")
    assert r.returncode == 3
    assert r.stderr.strip().count("\n") == 0 and "unreachable" in r.stderr
    r = omp(Nobody, Nobody, "runs", "list")
    assert r.returncode == 3 and "miner at 127.0.0.1:1 is unreachable" in r.stderr


def test_cli_exit_codes_say_what_happened(services, tmp_path):
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}")
    sched = services.start("omp_services.scheduler.app", config)
    r = omp(sched, None, "queue", "add", "x", "../../../../etc/passwd")
    assert r.returncode == 2 and "config_path" in r.stderr
    assert omp(sched, None, "pause").returncode == 4          # not running
    r = omp(sched, None, "queue", "reorder", "camp_x", "1")
    assert r.returncode == 2 and "--reason is required" in r.stderr
    r = omp(sched, None, "queue", "remove", "camp_x", "--reason", "gone")
    assert r.returncode == 2 and "camp_x" in r.stderr


def test_omp_up_demo_runs_the_shipped_examples_and_shows_both_judgements(tmp_path):
    """The README's main command: the four services on the embedded SQLite, the two example
    campaigns mined and judged: the real data's run with the gates that failed, the planted
    edge's promoted into the Hall of Fame. (A dirty checkout is accepted here so that the test
    says the same before and after a commit; the code-version gate has its own tests.)"""
    config = write_settings(tmp_path, "", paths={"configs_root": str(ROOT / "examples" / "campaigns")},
                            promotion={"allow_dirty_code": True})
    r = subprocess.run([sys.executable, "-m", "omp_cli", "up", "--config", str(config), "--demo", "--exit-after-run"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert r.stdout.count("run.completed") == 2 and (tmp_path / "var" / "omp.db").exists()
    assert r.stdout.count("promotion.judged") == 2 and "promoter 127.0.0.1:" in r.stdout
    judged = [line.strip() for line in r.stdout.splitlines() if line.strip().startswith("judged:")]
    assert "judged: promoted" in judged and any(j != "judged: promoted" for j in judged), judged
    assert "FAIL " in r.stdout                                  # the real data's reasons, named
    folder = r.stdout.split("run folder: ")[1].split()[0]
    assert (Path(folder) / "manifest.json").exists() and (tmp_path / "var" / "logs" / "miner.log").exists()
    hof = tmp_path / "artifacts" / "hall_of_fame"
    entries = [p for p in hof.iterdir() if not p.name.startswith(".")]
    assert entries and all((p / "packet.md").exists() and (p / "provenance.json").exists() for p in entries)


def test_the_omp_command_finds_the_services_where_the_settings_say(services, tmp_path):
    """``omp --config omp.toml ...``: the same file the services read gives the addresses."""
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}")
    sched = services.start("omp_services.scheduler.app", config)
    mine = tmp_path / "mine.toml"
    mine.write_text(f'[scheduler]\nport = {sched.port}\n[miner]\nport = 1\n')
    env = {k: v for k, v in os.environ.items() if k != "OMP_CONFIG"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "omp_cli", *a], capture_output=True, text=True,  # noqa: E731
                                    cwd=ROOT, timeout=60, env=env)
    r = run("--config", str(mine), "status", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "DAEMON_STATE_OFFLINE"
    r = run("--config", str(mine), "runs", "list")
    assert r.returncode == 3 and "miner at 127.0.0.1:1 is unreachable" in r.stderr
    r = subprocess.run([sys.executable, "-m", "omp_cli", "status"], capture_output=True, text=True, cwd=ROOT,
                       timeout=60, env={**env, "OMP_CONFIG": str(mine)})
    assert r.returncode == 0, r.stderr                        # $OMP_CONFIG is the same file
    bad = tmp_path / "bad.toml"
    bad.write_text("[scheduler]\nport = 70000\n")
    r = run("--config", str(bad), "status")
    assert r.returncode == 2 and "scheduler.port: must be a port in 0..65535" in r.stderr


def test_omp_events_follow_rides_out_a_scheduler_restart_and_ctrl_c_exits_130(services, tmp_path):
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}")
    sched = services.start("omp_services.scheduler.app", config)
    out = tmp_path / "follow.out"
    with open(out, "wb") as fh:
        # `omp events --follow` as a terminal starts it: Ctrl-C delivered. A process inherits SIGINT
        # ignored or blocked from its parent, and a pytest worker that ran other tests before this
        # one was seen (CI, three times) to hand the follower a SIGINT it never heard. What it
        # inherited goes to its stderr; -X faulthandler: a follower that still does not end is made
        # to say where it is stuck.
        follow = ("import runpy, signal, sys\n"
                  "print('inherited SIGINT:', signal.getsignal(signal.SIGINT),"
                  " 'blocked:', signal.pthread_sigmask(signal.SIG_BLOCK, []), file=sys.stderr)\n"
                  "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                  "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
                  "sys.argv = ['omp', *sys.argv[1:]]\n"
                  "runpy.run_module('omp_cli', run_name='__main__')\n")
        follower = subprocess.Popen([sys.executable, "-X", "faulthandler", "-c", follow, "events", "--follow",
                                     "--json", "--scheduler", sched.address], stdout=fh, stderr=subprocess.PIPE,
                                    cwd=ROOT)
    try:
        assert omp(sched, None, "queue", "add", "before", "tiny.toml").returncode == 0
        events = lambda: [json.loads(x) for x in out.read_text().splitlines() if x.strip()]  # noqa: E731
        seqs = lambda: [e["seq"] for e in events()]  # noqa: E731
        # (the restarted scheduler listens on another port, so it is another id: it takes the
        # lease its former self gave up, and says so in an event of its own)
        added = lambda: [e["message"] for e in events() if e["kind"] == "campaign.added"]  # noqa: E731
        wait_for(lambda: len(added()) == 1, timeout=20, what="the first event")
        port = sched.port
        assert sched.terminate() == 0                      # a drain: the follow hears UNAVAILABLE
        time.sleep(1.0)
        assert follower.poll() is None, "the follower gave up when the scheduler stopped"
        sched = services.start("omp_services.scheduler.app", config, "--port", str(port))
        assert omp(sched, None, "queue", "add", "after", "tiny.toml").returncode == 0
        wait_for(lambda: len(added()) == 2, timeout=30, what="the event after the restart")
        assert seqs() == sorted(set(seqs()))               # nothing twice, nothing skipped
        follower.send_signal(signal.SIGINT)
        try:
            follower.wait(timeout=20)
        except subprocess.TimeoutExpired:
            follower.send_signal(signal.SIGABRT)            # faulthandler prints every thread's stack
            follower.wait(timeout=20)
        err = follower.stderr.read()
        assert follower.returncode == 130, err.decode(errors="replace")[-6000:]
        assert b"reconnecting" in err
    finally:
        if follower.poll() is None:
            follower.kill()
