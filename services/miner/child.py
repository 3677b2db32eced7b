"""The run process: one campaign through omp_core, progress as JSON lines on stdout.

It is started by the miner in its own process group and asks the kernel to kill it if the miner
dies (PR_SET_PDEATHSIG), so a killed miner leaves no run behind. Exit codes: 0 completed,
1 failed, 2 bad input (the config), 3 bad market data (it fails validation or is missing: the data
is not fit to mine, whatever the campaign).
"""
from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
#: progress is said at most this often (and at each seed's last generation): a generation of a small
#: campaign takes milliseconds, and every line becomes a write in the miner and a call to the scheduler
PROGRESS_EVERY_S = 0.5


def _die_with_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not Linux: the miner's restart cleanup still kills leftover groups
    if os.getppid() != parent_pid:      # the parent died before prctl took effect
        os._exit(1)


def emit(doc: dict) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    # a process keeps its parent's signal mask, and the miner's threads block SIGTERM and SIGINT
    # (services/common/runner.py): a run must hear them, to stop when it is cancelled
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    ap = argparse.ArgumentParser(prog="omp-run")
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-root", default="")
    ap.add_argument("--parent-pid", type=int, default=0)
    ap.add_argument("--run-id", required=True, help="the run's id, which names its folder (run_<...>)")
    ap.add_argument("--resume-from", default="", help="an earlier unfinished run's folder: its checkpoints go on")
    ap.add_argument("--campaign-id", default="")
    ap.add_argument("--attempt", type=int, default=0)
    ap.add_argument("--environment", default="")
    ap.add_argument("--backend", default="local", help="where genomes are scored: local or ray")
    ap.add_argument("--ray-address", default="", help="the Ray cluster's address (ray backend; empty: a local Ray)")
    args = ap.parse_args(argv)
    if args.parent_pid:
        _die_with_parent(args.parent_pid)
    from omp_core import config
    from omp_core.data import DataMissing, DataValidationError
    from omp_core.run import RuntimeLimitExceeded, run_campaign

    try:
        cfg = config.load(args.config)
    except ValueError as exc:
        print(f"config invalid: {exc}", file=sys.stderr)
        return 2
    seeds = list(cfg.seeds)
    done: set[int] = set()
    said_at = -PROGRESS_EVERY_S

    def progress(p):
        nonlocal said_at
        now = time.monotonic()
        if p.generation == p.generations:
            done.add(p.seed)
        elif now - said_at < PROGRESS_EVERY_S:
            return
        said_at = now
        # the search's own progress fields, and where the run stands across seeds
        emit({"event": "progress", **dataclasses.asdict(p), "seeds_done": len(done), "seeds_total": len(seeds)})

    try:
        result = run_campaign(args.config, args.out, threads=args.threads, run_id=args.run_id,
                              backend=args.backend, ray_address=args.ray_address or None,
                              resume_from=args.resume_from or None,
                              provenance={"campaign_id": args.campaign_id, "attempt": args.attempt,
                                          "environment": args.environment},
                              data_root=args.data_root or None, progress=progress,
                              started=lambda run_dir: emit({"event": "started", "run_dir": str(run_dir)}))
    except RuntimeLimitExceeded as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (DataValidationError, DataMissing) as exc:
        # said on stdout too, whole: the miner takes it from there rather than from a log's tail
        message = f"bad data: {' '.join(str(exc).split())}"
        emit({"event": "bad_data", "error": message[:4000]})
        print(message, file=sys.stderr)
        return 3
    except ValueError as exc:
        print(f"bad input: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:         # the evaluation backend (a Ray cluster that cannot score it)
        print(f"backend {args.backend}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    emit({"event": "completed", "run_dir": str(result.run_dir), "run_id": result.run_id,
          "candidates": len(result.candidates["candidates"])})
    return 0


if __name__ == "__main__":
    sys.exit(main())
