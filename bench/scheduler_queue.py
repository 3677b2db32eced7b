"""Queue benchmark: one JSON line per workload, with its ratio to a reference measured in the same run.

- ``queue_ops_<db>``: 16 concurrent clients on loopback against a scheduler child process, a mix of
  add / get / list (50) / reorder; operations per second and p50 / p99 latency, against the gRPC
  health check (no database) measured the same way. What is timed is the steady state: channels
  connected and the queue warmed up before the clock starts, clients not moving in step, the
  load generator's collector frozen (each of these put 16-40 ms tails into the figure that were
  not the server's; see the comments where they are done);
- ``queue_ops_<db>_tls_tokens``: the same mix over TLS with a bearer token on every call (the
  scheduler checking it and its role), against the plaintext figure of the same run;
- ``pick_next_<db>``: the admission query (next campaign by aged priority) with 10,000 queued,
  against a primary-key read of one campaign;
- ``pk_read_<db>``: that primary-key read as the repositories run it (a Core statement compiled
  once, on the DB-API cursor) against the same read through an ORM Session;
- ``admissions_<db>``: one scheduler leading 16 registered miners of 4 slots: campaigns admitted,
  started and completed per second (the miners answering in process), against a primary-key read.

Runs on SQLite and, when it answers on 127.0.0.1:5432, PostgreSQL.
Usage: ``python bench/scheduler_queue.py [--quick]``
"""
from __future__ import annotations

import argparse
import gc
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from sqlalchemy.orm import Session
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "services"))  # helpers_services: settings files, services as processes

from helpers_services import (PG_ADMIN, ServiceProcess, _pg_create, _pg_drop, scheduler_client,  # noqa: E402
                              write_settings)
from omp.v1 import common_pb2 as pb, scheduler_pb2 as spb  # noqa: E402
from omp_services.common.storage.db import Database  # noqa: E402
from omp_services.migrations import migrate  # noqa: E402
from omp_services.scheduler.entities import Campaign  # noqa: E402
from omp_services.scheduler.repository import SchedulerStore  # noqa: E402
from omp_services.scheduler.tables import CampaignRow  # noqa: E402

CLIENTS = 16


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def hammer(address: str, ops_per_client: int, op, security=None) -> tuple[float, list[float]]:
    # the load generator's own full collections (65 ms seen here) would be counted as the server's
    # latency: start each run with what exists frozen out of the collector, as the services do
    gc.collect()
    gc.freeze()
    lat: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS + 1)

    def worker(i):
        ch = security.channel(address) if security is not None else grpc.insecure_channel(address)
        client = scheduler_client("", channel=ch)   # a client keeps its stubs, as the omp command does
        # connected before the clock starts: the TCP and HTTP/2 handshakes of 16 new channels at
        # once took 40-55 ms and were the slowest 16 of the run, not a queue operation's latency
        grpc.channel_ready_future(ch).result(timeout=30)
        mine = []
        barrier.wait()
        for k in range(ops_per_client):
            t = time.perf_counter()
            op(client, i, k)
            mine.append(time.perf_counter() - t)
        ch.close()
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, lat


def make_queue_mix():
    ids: list[str] = []
    lock = threading.Lock()

    def queue_mix(client, i, k):
        with lock:
            known = list(ids[-200:])
        # each client starts at its own place in the cycle: 16 clients released together by the
        # barrier would otherwise move in step, 16 adds at once, then 16 gets, ... not a mix
        kind = (k + i) % 4 if known else 0
        if kind == 0:
            c = client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
                name=f"b{i}-{k}", config_path="tiny.toml", market="us", priority=k % 50), actor="bench")).campaign
            with lock:
                ids.append(c.id)
        elif kind == 1:
            client.call("GetCampaign", spb.GetCampaignRequest(id=known[k % len(known)]))
        elif kind == 2:
            client.call("ListCampaigns", spb.ListCampaignsRequest(page_size=50))
        else:
            client.call("ReorderCampaign", spb.ReorderCampaignRequest(
                id=known[k % len(known)], priority=k % 7, actor="bench", reason="bench"))
    return queue_mix


def health(client, i, k):
    health_pb2_grpc.HealthStub(client.channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)


def _secured(tmp: Path, url: str):
    """TLS and bearer tokens as ``omp security init`` makes them; the bench's client is an operator."""
    from omp_services.common import certificates
    from omp_services.common.security import Security
    pki = tmp / "pki"
    certificates.init(pki)
    certificates.add_token(pki / "tokens.toml", "bench", "operator", pki / "bench.token")
    config = write_settings(tmp, url, name="secure.toml", security={
        "tls_cert": str(pki / "{service}.crt"), "tls_key": str(pki / "{service}.key"), "tls_ca": str(pki / "ca.crt"),
        "tokens_file": str(pki / "tokens.toml"), "token_file": str(pki / "{service}.token")})
    return config, Security(tls=True, server_ca=(pki / "ca.crt").read_bytes(),
                            own_token=(pki / "bench.token").read_text().strip())


def bench_ops(name: str, url: str, tmp: Path, quick: bool) -> dict:
    """The queue mix against the health check; then (``secure``) the same over TLS with bearer
    tokens, against the plaintext figure of the same run."""
    plain = None
    for secure in (False, True):
        config, security = _secured(tmp, url) if secure else (write_settings(tmp, url), None)
        sp = ServiceProcess("omp_services.scheduler.app", config, tmp).start()
        try:
            n = 30 if quick else 150
            hammer(sp.address, 5, health, security)                        # warm-up
            ref_s, ref_lat = hammer(sp.address, n, health, security)
            # warm-up of the queue itself, as a service that has run a while is: the first ~1,000 WAL
            # pages of a new database grow the -wal file on every commit, a slower fsync than the
            # steady state, where each checkpoint cycle writes over the same pages again
            mix = make_queue_mix()
            hammer(sp.address, 15, mix, security)
            ops_s, lat = hammer(sp.address, n, mix, security)
            total = CLIENTS * n
            figures = dict(clients=CLIENTS, operations=total, ops_per_s=round(total / ops_s),
                           p50_ms=round(pct(lat, 0.5) * 1e3, 2), p99_ms=round(pct(lat, 0.99) * 1e3, 2))
            if not secure:
                plain = figures
                emit(workload=f"queue_ops_{name}", **figures, health_ops_per_s=round(total / ref_s),
                     health_p99_ms=round(pct(ref_lat, 0.99) * 1e3, 2),
                     ratio_to_health_ops=round((total / ops_s) / (total / ref_s), 3))
            else:
                emit(workload=f"queue_ops_{name}_tls_tokens", **figures,
                     plain_ops_per_s=plain["ops_per_s"], plain_p99_ms=plain["p99_ms"],
                     ratio_to_plain_ops=round(figures["ops_per_s"] / plain["ops_per_s"], 3),
                     ratio_to_plain_p99=round(figures["p99_ms"] / plain["p99_ms"], 3))
        finally:
            sp.terminate()


def bench_pick(name: str, url: str, tmp: Path, quick: bool) -> None:
    db = Database(url)
    migrate(db)
    store = SchedulerStore(db)
    n = 1000 if quick else 10_000
    now = time.time()
    with store.tx() as tx:
        for k in range(n):
            c = Campaign(f"camp_{secrets.token_hex(8)}", f"q{k}", "tiny.toml", "us", k % 100, True, False, (),
                         "queued", now + k, now + k, now + k)
            tx.insert(c, c.priority * 86400.0 + c.queued_at, None)
    some = c.id

    def pick():
        with store.tx() as tx:
            return tx.next_queued(time.time())

    def get():
        with store.tx() as tx:
            return tx.get(some)

    def timed(fn, reps=200):
        out = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return statistics.median(out)
    def orm_get():
        with Session(db.engine) as session, session.begin():
            return session.get(CampaignRow, some)

    pick(), get(), orm_get()
    t_pick, t_get, t_orm = timed(pick), timed(get), timed(orm_get)
    emit(workload=f"pick_next_{name}", queued=n, median_ms=round(t_pick * 1e3, 3), pk_read_median_ms=round(t_get * 1e3, 3),
         ratio_to_pk_read=round(t_pick / t_get, 2))
    # why storage/db.py runs compiled Core statements on the cursor rather than through the ORM
    emit(workload=f"pk_read_{name}", median_us=round(t_get * 1e6, 1), orm_session_median_us=round(t_orm * 1e6, 1),
         ratio_to_orm_session=round(t_get / t_orm, 3))

    # the status's counts with this big a queue, against a primary-key read: kept counts, not a scan
    def status():
        with store.read() as tx:
            return tx.count("queued"), tx.count("running")

    def scan():
        with store.read() as tx:
            return tx.list(state="queued", limit=1)[1]
    status(), scan()
    t_status, t_scan = timed(status), timed(scan, reps=20)
    emit(workload=f"status_counts_{name}", queued=n, median_ms=round(t_status * 1e3, 3),
         scan_median_ms=round(t_scan * 1e3, 3), ratio_to_pk_read=round(t_status / t_get, 2))
    db.dispose()


def bench_admit(name: str, url: str, tmp: Path, quick: bool) -> None:
    """The leader's own cost per admission (several miners registered; the miners' side answers at
    once, in process): campaigns admitted per second by one scheduler, against a primary-key read."""
    from omp_services.common import settings as settings_mod
    from omp_services.common.clock import SystemClock
    from omp_services.scheduler.admission import judge
    from omp_services.scheduler.scheduler import Scheduler
    from omp_services.scheduler.settings import SECTIONS

    class Probe:
        def read(self):
            return judge(10.0, 8000.0, 50.0, settings_mod.Resources())

    class Miners:
        def forget(self, address):
            pass

        def start_run(self, address, campaign_id, attempt, config_path, config_hash):
            return f"run_{campaign_id}_{attempt}"

        def get_run(self, address, campaign_id, attempt):
            return None

    n = 200 if quick else 1000
    settings = settings_mod.load(overrides={
        "paths": {"configs_root": str(ROOT / "tests" / "fixtures" / "campaigns"), "data_dir": str(tmp)},
        "database": {"url": url}, "scheduler": {"max_concurrent_campaigns": 64}}, sections=SECTIONS)
    cfg = settings.section("scheduler")
    db = Database(url)
    migrate(db)
    sched = Scheduler(SchedulerStore(db), cfg, settings.configs_root, SystemClock(), Probe(), Miners())
    sched.daemon.set_data_ready(True, "bench", "")
    sched.daemon.transition("start", "bench")
    for k in range(16):
        sched.register_miner(f"10.0.{k}.1:50052", f"host-{k}", 4)
    from omp_services.scheduler.entities import CampaignSpec
    for k in range(n):
        sched.queue.add(CampaignSpec(name=f"a{k}", config_path="tiny.toml", priority=1), "bench")
    admitted, t0 = 0, time.perf_counter()
    while admitted < n:
        out = sched.tick()
        if out.kind.value == "admitted":
            admitted += 1
        else:                        # every slot taken: the runs end (as the miners would report)
            with sched.ctx.store.read() as tx:
                running = tx.running_attempts()
            for a in running:
                sched.attempts.report_result(a.campaign_id, a.number, f"run_{a.campaign_id}_{a.number}", "completed")
    elapsed = time.perf_counter() - t0
    store = SchedulerStore(db)

    def get():
        with store.tx() as tx:
            return tx.daemon()
    reps = []
    for _ in range(200):
        t = time.perf_counter()
        get()
        reps.append(time.perf_counter() - t)
    per = elapsed / n                # each campaign: admitted, started, completed (its report included)
    emit(workload=f"admissions_{name}", campaigns=n, miners=16, slots_each=4, per_campaign_ms=round(per * 1e3, 2),
         campaigns_per_s=round(n / elapsed), pk_read_ms=round(statistics.median(reps) * 1e3, 3),
         ratio_to_pk_read=round(per / statistics.median(reps), 1))
    db.dispose()


def postgres_ok() -> bool:
    try:
        import psycopg
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - absent server: say so and skip that backend
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    backends = [("sqlite", None)]
    if postgres_ok():
        backends.append(("postgresql", "pg"))
    else:
        emit(workload="queue_ops_postgresql", skipped="PostgreSQL is not answering on 127.0.0.1:5432")
    for name, kind in backends:
        with tempfile.TemporaryDirectory() as tmp:
            for fn in (bench_ops, bench_pick, bench_admit):
                if kind:
                    dbname = _pg_create()
                    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"
                else:
                    url = f"sqlite:///{tmp}/{fn.__name__}.db"
                try:
                    fn(name, url, Path(tmp), args.quick)
                finally:
                    if kind:
                        _pg_drop(dbname)


if __name__ == "__main__":
    main()
