"""The gRPC surface on real servers bound to loopback port 0: health, reflection, status codes that
name the field, pagination, resumable events, metrics."""
from __future__ import annotations

import base64
import re
import time
import urllib.request

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from helpers_services import miner_client, scheduler_client, wait_for, write_settings
from omp.v1 import common_pb2 as pb, miner_pb2 as mpb, scheduler_pb2 as spb
from omp_services.common import settings as settings_mod
from omp_services.common.convert import struct_dict, struct_pb
from omp_services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from omp_services.miner.app import MinerApp
from omp_services.miner.settings import SECTIONS as MINER
from omp_services.scheduler.app import SchedulerApp
from omp_services.scheduler.settings import SECTIONS as SCHEDULER


@pytest.fixture
def apps(tmp_path, database_url):
    settings = settings_mod.load(write_settings(tmp_path, database_url), sections={**SCHEDULER, **MINER})
    sched = SchedulerApp(settings)
    sched.start()
    miner = MinerApp(settings, f"127.0.0.1:{sched.service.port}")
    miner.start()
    client = scheduler_client(f"127.0.0.1:{sched.service.port}")
    mclient = miner_client(f"127.0.0.1:{miner.service.port}")
    yield sched, miner, client, mclient
    client.close()
    mclient.close()
    miner.stop(1.0)
    sched.stop(1.0)


def add(client, name="c", priority=1, **kw):
    return client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
        name=name, config_path="tiny.toml", market="us", priority=priority, enabled=True, **kw), actor="t")).campaign


def test_health_and_reflection(apps):
    sched, miner, client, mclient = apps
    for port, name in ((sched.service.port, "omp.v1.SchedulerService"), (miner.service.port, "omp.v1.MinerService")):
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            health = health_pb2_grpc.HealthStub(ch)
            for service in (name, ""):
                resp = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert resp.status == health_pb2.HealthCheckResponse.SERVING
            services = set(ProtoReflectionDescriptorDatabase(ch).get_services())
            assert {name, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services
            db = ProtoReflectionDescriptorDatabase(ch)
            assert db.FindFileContainingSymbol(name).package == "omp.v1"


def test_errors_carry_status_codes_that_name_the_field(apps):
    sched, miner, client, mclient = apps
    with pytest.raises(InvalidArgument, match="campaign.priority must be in 0..1000000, got -3") as err:
        add(client, priority=-3)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(InvalidArgument, match="campaign.name"):
        add(client, name="")
    with pytest.raises(InvalidArgument, match="leaves the root"):
        client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(
            name="x", config_path="../../../../etc/passwd", market="us")))
    with pytest.raises(NotFound, match="camp_missing"):
        client.call("GetCampaign", spb.GetCampaignRequest(id="camp_missing"))
    with pytest.raises(FailedPrecondition, match="cannot pause while offline"):
        client.call("PauseDaemon", spb.PauseDaemonRequest(actor="t"))
    c = add(client)
    with pytest.raises(InvalidArgument, match="update_mask: unknown or read-only field 'state'"):
        client.call("UpdateCampaign", spb.UpdateCampaignRequest(
            campaign=pb.Campaign(id=c.id), update_mask=field_mask_pb2.FieldMask(paths=["state"])))
    with pytest.raises(InvalidArgument, match="update_mask: unknown field 'colour'"):
        client.call("UpdateCampaign", spb.UpdateCampaignRequest(
            campaign=pb.Campaign(id=c.id), update_mask=field_mask_pb2.FieldMask(paths=["colour"])))
    with pytest.raises(InvalidArgument, match=r"queue.campaigns\[0\] must be an object"):
        client.call("ImportQueue", spb.ImportQueueRequest(queue=struct_pb({"campaigns": [1, 2]})))
    with pytest.raises(InvalidArgument, match="page_token"):
        client.call("ListCampaigns", spb.ListCampaignsRequest(page_token="garbage!"))
    with pytest.raises(NotFound):
        mclient.call("GetRun", mpb.GetRunRequest(run_id="run_nope"))
    with pytest.raises(InvalidArgument, match="config_path"):
        mclient.call("StartRun", mpb.StartRunRequest(campaign_id="camp_x", attempt=1, config_path="/etc/passwd"))
    # after all of that, exactly one campaign exists and one change was logged
    assert client.call("ListCampaigns", spb.ListCampaignsRequest()).total_size == 1
    assert len(client.call("ListQueueChanges", spb.ListQueueChangesRequest()).changes) == 1


def _length_delimited(field: int, payload: bytes) -> bytes:
    n, size = len(payload), b""
    while True:
        low, n = n & 0x7F, n >> 7
        size += bytes([low | (0x80 if n else 0)])
        if not n:
            return bytes([(field << 3) | 2]) + size + payload


def test_a_document_nested_past_the_parsers_limit_is_bad_input(apps):
    """A google.protobuf.Struct nests about four messages per level of JSON: 40 levels of
    {"campaigns": [...]} is past protobuf's limit of 100. The scheduler says so as INVALID_ARGUMENT
    (grpc's decoder alone answers UNKNOWN and logs a server error) and adds nothing."""
    sched, miner, client, mclient = apps
    value = b""
    for _ in range(40):            # Value{list_value{values: [Value{struct_value{fields{"campaigns": ...}}}]}}
        entry = _length_delimited(1, b"campaigns") + _length_delimited(2, value)
        value = _length_delimited(6, _length_delimited(1, _length_delimited(5, _length_delimited(1, entry))))
    request = _length_delimited(5, _length_delimited(1, _length_delimited(1, b"campaigns")
                                                     + _length_delimited(2, value)))     # ImportQueueRequest.queue
    channel = grpc.insecure_channel(f"127.0.0.1:{sched.service.port}")
    try:
        raw = channel.unary_unary("/omp.v1.SchedulerService/ImportQueue", request_serializer=None,
                                  response_deserializer=None)
        with pytest.raises(grpc.RpcError) as err:
            raw(request, timeout=10)
    finally:
        channel.close()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "cannot be parsed" in err.value.details()
    assert client.call("ListCampaigns", spb.ListCampaignsRequest()).total_size == 0


HUGE_TOKEN = base64.urlsafe_b64encode(str(2**63).encode()).decode()


@pytest.mark.parametrize("service, method, request_, field", [
    ("scheduler", "ListCampaigns", spb.ListCampaignsRequest(page_token=HUGE_TOKEN), "page_token"),
    ("scheduler", "ListQueueChanges", spb.ListQueueChangesRequest(page_token=HUGE_TOKEN), "page_token"),
    ("miner", "ListRuns", mpb.ListRunsRequest(page_token=HUGE_TOKEN), "page_token"),
    ("scheduler", "ExportQueue", spb.ExportQueueRequest(page_token=HUGE_TOKEN), "page_token"),
    ("scheduler", "ImportQueue", spb.ImportQueueRequest(queue=struct_pb(
        {"campaigns": [{"name": f"c{i}", "config_path": "tiny.toml"} for i in range(5001)]})),
     "queue.campaigns: at most 5000"),
    ("miner", "StartRun", mpb.StartRunRequest(campaign_id="c" * 200_000, attempt=1,
                                                             config_path="tiny.toml"), "campaign_id"),
    ("scheduler", "SetDataReadiness", spb.SetDataReadinessRequest(readiness=99), "readiness must be one of"),
    ("scheduler", "ListCampaigns", spb.ListCampaignsRequest(state=42), "state must be one of"),
    ("scheduler", "ReorderCampaign", spb.ReorderCampaignRequest(id="camp_x", priority=1, reason="r" * 2001),
     "reason must be at most 2000"),
    ("scheduler", "AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(name="x", config_path="tiny.toml"),
                                                        actor="a" * 201), "actor must be at most 200"),
    ("scheduler", "AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(name="n" * 300_000,
                                                                             config_path="tiny.toml")),
     "campaign.name must be at most 200"),
    ("scheduler", "ReportRunResult", spb.ReportRunResultRequest(campaign_id="camp_x", attempt=1, run_id="r" * 65,
                                                                status=pb.RUN_STATUS_FAILED), "run_id must be at most 64"),
    ("miner", "CancelRun", mpb.CancelRunRequest(run_id="run_x", reason="r" * 2001), "reason must be at most 2000"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_and_huge_input_is_refused_naming_the_field_and_changes_nothing(apps, service, method, request_, field):
    """Each of these was an INTERNAL error, a crash of the call, or a row too big to read back."""
    sched, miner, client, mclient = apps
    before = client.call("ListQueueChanges", spb.ListQueueChangesRequest()).changes
    with pytest.raises(InvalidArgument, match=re.escape(field)):
        (client if service == "scheduler" else mclient).call(method, request_)
    assert client.call("ListQueueChanges", spb.ListQueueChangesRequest()).changes == before
    assert mclient.call("ListRuns", mpb.ListRunsRequest()).runs == []


def test_a_campaign_added_without_saying_enabled_is_enabled(apps):
    sched, miner, client, mclient = apps
    c = client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(name="x", config_path="tiny.toml"))).campaign
    assert c.enabled
    c = client.call("AddCampaign", spb.AddCampaignRequest(campaign=pb.Campaign(name="y", config_path="tiny.toml",
                                                                                enabled=False))).campaign
    assert not c.enabled


def test_a_retried_import_adds_nothing_twice_and_a_big_queue_exports_in_pages(apps):
    sched, miner, client, mclient = apps
    doc = struct_pb({"campaigns": [{"name": f"c{i}", "config_path": "tiny.toml"} for i in range(1500)]})
    first = client.call("ImportQueue", spb.ImportQueueRequest(queue=doc, request_id="imp-1"))
    again = client.call("ImportQueue", spb.ImportQueueRequest(queue=doc, request_id="imp-1"))
    assert (first.added, first.skipped, again.added, again.skipped) == (1500, 0, 0, 1500)
    pages, token = [], ""
    while True:
        r = client.call("ExportQueue", spb.ExportQueueRequest(page_size=400, page_token=token))
        pages.append(struct_dict(r.queue)["campaigns"])
        token = r.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [400, 400, 400, 300] and r.total_size == 1500
    assert sorted(c["name"] for p in pages for c in p) == sorted(f"c{i}" for i in range(1500))


def test_pagination_walks_the_queue_in_order(apps):
    sched, miner, client, mclient = apps
    made = [add(client, name=f"c{i}", priority=i) for i in range(7)]
    seen, token = [], ""
    while True:
        page = client.call("ListCampaigns", spb.ListCampaignsRequest(page_size=3, page_token=token))
        assert page.total_size == 7 and len(page.campaigns) <= 3
        seen += [c.id for c in page.campaigns]
        token = page.next_page_token
        if not token:
            break
    assert seen == [c.id for c in made]


def test_watch_events_resumes_from_a_sequence_number(apps):
    sched, miner, client, mclient = apps
    for i in range(3):
        add(client, name=f"c{i}")
    events = list((x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0), timeout=10)))
    added = [e for e in events if e.kind == "campaign.added"]
    assert len(added) == 3
    later = list((x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=added[1].seq), timeout=10)))
    assert [e.seq for e in later if e.kind == "campaign.added"] == [added[2].seq]
    with pytest.raises(InvalidArgument, match="after_seq"):
        list((x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=-1), timeout=10)))


def test_metrics_endpoint_counts_requests_by_method_and_code(apps):
    sched, miner, client, mclient = apps
    add(client)
    with pytest.raises(InvalidArgument):
        add(client, priority=-1)
    text = urllib.request.urlopen(f"http://127.0.0.1:{sched.metrics_port}/metrics", timeout=5).read().decode()
    add_labels = 'grpc_method="AddCampaign",grpc_service="omp.v1.SchedulerService",grpc_type="unary"'
    assert f'grpc_server_handled_total{{grpc_code="OK",{add_labels}}} 1.0' in text
    assert f'grpc_server_handled_total{{grpc_code="INVALID_ARGUMENT",{add_labels}}} 1.0' in text
    assert f'grpc_server_started_total{{{add_labels}}} 2.0' in text
    assert 'omp_queue_campaigns{state="queued"} 1.0' in text
    assert 'omp_daemon_state{state="offline"} 1.0' in text
    assert "grpc_server_handling_seconds_bucket" in text
    # the process and Python collectors, and what build runs
    for name in ("process_resident_memory_bytes", "process_start_time_seconds", "python_info",
                 "python_gc_collections_total"):
        assert f"\n{name}" in text, name
    assert 'omp_build_info{commit="' in text and 'service="scheduler"' in text
    # ratios, not percentages; and when the main loop last ticked (what a stuck-loop alert reads)
    assert "omp_resource_cpu_utilization_ratio" in text and "percent" not in text

    def last_tick():
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{sched.metrics_port}/metrics", timeout=5).read().decode()
        line = next((x for x in scraped.splitlines() if x.startswith("omp_scheduler_last_tick_timestamp_seconds ")), "")
        return float(line.split()[1]) if line else None
    assert abs(wait_for(last_tick, timeout=30, what="a tick") - time.time()) < 60
    mtext = urllib.request.urlopen(f"http://127.0.0.1:{miner.metrics_port}/metrics", timeout=5).read().decode()
    assert "omp_miner_runs_active 0.0" in mtext


def test_a_mask_of_star_replaces_every_updatable_field(apps):
    """AIP-134: `*` is a full replacement; alone, or refused."""
    sched, miner, client, mclient = apps
    c = add(client, name="before", priority=5, repeat=True, tags=["a", "b"])
    after = client.call("UpdateCampaign", spb.UpdateCampaignRequest(
        campaign=pb.Campaign(id=c.id, name="after", config_path="tiny.toml", market="br", priority=2),
        update_mask=field_mask_pb2.FieldMask(paths=["*"]), actor="t", reason="replaced")).campaign
    assert (after.name, after.market, after.priority, after.repeat, list(after.tags), after.enabled) == \
        ("after", "br", 2, False, [], True)
    with pytest.raises(InvalidArgument, match="'\\*' stands alone"):
        client.call("UpdateCampaign", spb.UpdateCampaignRequest(
            campaign=pb.Campaign(id=c.id, name="x"), update_mask=field_mask_pb2.FieldMask(paths=["*", "name"])))
    with pytest.raises(InvalidArgument, match="campaign.name"):     # a replacement must be whole
        client.call("UpdateCampaign", spb.UpdateCampaignRequest(
            campaign=pb.Campaign(id=c.id), update_mask=field_mask_pb2.FieldMask(paths=["*"])))
    assert client.call("GetCampaign", spb.GetCampaignRequest(id=c.id)).campaign.name == "after"


def test_the_status_counts_disabled_campaigns_apart_and_a_done_campaign_can_be_requeued(apps):
    sched, miner, client, mclient = apps
    a, b, c = add(client, name="a"), add(client, name="b"), add(client, name="c")
    client.call("SetCampaignEnabled", spb.SetCampaignEnabledRequest(id=b.id, enabled=False, reason="later", actor="t"))
    st = client.call("GetStatus", spb.GetStatusRequest()).status
    assert (st.queued, st.disabled) == (2, 1)
    client.call("RemoveCampaign", spb.RemoveCampaignRequest(id=b.id, reason="gone", actor="t"))
    client.call("SetCampaignEnabled", spb.SetCampaignEnabledRequest(id=c.id, enabled=False, reason="later", actor="t"))
    client.call("SetCampaignEnabled", spb.SetCampaignEnabledRequest(id=c.id, enabled=True, actor="t"))
    st = client.call("GetStatus", spb.GetStatusRequest()).status
    assert (st.queued, st.disabled) == (2, 0)
    with pytest.raises(FailedPrecondition, match="only a completed or failed campaign"):
        client.call("RequeueCampaign", spb.RequeueCampaignRequest(id=a.id, reason="again", actor="t"))
    with pytest.raises(InvalidArgument, match="reason"):
        client.call("RequeueCampaign", spb.RequeueCampaignRequest(id=a.id, actor="t"))
    # a failed campaign: ended through the store, as a quarantine would leave it (failures counted)
    with sched.scheduler.ctx.store.tx() as tx:
        tx.update(a.id, state="failed", consecutive_failures=3, updated_at=1.0)
    st = client.call("GetStatus", spb.GetStatusRequest()).status
    assert st.queued == 1
    again = client.call("RequeueCampaign", spb.RequeueCampaignRequest(id=a.id, reason="new data", actor="t")).campaign
    assert again.state == pb.CAMPAIGN_STATE_QUEUED and client.call("GetStatus", spb.GetStatusRequest()).status.queued == 2
    assert again.consecutive_failures == 0          # a fresh start, not one failure from quarantine
    changes = client.call("ListQueueChanges", spb.ListQueueChangesRequest(campaign_id=a.id)).changes
    assert changes[-1].action == "requeue" and changes[-1].reason == "new data"


def test_watch_events_can_start_with_the_newest_few(apps):
    sched, miner, client, mclient = apps
    for k in range(7):
        add(client, name=f"c{k}")
    every = list((x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0), timeout=10)))
    newest = list((x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0, last=3), timeout=10)))
    assert len(every) >= 7 and [e.seq for e in newest] == [e.seq for e in every[-3:]]
    assert [e.seq for e in (x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0, last=100),
                                         timeout=10))] == [e.seq for e in every]
    # after_seq still bounds it: nothing before it, even when fewer than `last` are left
    after = every[-2].seq
    assert [e.seq for e in (x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=after, last=5),
                                         timeout=10))] == [every[-1].seq]
    with pytest.raises(InvalidArgument, match="last must be >= 0"):
        list((x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(last=-1), timeout=10)))


def test_reflection_answers_under_v1_as_well_as_v1alpha_and_health_lists_its_services(apps):
    """Clients (grpcurl, buf curl) try reflection v1 first: it answers the same as v1alpha; the
    health service's List names every service with its status."""
    from grpc_reflection.v1alpha import reflection_pb2
    sched, miner, client, mclient = apps
    with grpc.insecure_channel(f"127.0.0.1:{sched.service.port}") as ch:
        for package in ("grpc.reflection.v1", "grpc.reflection.v1alpha"):
            info = ch.stream_stream(f"/{package}.ServerReflection/ServerReflectionInfo",
                                    request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                    response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
            answers = list(info(iter([reflection_pb2.ServerReflectionRequest(list_services=""),
                                      reflection_pb2.ServerReflectionRequest(
                                          file_containing_symbol="omp.v1.SchedulerService")]), timeout=10))
            listed = {s.name for s in answers[0].list_services_response.service}
            assert {"omp.v1.SchedulerService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                    "grpc.reflection.v1alpha.ServerReflection"} <= listed, package
            assert answers[1].file_descriptor_response.file_descriptor_proto, package
            # every service a listing names can be described, reflection v1 itself included
            for name in listed:
                described = list(info(iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=name)]),
                                      timeout=10))
                assert described[0].file_descriptor_response.file_descriptor_proto, (package, name)
        listed = health_pb2_grpc.HealthStub(ch).List(health_pb2.HealthListRequest(), timeout=5)
        assert listed.statuses["omp.v1.SchedulerService"].status == health_pb2.HealthCheckResponse.SERVING
        assert listed.statuses[""].status == health_pb2.HealthCheckResponse.SERVING
