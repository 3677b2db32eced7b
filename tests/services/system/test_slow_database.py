"""A database that stops answering for a while (an outside writer holding SQLite's lock, a table
lock on PostgreSQL, a long import) must not freeze the scheduler: health and reads answer, a call
that needs the database fails UNAVAILABLE within a bound instead of hanging, and all is well after."""
from __future__ import annotations

import sqlite3
import threading
import time

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from helpers_services import scheduler_client, write_settings
from omp.v1 import common_pb2 as pb, scheduler_pb2 as spb
from omp_services.common import settings as settings_mod
from omp_services.common.convert import struct_pb
from omp_services.common.errors import Unavailable
from omp_services.scheduler.app import SchedulerApp
from omp_services.scheduler.settings import SECTIONS

HOLD_S = 3.0


@pytest.fixture
def scheduler(tmp_path, database_url):
    app = SchedulerApp(settings_mod.load(write_settings(tmp_path, database_url), sections=SECTIONS))
    app.start()
    client = scheduler_client(f"127.0.0.1:{app.service.port}", timeout=HOLD_S * 3)
    channel = grpc.insecure_channel(f"127.0.0.1:{app.service.port}")
    yield app, client, health_pb2_grpc.HealthStub(channel), database_url
    channel.close()
    client.close()
    app.stop(1.0)


def _hold_the_database(url: str, held: threading.Event, release: threading.Event) -> None:
    """Another process's worst: SQLite's write lock, or PostgreSQL's strongest table lock."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
    else:
        conn = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
        conn.execute("LOCK TABLE campaigns IN ACCESS EXCLUSIVE MODE")
    held.set()
    release.wait(HOLD_S)
    conn.rollback()
    conn.close()


def _timed(fn):
    t0 = time.monotonic()
    try:
        return fn(), time.monotonic() - t0
    except Exception as exc:  # noqa: BLE001 - the test looks at what came back
        return exc, time.monotonic() - t0


def test_a_held_database_fails_calls_fast_and_health_keeps_answering(scheduler):
    app, client, health, url = scheduler
    client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(name="before", config_path="tiny.toml")))
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_the_database, args=(url, held, release))
    holder.start()
    try:
        assert held.wait(10)
        h, t_health = _timed(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=2))
        assert h.status == health_pb2.HealthCheckResponse.SERVING and t_health < 1.0
        add, t_add = _timed(lambda: client.call("AddCampaign", spb.AddCampaignRequest(
            campaign=pb.Campaign(name="during", config_path="tiny.toml"), request_id="during-1")).campaign)
        assert isinstance(add, Unavailable) and "busy" in str(add) and t_add < 2.0, (add, t_add)
        st, t_status = _timed(lambda: client.call("GetStatus", spb.GetStatusRequest()).status)
        assert st.queued == 1 and t_status < 1.0, (st, t_status)      # the kept counts, not the campaigns
        page, t_list = _timed(lambda: client.call("ListCampaigns", spb.ListCampaignsRequest()))
        if url.startswith("sqlite"):        # WAL: readers never wait for the writer
            assert [c.name for c in page.campaigns] == ["before"] and t_list < 1.0
        else:                               # ACCESS EXCLUSIVE blocks reads of the table too: they fail fast
            assert isinstance(page, Unavailable) and t_list < 5.0, (page, t_list)
        h, t_health = _timed(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=2))
        assert h.status == health_pb2.HealthCheckResponse.SERVING and t_health < 1.0
    finally:
        release.set()
        holder.join()
    again = client.call("AddCampaign", spb.AddCampaignRequest(
        campaign=pb.Campaign(name="during", config_path="tiny.toml"), request_id="during-1")).campaign
    names = [c.name for c in client.call("ListCampaigns", spb.ListCampaignsRequest()).campaigns]
    assert sorted(names) == ["before", "during"] and again.name == "during"      # the retry: once


def test_a_big_import_does_not_freeze_the_other_calls(scheduler):
    app, client, health, url = scheduler
    doc = struct_pb({"campaigns": [{"name": f"c{i}", "config_path": "tiny.toml"} for i in range(5000)]})
    done = threading.Event()
    worst = []

    def probe():
        while not done.is_set():
            _, t = _timed(lambda: client.call("GetStatus", spb.GetStatusRequest()).status)
            worst.append(t)
            health.Check(health_pb2.HealthCheckRequest(), timeout=2)
            time.sleep(0.01)
    t = threading.Thread(target=probe)
    t.start()
    try:
        r = client.call("ImportQueue", spb.ImportQueueRequest(queue=doc, request_id="big"), timeout=120)
    finally:
        done.set()
        t.join()
    assert r.added == 5000 and len(worst) >= 3
    assert max(worst) < 1.0, f"a status call took {max(worst):.2f} s during the import"
