"""``omp up``: the scheduler and the miner as child processes on this machine, with the embedded
defaults (SQLite under ./var, configs under ./examples/campaigns); Ctrl-C stops them both.

``--demo`` also queues the shipped example campaign, starts the daemon and prints the events;
``--exit-after-run`` stops everything once that campaign's first run has ended.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omp.v1 import common_pb2 as pb, scheduler_pb2 as spb
from services.common import errors, settings as settings_mod
from services.common.clients import SchedulerClient

DEMO_CONFIG = "us_daily_momentum.toml"


def _wait_ready(proc: subprocess.Popen, ready: Path, name: str, timeout: float = 60.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text().strip():
            port, mport = ready.read_text().split()
            return int(port), int(mport)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode} before serving (see its log above)")
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not start within {timeout:.0f} s")


def _stop(procs: list[subprocess.Popen], grace: float = 20.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def cmd_up(args, con) -> int:
    try:
        settings = settings_mod.load(args.config)
    except ValueError as exc:
        con.print(f"[bold red]error:[/] {exc}")
        return 2
    base = [sys.executable, "-m"]
    conf = ["--config", str(Path(args.config).resolve())] if args.config else []
    procs: list[subprocess.Popen] = []
    stop = {"now": False}

    def on_signal(*_):
        stop["now"] = True
    signal.signal(signal.SIGTERM, on_signal)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            s_ready, m_ready = Path(tmp) / "scheduler", Path(tmp) / "miner"
            procs.append(subprocess.Popen(base + ["services.scheduler.app", *conf, "--ready-file", str(s_ready)]))
            s_port, s_metrics = _wait_ready(procs[0], s_ready, "scheduler")
            target = f"{settings.scheduler.host}:{s_port}"
            procs.append(subprocess.Popen(base + ["services.miner.app", *conf, "--scheduler", target,
                                                  "--ready-file", str(m_ready)]))
            m_port, m_metrics = _wait_ready(procs[1], m_ready, "miner")
            con.print(f"[green]up[/]: scheduler {target} (metrics :{s_metrics}), miner "
                      f"{settings.miner.host}:{m_port} (metrics :{m_metrics}); database "
                      f"{settings.database_url.split('@')[-1]}; Ctrl-C stops both")
            if args.demo:
                return _demo(args, con, target, procs, stop)
            while not stop["now"] and all(p.poll() is None for p in procs):
                time.sleep(0.2)
            dead = [p for p in procs if p.poll() is not None]
            return 1 if dead and not stop["now"] else 0
        except KeyboardInterrupt:
            return 0
        except RuntimeError as exc:
            con.print(f"[bold red]error:[/] {exc}")
            return 1
        finally:
            _stop(procs)


def _demo(args, con, target: str, procs, stop) -> int:
    client = SchedulerClient(target, timeout=10.0)
    try:
        camp = client.call("AddCampaign", spb.AddCampaignRequest(
            campaign=pb.Campaign(name="demo: us daily momentum", config_path=args.demo_config, market="us",
                                 priority=1, enabled=True, repeat=False, tags=["demo"]),
            actor="omp up", reason="demo", request_id=f"demo-{os.getpid()}-{time.time_ns()}"))
        st = client.call("GetStatus", spb.GetStatusRequest())
        if st.state != pb.DAEMON_STATE_RUNNING:
            client.call("StartDaemon" if st.state == pb.DAEMON_STATE_OFFLINE else "ResumeDaemon",
                        spb.DaemonRequest(actor="omp up", reason="demo"))
        con.print(f"queued {camp.id} ({args.demo_config}) and started the daemon; events:")
        for e in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0, follow=True)):
            con.print(f"{e.seq:>5} {e.kind:<22} {e.message}")
            if stop["now"] or any(p.poll() is not None for p in procs):
                break
            if args.exit_after_run and e.campaign_id == camp.id and e.kind in ("run.completed", "run.failed",
                                                                               "campaign.quarantine"):
                return 0 if e.kind == "run.completed" else 1
        return 0
    except errors.OmpError as exc:
        con.print(f"[bold red]error:[/] {exc}")
        return 1
    finally:
        client.close()
