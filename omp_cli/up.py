"""``omp up``: the promoter, the scheduler, the miner and the watchdog as child processes on this machine, with the embedded
defaults (SQLite under ./var, configs under ./examples/campaigns); Ctrl-C stops them all.

``--demo`` also queues the shipped example campaigns (real data, and the planted edge), starts the
daemon and prints the events with each run's judgement; ``--exit-after-run`` stops everything once
both runs have ended and been judged.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omp.v1 import (common_pb2 as pb, miner_pb2 as mpb, miner_pb2_grpc, promoter_pb2 as ppb, promoter_pb2_grpc,
                    scheduler_pb2 as spb, scheduler_pb2_grpc)
from omp_services.common import errors, security, settings as settings_mod
from omp_services.common.clients import Client
from omp_services.common.convert import struct_dict
from omp_cli.output import console, emit, error, message_dict

DEMO_CONFIG = "us_daily_momentum.toml"           # real data: the gates mostly say no, and why
PLANTED_CONFIG = "planted_edge.toml"             # synthetic data with a planted edge: they say yes
#: the services in the order they start, each with the peers it is told about
SERVICES = (("promoter", ("watchdog",)), ("scheduler", ("miner", "watchdog", "promoter")),
            ("miner", ("scheduler", "watchdog")), ("watchdog", ("scheduler", "miner")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(proc: subprocess.Popen, ready: Path, name: str, log: Path, timeout: float = 60.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text().strip():
            port, mport = ready.read_text().split()
            return int(port), int(mport)
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
            raise RuntimeError(f"{name} exited with code {proc.returncode} before serving; its log {log} ends:\n"
                               + "\n".join(tail))
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not start within {timeout:.0f} s (log: {log})")


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


def cmd_up(args) -> int:
    """With --json: an object with the addresses once all serve, then (--demo) each event and each
    judgement as a JSON object per line; an error as {"error": ...}."""
    con = console(stderr=args.json)      # under --json, stdout holds JSON alone
    args.config = args.config or args.settings_file or os.environ.get("OMP_CONFIG")
    try:
        settings = settings_mod.load(args.config)
        args.security = security.for_command(settings)     # the demo's calls, as any omp command's
    except ValueError as exc:
        return error(str(exc), 2, args.json)
    base = [sys.executable, "-m"]
    conf = ["--config", str(Path(args.config).resolve())] if args.config else []
    procs: list[subprocess.Popen] = []
    stop = {"now": False}

    def on_signal(*_):
        stop["now"] = True
    signal.signal(signal.SIGTERM, on_signal)
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # every address is known before anything starts (a port of 0 becomes a free one now), so each
    # service is told where its peers are whatever the order
    address = {name: f"{settings.endpoint(name).host}:{settings.endpoint(name).port or _free_port()}"
               for name, _ in SERVICES}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            metrics = {}
            for name, peers in SERVICES:
                ready, log = Path(tmp) / name, logs / f"{name}.log"
                cmd = base + [f"omp_services.{name}.app", *conf, "--port", address[name].rsplit(":", 1)[1],
                              "--ready-file", str(ready)]
                for peer in peers:
                    cmd += [f"--{peer}", address[peer]]
                with open(log, "ab") as out:
                    procs.append(subprocess.Popen(cmd, stdout=out, stderr=out))
                _, metrics[name] = _wait_ready(procs[-1], ready, name, log)
            target, miner = address["scheduler"], address["miner"]
            if args.json:
                emit({"up": {name: {"address": address[name], "metrics_port": metrics[name]} for name, _ in SERVICES},
                      "database": settings_mod.redact_url(settings.database_url), "logs": str(logs)})
            else:
                con.print("[green]up[/]: " + ", ".join(f"{name} {address[name]} (metrics :{metrics[name]})"
                                                       for name, _ in SERVICES)
                          + f"; database {settings_mod.redact_url(settings.database_url)}; logs in {logs}; "
                            "Ctrl-C stops all", soft_wrap=True)
            if args.demo:
                return _demo(args, con, target, miner, address["promoter"], procs, stop)
            while not stop["now"] and all(p.poll() is None for p in procs):
                time.sleep(0.2)
            dead = [p for p in procs if p.poll() is not None]
            return 1 if dead and not stop["now"] else 0
        except KeyboardInterrupt:
            return 0
        except RuntimeError as exc:
            return error(str(exc), 1, args.json)
        finally:
            _stop(procs)


def _show_run(con, miner: str, run_id: str, security) -> None:
    client = Client(miner_pb2_grpc.MinerServiceStub, miner, timeout=10.0, security=security)
    try:
        run = client.call("GetRun", mpb.GetRunRequest(run_id=run_id)).run
        con.print(f"      run folder: {run.run_dir}  (candidates: omp runs export {run_id} --miner {miner})",
                  soft_wrap=True)
    except errors.OmpError as exc:
        con.print(f"      (could not ask the miner about {run_id}: {exc})")
    finally:
        client.close()


def _show_decision(con, promoter: str, run_id: str, security) -> None:
    client = Client(promoter_pb2_grpc.PromoterServiceStub, promoter, timeout=10.0, security=security)
    try:
        d = client.call("GetDecision", ppb.GetDecisionRequest(run_id=run_id)).decision
    except errors.OmpError as exc:
        con.print(f"      (could not ask the promoter about {run_id}: {exc})")
        return
    finally:
        client.close()
    word = lambda n: ppb.PromotionOutcome.Name(n).removeprefix("PROMOTION_OUTCOME_").lower()  # noqa: E731
    con.print(f"      judged: [bold]{word(d.outcome)}[/]", soft_wrap=True)
    for g in d.run_gates:
        if not g.passed:
            con.print(f"      FAIL {g.gate}: {g.detail}", soft_wrap=True)
    for c in d.candidates:
        failed = [g for g in c.gates if not g.passed]
        con.print(f"      {c.candidate_id}: {word(c.outcome)}" + (f" (FAIL {failed[0].gate}: {failed[0].detail}"
                                                                   + (f", and {len(failed) - 1} more" if len(failed) > 1
                                                                      else "") + ")" if failed else ""),
                  soft_wrap=True)


def _demo(args, con, target: str, miner: str, promoter: str, procs, stop) -> int:
    """Queue the demo campaigns (the real-data example and the planted edge: the gates saying no,
    with their reasons, and yes), start mining, print the events and each run's judgement."""
    client = Client(scheduler_pb2_grpc.SchedulerServiceStub, target, timeout=10.0, security=args.security)
    try:
        ids = {}
        for k, config in enumerate(args.demo_config or [DEMO_CONFIG, PLANTED_CONFIG]):
            camp = client.call("AddCampaign", spb.AddCampaignRequest(
                campaign=pb.Campaign(name=f"demo: {config.removesuffix('.toml')}", config_path=config,
                                     priority=1 + k, enabled=True, repeat=False, tags=["demo"]),
                actor="omp up", reason="demo", request_id=f"demo-{os.getpid()}-{time.time_ns()}-{k}")).campaign
            ids[camp.id] = config
        st = client.call("GetStatus", spb.GetStatusRequest()).status
        if st.data_readiness != pb.DATA_READINESS_READY and st.data_readiness_reason.startswith("never confirmed"):
            # a fresh installation mines nothing until someone vouches for the data; the demo's is
            # shipped. An operator's own "not ready" (with its reason) is left as it is.
            con.print("data readiness was never confirmed; the demo marks it ready: its data is the shipped "
                      "examples/data")
            client.call("SetDataReadiness", spb.SetDataReadinessRequest(
                readiness=pb.DATA_READINESS_READY, actor="omp up", reason="demo: shipped example data"))
        elif st.data_readiness != pb.DATA_READINESS_READY:
            con.print(f"[yellow]data is marked not ready ({st.data_readiness_reason}): nothing will be admitted "
                      "until `omp data-ready yes`[/]")
        if st.state == pb.DAEMON_STATE_OFFLINE:
            client.call("StartDaemon", spb.StartDaemonRequest(actor="omp up", reason="demo"))
        elif st.state != pb.DAEMON_STATE_RUNNING:
            client.call("ResumeDaemon", spb.ResumeDaemonRequest(actor="omp up", reason="demo"))
        con.print("queued " + ", ".join(f"{i} ({c})" for i, c in ids.items()) + " and started the daemon; events:",
                  soft_wrap=True)
        waiting, failed = set(ids), False
        for e in (r.event for r in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0, follow=True))):
            ours = e.campaign_id in ids
            if args.json:
                emit({"event": message_dict(e)})
            else:
                con.print(f"{e.seq:>5} {e.kind:<22} {e.message}", soft_wrap=True)
                if e.kind == "run.completed" and ours:
                    _show_run(con, miner, str(struct_dict(e.detail).get("run_id", "")), args.security)
                if e.kind == "promotion.judged" and ours:
                    _show_decision(con, promoter, str(struct_dict(e.detail).get("run_id", "")), args.security)
            if stop["now"] or any(p.poll() is not None for p in procs):
                break
            if ours and e.kind in ("promotion.judged", "run.failed", "campaign.quarantine"):
                waiting.discard(e.campaign_id)
                failed |= e.kind != "promotion.judged"
                if args.exit_after_run and not waiting:
                    return 1 if failed else 0
        return 0
    except errors.OmpError as exc:
        return error(str(exc), 1, args.json, exc.code.name)
    finally:
        client.close()
