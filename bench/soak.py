"""Soak: the scheduler and the miner as real processes for minutes under a mixed load, with the
faults of an ordinary bad day, reporting whether anything grows or breaks. Not run in CI.

- load: 8 clients mixing add (with a request id) / get / list / reorder / disable and enable /
  status / list runs, 2 threads churning event streams (a follow opened, read a little, cancelled)
  and run watches, repeat campaigns admitted and run back to back by the miner;
- faults: the miner restarted (SIGTERM, start again on its port) at a third of the time, an
  outside connection holding SQLite's write lock for 3 s at two thirds;
- reference: the gRPC health check's rate, measured in the same run before the load.

One JSON line at the start, one a minute, one at the end: operations per second, p50 and p99 per
minute, errors by status code, and each service's threads and resident memory. What to look for:
threads and memory flat from start to end, no INTERNAL or UNKNOWN, UNAVAILABLE only around the
faults, every campaign added exactly once.

Usage: ``python bench/soak.py [--minutes 10] [--database postgresql]``
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "services"))  # helpers_services: settings files, services as processes

from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from helpers_services import (CONFIGS, ServiceProcess, _pg_create, _pg_drop, miner_client,  # noqa: E402
                              scheduler_client, set_data_ready, write_settings)
from omp.v1 import common_pb2 as pb, miner_pb2 as mpb, scheduler_pb2 as spb, scheduler_pb2_grpc  # noqa: E402
from omp_services.common.errors import OmpError  # noqa: E402

CLIENTS = 8


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.lat: list[float] = []
        self.errors: collections.Counter = collections.Counter()
        self.ops = 0

    def add(self, seconds: float) -> None:
        with self.lock:
            self.lat.append(seconds)
            self.ops += 1

    def error(self, code: str) -> None:
        with self.lock:
            self.errors[code] += 1

    def take(self):
        with self.lock:
            lat, errors, self.lat, self.errors = self.lat, self.errors, [], collections.Counter()
            return lat, errors


def process_figures(sp: ServiceProcess) -> dict:
    p = psutil.Process(sp.proc.pid)
    return {"threads": p.num_threads(), "rss_mb": round(p.memory_info().rss / 2**20, 1)}


def health_rate(address: str, seconds: float = 5.0) -> float:
    ch = grpc.insecure_channel(address)
    stub = health_pb2_grpc.HealthStub(ch)
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        n += 1
    ch.close()
    return n / seconds


def client_loop(address: str, i: int, stop: threading.Event, stats: Stats, added: dict, lock: threading.Lock):
    rng = random.Random(i)
    c = scheduler_client(address, timeout=5.0)
    mine: list[str] = []
    k = 0
    while not stop.is_set():
        op = rng.choice(("add", "get", "list", "list", "reorder", "toggle", "status", "status"))
        t0 = time.perf_counter()
        try:
            if op == "add" or not mine:
                k += 1
                rid = f"soak-{i}-{k}"
                got = c.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
                    name=f"soak {i}-{k}", config_path="tiny.toml", priority=rng.randint(1, 50), repeat=False,
                    enabled=False), actor=f"client{i}", request_id=rid)).campaign
                mine.append(got.id)
                with lock:
                    added[rid] = got.id
            elif op == "get":
                c.call("GetCampaign", spb.GetCampaignRequest(id=rng.choice(mine)))
            elif op == "list":
                c.call("ListCampaigns", spb.ListCampaignsRequest(page_size=50))
            elif op == "reorder":
                c.call("ReorderCampaign", spb.ReorderCampaignRequest(id=rng.choice(mine), priority=rng.randint(1, 50),
                                                                     actor=f"client{i}", reason="soak"))
            elif op == "toggle":
                c.call("SetCampaignEnabled", spb.SetCampaignEnabledRequest(id=rng.choice(mine), enabled=False,
                                                                           actor=f"client{i}", reason="soak"))
            else:
                c.call("GetStatus", spb.GetStatusRequest())
            stats.add(time.perf_counter() - t0)
        except OmpError as exc:
            stats.error(exc.code.name)
            time.sleep(0.05)
    c.close()


def stream_churn(address: str, miner_address, stop: threading.Event, stats: Stats):
    rng = random.Random(99)
    while not stop.is_set():
        ch = grpc.insecure_channel(address)
        try:
            stream = scheduler_pb2_grpc.SchedulerServiceStub(ch).WatchEvents(
                spb.WatchEventsRequest(after_seq=rng.randint(0, 50), follow=True), timeout=30)
            for n, _ in enumerate(stream):
                if n >= rng.randint(1, 20):
                    break
            stream.cancel()
            m = miner_client(miner_address[0], timeout=5.0)
            runs = m.call("ListRuns", mpb.ListRunsRequest(status=pb.RUN_STATUS_RUNNING)).runs
            if runs:
                w = m.stub.WatchRun(mpb.WatchRunRequest(run_id=runs[0].run_id), timeout=10)
                next(w, None)
                w.cancel()
            m.close()
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                stats.error(f"stream:{exc.code().name}")
        except OmpError as exc:
            stats.error(f"stream:{exc.code.name}")
        finally:
            ch.close()
        time.sleep(rng.uniform(0.0, 0.2))


def hold_sqlite(url: str, seconds: float) -> None:
    conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    time.sleep(seconds)
    conn.rollback()
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        pg = _pg_create() if args.database == "postgresql" else None
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg}" if pg else f"sqlite:///{tmp / 'omp.db'}"
        config = write_settings(tmp, url, paths={"configs_root": str(CONFIGS)},
                                scheduler={"repeat_cooldown_s": 0.0, "loop_interval_s": 1.0})
        sched = ServiceProcess("omp_services.scheduler.app", config, tmp).start()
        miner = ServiceProcess("omp_services.miner.app", config, tmp, "--scheduler", sched.address).start()
        miner_address = [miner.address]
        try:
            reference = health_rate(sched.address)
            admin = scheduler_client(sched.address)
            for j in range(2):      # campaigns that keep the miner busy all along
                admin.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
                    name=f"repeat {j}", config_path="tiny.toml", priority=0, repeat=True), actor="soak"))
            admin.call("StartDaemon", spb.StartDaemonRequest(actor="soak"))
            set_data_ready(admin)
            emit(event="start", database=args.database, minutes=args.minutes,
                 health_ops_per_s=round(reference), scheduler=process_figures(sched), miner=process_figures(miner))
            stats, stop, added, lock = Stats(), threading.Event(), {}, threading.Lock()
            workers = [threading.Thread(target=client_loop, args=(sched.address, i, stop, stats, added, lock))
                       for i in range(CLIENTS)]
            workers += [threading.Thread(target=stream_churn, args=(sched.address, miner_address, stop, stats))
                        for _ in range(2)]
            for w in workers:
                w.start()
            t_start = time.monotonic()
            total_s = args.minutes * 60
            faults = {"miner restart": total_s / 3, "sqlite write lock held 3 s": 2 * total_s / 3}
            all_lat: list[float] = []
            all_errors: collections.Counter = collections.Counter()
            next_report = 60.0
            while (elapsed := time.monotonic() - t_start) < total_s:
                for name, at in list(faults.items()):
                    if elapsed >= at:
                        del faults[name]
                        if name == "miner restart":
                            port = miner.port
                            miner.terminate()
                            miner = ServiceProcess("omp_services.miner.app", config, tmp, "--scheduler", sched.address,
                                                   "--port", str(port)).start()
                            miner_address[0] = miner.address
                        elif url.startswith("sqlite"):
                            hold_sqlite(url, 3.0)
                        emit(event="fault", what=name, at_s=round(elapsed))
                if elapsed >= next_report:
                    lat, errors = stats.take()
                    all_lat += lat
                    all_errors += errors
                    emit(event="minute", at_s=round(elapsed), ops_per_s=round(len(lat) / 60.0),
                         p50_ms=round(pct(lat, 0.5) * 1e3, 2), p99_ms=round(pct(lat, 0.99) * 1e3, 2),
                         errors=dict(errors), scheduler=process_figures(sched), miner=process_figures(miner))
                    next_report += 60.0
                time.sleep(0.5)
            stop.set()
            for w in workers:
                w.join(timeout=30)
            lat, errors = stats.take()
            all_lat += lat
            all_errors += errors
            listed, token = [], ""
            while True:
                page = admin.call("ListCampaigns", spb.ListCampaignsRequest(page_size=1000, page_token=token))
                listed += [c.id for c in page.campaigns]
                token = page.next_page_token
                if not token:
                    break
            runs = miner_client(miner.address).call("ListRuns", mpb.ListRunsRequest(page_size=1000))
            ops = len(all_lat)
            emit(event="end", seconds=round(total_s), operations=ops, ops_per_s=round(ops / total_s),
                 p50_ms=round(pct(all_lat, 0.5) * 1e3, 2), p99_ms=round(pct(all_lat, 0.99) * 1e3, 2),
                 median_ms=round(statistics.median(all_lat) * 1e3, 2) if all_lat else None,
                 ratio_to_health_ops=round(ops / total_s / reference, 3), errors=dict(all_errors),
                 added=len(added), added_once=len(set(added.values())) == len(added) and set(added.values()) <= set(listed),
                 runs_seen=len(runs.runs), scheduler=process_figures(sched), miner=process_figures(miner))
            admin.close()
        finally:
            miner.terminate()
            sched.terminate()
            if pg:
                _pg_drop(pg)


if __name__ == "__main__":
    main()
