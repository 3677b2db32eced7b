"""A database that goes away, against real processes and a real PostgreSQL: the link between a
service and PostgreSQL is cut (CuttableLink), the server itself keeps running for the others.

The scheduler reports its own outage to the watchdog (SEV-0) and admits nothing until the database
is back; the watchdog, when its own database goes away, pauses mining through the scheduler and
writes the incident once it can, then resumes."""
from __future__ import annotations

import pytest

from helpers_services import (CuttableLink, _pg_create, _pg_drop, free_port, scheduler_client, set_data_ready,
                              wait_for, write_settings)
from omp.v1 import common_pb2 as pb, scheduler_pb2 as spb, watchdog_pb2 as wpb, watchdog_pb2_grpc
from omp_services.common.clients import Client
from omp_services.common.errors import Unavailable

pytestmark = pytest.mark.slow      # three services as processes and a cut network link


@pytest.fixture
def pg_link():
    name = _pg_create()
    link = CuttableLink(("127.0.0.1", 5432))
    yield f"postgresql+psycopg://postgres@127.0.0.1:{link.port}/{name}", link
    link.close()
    _pg_drop(name)


def _incident(wclient, key: str):
    found = [i for i in wclient.call("ListIncidents", wpb.ListIncidentsRequest(open_only=True)).incidents
             if i.kind == "database_unreachable" and i.key == key]
    return found[0] if found else None


def _timeline(wclient, inc) -> str:
    full = wclient.call("GetIncident", wpb.GetIncidentRequest(id=inc.id)).incident
    return "\n".join(f"{t.actor}: {t.event}" for t in full.timeline)


def _state(client):
    return client.call("GetStatus", spb.GetStatusRequest()).status.state


def test_the_schedulers_database_going_away_is_a_sev0_and_mining_resumes_when_it_is_back(services, tmp_path, pg_link):
    url, link = pg_link
    sched_cfg = write_settings(tmp_path, url, name="scheduler.toml", database={"unreachable_s": 1.0})
    other_cfg = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}")
    wport = free_port()
    watchdog = f"127.0.0.1:{wport}"
    sched = services.start("omp_services.scheduler.app", sched_cfg, "--watchdog", watchdog)
    miner = services.start("omp_services.miner.app", other_cfg, "--scheduler", sched.address, "--watchdog", watchdog)
    services.start("omp_services.watchdog.app", other_cfg, "--port", str(wport), "--scheduler", sched.address,
                   "--miner", miner.address)
    client, wclient = scheduler_client(sched.address), Client(watchdog_pb2_grpc.WatchdogServiceStub, watchdog)
    client.call("StartDaemon", spb.StartDaemonRequest(actor="t"))
    set_data_ready(client)

    link.cut()
    inc = wait_for(lambda: _incident(wclient, "scheduler"), timeout=30, what="the scheduler's database incident")
    assert inc.severity == wpb.SEVERITY_SEV0 and inc.opened_by == "anonymous for scheduler"
    with pytest.raises(Unavailable):            # a change asked for meanwhile is refused, not half made
        client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
            name="during", config_path="tiny.toml", priority=1), actor="t"))

    link.restore()
    wait_for(lambda: "reachable again" in _timeline(wclient, inc), timeout=30, what="the recovery on the timeline")
    assert [c.name for c in client.call("ListCampaigns", spb.ListCampaignsRequest()).campaigns] == []
    c = client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
        name="after", config_path="tiny.toml", priority=1), actor="t")).campaign
    done = wait_for(lambda: (x := client.call("GetCampaign", spb.GetCampaignRequest(id=c.id)).campaign)
                    .state == pb.CAMPAIGN_STATE_COMPLETED and x, timeout=120, what="mining after the outage")
    assert done.last_run_id
    assert len([i for i in wclient.call("ListIncidents", wpb.ListIncidentsRequest(open_only=True)).incidents
                if i.kind == "database_unreachable"]) == 1


def test_the_watchdogs_database_going_away_pauses_mining_until_it_is_back(services, tmp_path, pg_link):
    url, link = pg_link
    dog_cfg = write_settings(tmp_path, url, name="watchdog.toml", database={"unreachable_s": 1.0})
    sched_cfg = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}")
    sched = services.start("omp_services.scheduler.app", sched_cfg)
    dog = services.start("omp_services.watchdog.app", dog_cfg, "--scheduler", sched.address,
                         "--miner", f"127.0.0.1:{free_port()}")
    client, wclient = scheduler_client(sched.address), Client(watchdog_pb2_grpc.WatchdogServiceStub, dog.address)
    client.call("StartDaemon", spb.StartDaemonRequest(actor="t"))
    wait_for(lambda: len(wclient.call("GetResources", wpb.GetResourcesRequest(history=5)).history) >= 2,
             timeout=30, what="the watchdog's first samples")

    link.cut()
    wait_for(lambda: _state(client) == pb.DAEMON_STATE_PAUSED, timeout=30, what="mining paused by the watchdog")
    with pytest.raises(Unavailable):            # the watchdog's own reads fail while its database is away
        wclient.call("ListIncidents", wpb.ListIncidentsRequest(open_only=True))

    link.restore()
    wait_for(lambda: _state(client) == pb.DAEMON_STATE_RUNNING, timeout=30, what="mining resumed")
    inc = wait_for(lambda: _incident(wclient, "watchdog"), timeout=30, what="the incident, written once back")
    assert inc.severity == wpb.SEVERITY_SEV0
    wait_for(lambda: "mining resumed" in _timeline(wclient, inc), timeout=30, what="the resume on the timeline")
    timeline = _timeline(wclient, inc)
    assert "mining paused" in timeline and "reachable again" in timeline
    events = list((x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0, follow=False), timeout=10)))
    assert [e.kind for e in events if e.kind in ("daemon.paused", "daemon.running")][-2:] == \
        ["daemon.paused", "daemon.running"]
    assert "database" in [e for e in events if e.kind == "daemon.paused"][-1].message
