"""The ``omp`` command against a real scheduler and miner, read through a pipe as a script reads it:
ids survive whole, the newest events by default, a removed campaign says so, disabled campaigns
are counted apart, a completed campaign is queued again, and `runs watch` without a terminal
prints a line per change."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from helpers_services import ROOT, wait_for, write_settings

pytestmark = pytest.mark.slow      # a scheduler, a miner and a real run, as processes


def test_the_operator_command_through_a_pipe(services, tmp_path):
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}")
    sched = services.start("omp_services.scheduler.app", config)
    miner = services.start("omp_services.miner.app", config, "--scheduler", sched.address)

    def omp(*args):
        return subprocess.run([sys.executable, "-m", "omp_cli", *args, "--scheduler", sched.address, "--miner",
                               miner.address], capture_output=True, text=True, cwd=ROOT, timeout=120,
                              env={"PATH": "/usr/bin:/bin", "COLUMNS": "80"})

    ids = []
    # the one that runs (the first) searches long enough to be watched while it goes: a tiny run
    # could end before `runs watch` started, under load, and show only its last line
    for k in range(24):
        r = omp("queue", "add", f"a campaign with a long name, number {k}", "watched.toml" if k == 0 else "tiny.toml",
                "--priority", str(k), "--tag", "t", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        ids.append(json.loads(r.stdout)["id"])
    # piped at 80 columns: every id on one line, whole
    listed = omp("queue", "list", "--page-size", "100")
    assert listed.returncode == 0 and all(any(i in line for line in listed.stdout.splitlines()) for i in ids)
    assert all(f"a campaign with a long name, number {k}" in listed.stdout for k in range(24))

    # the newest 20 events by default; --all for the history; --last N
    lines = [x for x in omp("events").stdout.splitlines() if x.strip()]
    assert len(lines) == 20 and "number 23" in omp("events", "--last", "1").stdout
    every = json.loads(omp("events", "--all", "--json").stdout)
    assert len(every["items"]) >= 24 and every["after"] == int(every["items"][-1]["seq"])
    assert [e["seq"] for e in json.loads(omp("events", "--json").stdout)["items"]] == \
        [e["seq"] for e in every["items"][-20:]]
    assert omp("events", "--last", "0").returncode == 2

    # disabled apart; a removal says "removed"
    assert omp("queue", "disable", ids[1], "--reason", "not now").returncode == 0
    removed = omp("queue", "remove", ids[2], "--reason", "duplicate")
    assert removed.returncode == 0 and removed.stdout.startswith(f"removed {ids[2]}")
    st = json.loads(omp("status", "--json").stdout)
    assert (st["queued"], st["disabled"]) == (22, 1)
    assert "22 queued, 0 running (max 1), 1 disabled" in omp("status").stdout

    # one campaign runs to its end; `runs watch` through a pipe prints its progress line by line
    for i in ids[1:]:
        omp("queue", "disable", i, "--reason", "only the first runs")
    assert omp("start").returncode == 0 and omp("data-ready", "yes").returncode == 0
    run_id = wait_for(lambda: (runs := json.loads(omp("runs", "list", "--json").stdout)["items"]) and
                      runs[0]["run_id"], timeout=60, interval=0.2, what="the run")
    # the status names the miner running it (as it registered) and this scheduler as the leader
    st = json.loads(omp("status", "--json").stdout)
    (m,) = st["miners"]
    assert st["is_leader"] and st["leader"] and m["address"].startswith("127.0.0.1:") and m["fresh"]
    shown = omp("status").stdout
    assert f"miner {m['miner_id']}" in shown and "(this scheduler)" in shown
    watch = omp("runs", "watch", run_id)
    progress = [x for x in watch.stdout.splitlines() if x.startswith(run_id)]
    assert watch.returncode == 0 and len(progress) >= 2 and "completed" in progress[-1]
    assert all(re.search(r"generation \d+/\d+", x) for x in progress)
    wait_for(lambda: json.loads(omp("queue", "list", "--state", "completed", "--json").stdout)["items"], timeout=60,
             what="the campaign completed")

    # queued again by hand, with a reason kept in the change log
    assert omp("queue", "requeue", ids[0]).returncode == 2            # no reason: refused before a call
    again = omp("queue", "requeue", ids[0], "--reason", "new data arrived", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["state"] == "CAMPAIGN_STATE_QUEUED"
    changes = json.loads(omp("queue", "changes", ids[0], "--json").stdout)["items"]
    # (the daemon still runs: it may have admitted it again since)
    assert [c["reason"] for c in changes if c["action"] == "requeue"] == ["new data arrived"]
