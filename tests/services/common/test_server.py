"""The shared server plumbing with a servicer of its own: where methods run, errors, streams, stop."""
import logging
import threading
import time

import grpc
import pytest
from sqlalchemy import bindparam, insert, select
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from omp.v1 import common_pb2 as pb, miner_pb2 as mpb, miner_pb2_grpc
from omp_services.common.clients import Client
from omp_services.common.errors import InvalidArgument, NotFound
from omp_services.common.metrics import GrpcMetrics
from omp_services.common.access import Principal
from omp_services.common.security import ANONYMOUS, Security, token_hash
from omp_services.common.server import Registration, build_server
from omp_services.migrations import migrate
from omp_services.common.storage.db import Database, Statement
from omp_services.miner.tables import RunRow

from helpers_services import ADD_CHILD, COMMIT_CHECKED, wait_for

SERVICE = mpb.DESCRIPTOR.services_by_name["MinerService"]


class Probe(miner_pb2_grpc.MinerServiceServicer):
    """ValidateConfig blocks until released; GetRun answers at once; WatchRun streams until stopped."""

    def __init__(self, stopping):
        self.release, self.entered, self.stopping = threading.Event(), threading.Event(), stopping
        self.threads: dict[str, str] = {}

    def ValidateConfig(self, request, context):
        self.threads["ValidateConfig"] = threading.current_thread().name
        self.entered.set()
        self.release.wait(10)
        return mpb.ValidateConfigResponse(config_hash="h")

    def GetRun(self, request, context):
        self.threads["GetRun"] = threading.current_thread().name
        self.principal = context.principal
        if request.run_id == "missing":
            raise NotFound("run_id: no run 'missing'")
        if request.run_id == "bad":
            raise InvalidArgument("run_id must be run_<16 hex digits>, got 'bad'")
        return mpb.GetRunResponse(run=pb.Run(run_id=request.run_id))

    def StartRun(self, request, context):
        self.threads["StartRun"] = threading.current_thread().name
        return mpb.StartRunResponse(run=pb.Run(run_id="started"))

    def WatchRun(self, request, context):
        n = 0
        while context.is_active() and not self.stopping.is_set():
            n += 1
            yield mpb.WatchRunResponse(run=pb.Run(run_id=f"{request.run_id}-{n}"))
            self.stopping.wait(0.05)            # pace the stream; wakes at once on stop


@pytest.fixture
def serve():
    """``serve(on_loop)`` starts a server with the probe servicer; all are stopped at the end."""
    started = []

    def start(on_loop: bool, **kw):
        stopping = threading.Event()
        probe = Probe(stopping)
        registry = CollectorRegistry()
        svc = build_server("127.0.0.1", 0, [Registration(probe, SERVICE, on_loop=on_loop)],
                           GrpcMetrics(registry, "probe"), stopping=stopping, **kw)
        channel = grpc.insecure_channel(f"127.0.0.1:{svc.port}")
        started.append((svc, probe, channel))
        return svc, probe, miner_pb2_grpc.MinerServiceStub(channel), channel, registry
    yield start
    for svc, probe, channel in started:
        probe.release.set()
        channel.close()
        svc.stop(1.0)


@pytest.mark.parametrize("on_loop", [False, True])
def test_unary_methods_run_where_the_registration_says(serve, on_loop):
    svc, probe, stub, channel, _ = serve(on_loop)
    assert stub.GetRun(mpb.GetRunRequest(run_id="r"), timeout=5).run.run_id == "r"
    assert (probe.threads["GetRun"] == "grpc-loop") == on_loop
    assert probe.threads["GetRun"].startswith("grpc")


def test_a_blocking_method_on_the_pool_does_not_hold_up_other_calls(serve):
    svc, probe, stub, channel, _ = serve(on_loop=False)
    slow = stub.ValidateConfig.future(mpb.ValidateConfigRequest(config_path="x"), timeout=10)
    assert probe.entered.wait(5)                # the slow call now holds a pool thread
    t0 = time.monotonic()
    assert stub.GetRun(mpb.GetRunRequest(run_id="r"), timeout=2).run.run_id == "r"
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert time.monotonic() - t0 < 2 and not slow.done()
    probe.release.set()
    assert slow.result().config_hash == "h"


@pytest.mark.parametrize("on_loop", [False, True])
def test_bytes_that_are_no_request_are_the_callers_bad_input(serve, on_loop):
    """A request that does not parse (here a field cut short; also one nested past protobuf's
    depth limit, tests/services/system/test_grpc_api.py) is INVALID_ARGUMENT, as grpc's own decoder would have made it UNKNOWN
    and a server error in the log; the servicer never sees it and the server serves on."""
    svc, probe, stub, channel, registry = serve(on_loop)
    get = channel.unary_unary("/omp.v1.MinerService/GetRun", request_serializer=None, response_deserializer=None)
    watch = channel.unary_stream("/omp.v1.MinerService/WatchRun", request_serializer=None, response_deserializer=None)
    garbage = b"\x0d\x00"         # field 1 as a fixed32, cut after one of its four bytes
    for attempt in (lambda: get(garbage, timeout=5), lambda: next(watch(garbage, timeout=5))):
        with pytest.raises(grpc.RpcError) as err:
            attempt()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith("request: cannot be parsed")
    assert "GetRun" not in probe.threads
    labels = {"grpc_type": "unary", "grpc_service": "omp.v1.MinerService", "grpc_method": "GetRun"}
    assert registry.get_sample_value("grpc_server_handled_total", {**labels, "grpc_code": "INVALID_ARGUMENT"}) == 1
    assert stub.GetRun(mpb.GetRunRequest(run_id="r"), timeout=5).run.run_id == "r"


@pytest.mark.parametrize("on_loop", [False, True])
def test_a_domain_error_becomes_its_status_and_is_counted(serve, on_loop):
    svc, probe, stub, channel, registry = serve(on_loop)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetRun(mpb.GetRunRequest(run_id="missing"), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "run_id" in err.value.details()
    labels = {"grpc_type": "unary", "grpc_service": "omp.v1.MinerService", "grpc_method": "GetRun"}
    assert registry.get_sample_value("grpc_server_handled_total", {**labels, "grpc_code": "NOT_FOUND"}) == 1
    assert registry.get_sample_value("grpc_server_started_total", labels) == 1
    assert registry.get_sample_value("grpc_server_msg_sent_total", labels) in (None, 0)   # no answer was sent
    stub.GetRun(mpb.GetRunRequest(run_id="r"), timeout=5)
    assert registry.get_sample_value("grpc_server_handled_total", {**labels, "grpc_code": "OK"}) == 1
    assert registry.get_sample_value("grpc_server_msg_sent_total", labels) == 1
    assert registry.get_sample_value("grpc_server_handling_seconds_count", labels) == 2
    stream = stub.WatchRun(mpb.WatchRunRequest(run_id="w"), timeout=5)
    assert [next(stream).run.run_id for _ in range(3)] == ["w-1", "w-2", "w-3"]
    stream.cancel()
    watch = {"grpc_type": "server_stream", "grpc_service": "omp.v1.MinerService", "grpc_method": "WatchRun"}
    assert registry.get_sample_value("grpc_server_msg_sent_total", watch) >= 3


def _tokens(**principals) -> Security:
    """Authentication by bearer tokens: ``name=(token, role)``."""
    return Security(tokens={token_hash(tok): Principal(name, role) for name, (tok, role) in principals.items()},
                    authentication=True)


@pytest.mark.parametrize("on_loop", [False, True])
def test_the_one_authentication_hook_sees_every_call_before_its_servicer(serve, on_loop):
    security = _tokens(alice=("alice-token-0123456789", "viewer"), watchdog=("watchdog-token-0123456", "service"))
    svc, probe, stub, channel, _ = serve(on_loop, security=security)
    for meta, code in (([], grpc.StatusCode.UNAUTHENTICATED),
                       ([("authorization", "Bearer forged-token-0123456789")], grpc.StatusCode.UNAUTHENTICATED),
                       ([("authorization", "Basic YWxpY2U6eA==")], grpc.StatusCode.UNAUTHENTICATED)):
        with pytest.raises(grpc.RpcError) as err:
            stub.GetRun(mpb.GetRunRequest(run_id="r"), timeout=5, metadata=meta)
        assert err.value.code() == code
    assert "GetRun" not in probe.threads                          # the servicer never ran
    with pytest.raises(grpc.RpcError) as err:                     # a stream is refused before its first item
        next(stub.WatchRun(mpb.WatchRunRequest(run_id="w"), timeout=5))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    alice = [("authorization", "Bearer alice-token-0123456789")]
    reader = stub.WatchRun(mpb.WatchRunRequest(run_id="w"), timeout=5, metadata=alice)
    assert next(reader).run.run_id == "w-1"                            # a viewer may watch
    reader.cancel()
    assert stub.GetRun(mpb.GetRunRequest(run_id="r"), timeout=5, metadata=alice).run.run_id == "r"
    assert probe.principal == Principal("alice", "viewer")        # who called reaches the servicer
    # the table decides per method and role: only the scheduler's identity starts runs
    for who in (alice, [("authorization", "Bearer watchdog-token-0123456")]):
        with pytest.raises(grpc.RpcError) as err:
            stub.StartRun(mpb.StartRunRequest(campaign_id="c", attempt=1), timeout=5, metadata=who)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and "service:scheduler" in err.value.details()
    assert "StartRun" not in probe.threads


@pytest.mark.parametrize("on_loop", [False, True])
def test_bad_input_reaches_the_client_with_the_field_named_in_google_rpc_details(serve, on_loop):
    svc, probe, stub, channel, _ = serve(on_loop)
    client = Client(miner_pb2_grpc.MinerServiceStub, f"127.0.0.1:{svc.port}", channel=channel)
    with pytest.raises(InvalidArgument) as err:
        client.call("GetRun", mpb.GetRunRequest(run_id="bad"))
    assert err.value.field == "run_id" and "got 'bad'" in str(err.value)
    with pytest.raises(NotFound) as err:                    # no BadRequest for what is not bad input
        client.call("GetRun", mpb.GetRunRequest(run_id="missing"))
    assert not hasattr(err.value, "field")


def test_without_a_hook_every_caller_is_anonymous(serve):
    svc, probe, stub, channel, _ = serve(True)
    stub.GetRun(mpb.GetRunRequest(run_id="r"), timeout=5)
    assert probe.principal == ANONYMOUS


def test_stop_ends_a_live_stream_and_a_second_stop_does_nothing(serve):
    svc, probe, stub, channel, _ = serve(on_loop=True)
    stream = stub.WatchRun(mpb.WatchRunRequest(run_id="w"), timeout=10)
    assert next(stream).run.run_id == "w-1"
    stopper = threading.Thread(target=svc.stop, args=(2.0,))
    stopper.start()
    seen = [r.run.run_id for r in stream]           # ends: the servicer saw `stopping`, the server drained
    stopper.join(5)
    assert not stopper.is_alive() and len(seen) < 200
    svc.stop(1.0)                               # a second stop does nothing and does not hang


RUNS = RunRow.__table__
ADD_RUN = Statement(insert(RUNS).values(run_id=bindparam("run_id"), campaign_id=bindparam("run_id"), attempt=1,
                                        status="running", config_path="c.toml", config_hash="h", run_dir="/x",
                                        pid=0, proc_started=0.0, progress={}, started_at=1.0, updated_at=1.0,
                                        ended_at=None, error="", reported=False))
HAS_RUN = Statement(select(RUNS.c.run_id).where(RUNS.c.run_id == bindparam("run_id")))


class Recorder(miner_pb2_grpc.MinerServiceServicer):
    """GetRun writes a row named after the run; "orphan-*" also writes a child whose parent is
    missing, so that its group's COMMIT fails."""

    def __init__(self, db):
        self.db = db

    def GetRun(self, request, context):
        with self.db.tx() as tx:
            tx.run(ADD_RUN, run_id=request.run_id)
            if request.run_id.startswith("orphan"):
                tx.run(ADD_CHILD, id=1, parent=99)
        return mpb.GetRunResponse(run=pb.Run(run_id=request.run_id))


def test_calls_on_the_loop_are_answered_only_once_their_group_is_committed(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/g.db")
    migrate(db)
    COMMIT_CHECKED.create_all(db.engine)
    svc = build_server("127.0.0.1", 0, [Registration(Recorder(db), SERVICE, on_loop=True)],
                       GrpcMetrics(CollectorRegistry(), "probe"), durable=db.pending)
    db.serve_on_loop(svc.loop, svc.thread.ident)
    reader = Database(f"sqlite:///{tmp_path}/g.db")     # another process's view: only what is committed
    channel = grpc.insecure_channel(f"127.0.0.1:{svc.port}")
    try:
        stub = miner_pb2_grpc.MinerServiceStub(channel)
        calls = [stub.GetRun.future(mpb.GetRunRequest(run_id=f"r{i}"), timeout=10) for i in range(12)]
        for i, call in enumerate(calls):
            assert call.result().run.run_id == f"r{i}"
            with reader.tx(write=False) as tx:         # answered: so already on disk
                assert tx.first(HAS_RUN, run_id=f"r{i}") is not None
        with pytest.raises(grpc.RpcError) as err:
            stub.GetRun(mpb.GetRunRequest(run_id="orphan-1"), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE and "FOREIGN KEY" in err.value.details()
        with reader.tx(write=False) as tx:
            assert tx.first(HAS_RUN, run_id="orphan-1") is None
        assert stub.GetRun(mpb.GetRunRequest(run_id="after"), timeout=10).run.run_id == "after"
    finally:
        channel.close()
        svc.stop(1.0)
        reader.dispose()
        db.dispose()


def test_a_call_its_client_cancels_never_affects_the_others_of_its_group(tmp_path, caplog):
    """Impatient clients (1-4 ms deadlines) beside patient ones: every patient call is answered
    (its row committed) long before its deadline, and no group's result is ever set twice."""
    db = Database(f"sqlite:///{tmp_path}/g.db")
    migrate(db)
    svc = build_server("127.0.0.1", 0, [Registration(Recorder(db), SERVICE, on_loop=True)],
                       GrpcMetrics(CollectorRegistry(), "probe"), durable=db.pending)
    db.serve_on_loop(svc.loop, svc.thread.ident)
    channel = grpc.insecure_channel(f"127.0.0.1:{svc.port}")
    try:
        stub = miner_pb2_grpc.MinerServiceStub(channel)
        with caplog.at_level(logging.ERROR):
            for round_ in range(10):
                impatient = [stub.GetRun.future(mpb.GetRunRequest(run_id=f"i{round_}-{k}"), timeout=0.001 * (1 + k % 4))
                             for k in range(20)]
                patient = [stub.GetRun.future(mpb.GetRunRequest(run_id=f"p{round_}-{k}"), timeout=10)
                           for k in range(10)]
                t0 = time.monotonic()
                assert [c.result().run.run_id for c in patient] == [f"p{round_}-{k}" for k in range(10)]
                assert time.monotonic() - t0 < 5.0
                for c in impatient:
                    c.exception()       # each either answered or DEADLINE_EXCEEDED, its own business
        with db.tx(write=False) as tx:
            assert all(tx.first(HAS_RUN, run_id=f"p{r}-{k}") for r in range(10) for k in range(10))
        bad = [r for r in caplog.records if "InvalidStateError" in r.getMessage() or
               (r.exc_info and "InvalidStateError" in repr(r.exc_info[1]))]
        assert bad == []
    finally:
        channel.close()
        svc.stop(1.0)
        db.dispose()


def test_idle_connections_to_the_metrics_port_hold_no_thread_each():
    """300 clients that connect and say nothing: the endpoint keeps a fixed number of workers, and
    once they are gone (dropped when idle) a scrape is answered."""
    import socket as socket_
    import urllib.request
    from omp_services.common.metrics import serve_metrics
    registry = CollectorRegistry()
    GrpcMetrics(registry, "probe")
    server, _, port = serve_metrics(registry, "127.0.0.1", 0)
    before = threading.active_count()
    idle = []
    try:
        for _ in range(300):
            s = socket_.socket()
            s.connect(("127.0.0.1", port))
            idle.append(s)
        time.sleep(0.5)
        assert threading.active_count() - before <= 8
        for s in idle:
            s.close()
        idle.clear()
        deadline = time.monotonic() + 30
        while True:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the endpoint never recovered"
                time.sleep(0.2)
        assert "grpc_server_handling_seconds" in text and "process_resident_memory_bytes" in text
        assert threading.active_count() - before <= 8
    finally:
        for s in idle:
            s.close()
        server.shutdown()
        server.server_close()


class Canceller(miner_pb2_grpc.MinerServiceServicer):
    """CancelRun (a change, so audited) writes a run row after ``release``; run_id "boom" then raises."""

    def __init__(self, db):
        self.db, self.release = db, threading.Event()

    def CancelRun(self, request, context):
        self.release.wait(10)
        with self.db.tx() as tx:
            tx.run(ADD_RUN, run_id=request.run_id)
            if request.run_id == "boom":
                raise NotFound("run_id: gone meanwhile")
        return mpb.CancelRunResponse(run=pb.Run(run_id=request.run_id))


@pytest.mark.parametrize("on_loop", [False, True])
def test_a_change_and_its_audit_row_commit_together_even_when_the_client_stops_waiting(tmp_path, on_loop):
    from omp_services.common.storage.audit import AuditLog
    db = Database(f"sqlite:///{tmp_path}/a.db")
    migrate(db)
    servicer, log = Canceller(db), AuditLog(db, "probe")
    svc = build_server("127.0.0.1", 0, [Registration(servicer, SERVICE, on_loop=on_loop)],
                       GrpcMetrics(CollectorRegistry(), "probe"), durable=db.pending, audit=log)
    if on_loop:
        db.serve_on_loop(svc.loop, svc.thread.ident)
    channel = grpc.insecure_channel(f"127.0.0.1:{svc.port}")
    try:
        stub = miner_pb2_grpc.MinerServiceStub(channel)
        if not on_loop:         # the client gives up before the servicer is through: the row still comes
            with pytest.raises(grpc.RpcError) as err:
                stub.CancelRun(mpb.CancelRunRequest(run_id="late", reason="why", actor="bob"), timeout=0.3)
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        servicer.release.set()
        stub.CancelRun(mpb.CancelRunRequest(run_id="now", reason="why", actor="bob"), timeout=10)
        with pytest.raises(grpc.RpcError):
            stub.CancelRun(mpb.CancelRunRequest(run_id="boom"), timeout=10)
        want = {("now", "OK"), ("boom", "NOT_FOUND")} | ({("late", "OK")} if not on_loop else set())
        rows = wait_for(lambda: (r := log.list()) and len(r) == len(want) and r, timeout=10, what="the audit rows")
        assert {(r.target, r.outcome) for r in rows} == want
        assert all(r.principal == "anonymous" and r.method == "CancelRun" for r in rows)
        assert next(r for r in rows if r.target == "now").on_behalf_of == "bob"
        with db.tx(write=False) as tx:          # the change that raised took nothing with it
            assert tx.first(HAS_RUN, run_id="boom") is None and tx.first(HAS_RUN, run_id="now") is not None
    finally:
        servicer.release.set()
        channel.close()
        svc.stop(1.0)
        db.dispose()


SET_STATUS = Statement(RUNS.update().where(RUNS.c.run_id == bindparam("run_id")).values(status="seen"))
STATUS_OF = Statement(select(RUNS.c.status).where(RUNS.c.run_id == bindparam("run_id")))


LOCK_RUN = Statement(select(RUNS.c.status).where(RUNS.c.run_id == bindparam("run_id")).with_for_update())


class Marker(miner_pb2_grpc.MinerServiceServicer):
    """GetRun marks its run seen: a transaction that reads the row locked (it waits while another
    session holds it), then updates it: two round trips."""

    def __init__(self, db):
        self.db = db

    def GetRun(self, request, context):
        with self.db.tx() as tx:
            tx.first(LOCK_RUN, run_id=request.run_id)
            tx.run(SET_STATUS, run_id=request.run_id)
        return mpb.GetRunResponse(run=pb.Run(run_id=request.run_id))


@pytest.fixture
def held_on_postgresql(pg_url, monkeypatch):
    """A server on PostgreSQL whose GetRun runs on the loop, runs "held" and "free", and another
    session's transaction holding the row of "held" until ``release()``; the loop's transactions
    wait up to 30 s for a lock here (LOOP_WAIT_S), not to race the test."""
    import psycopg
    from omp_services.common.storage import db as storage_db
    monkeypatch.setattr(storage_db, "LOOP_WAIT_S", 30.0)
    db = Database(pg_url)
    migrate(db)
    with db.tx() as tx:
        for run_id in ("held", "free"):
            tx.run(ADD_RUN, run_id=run_id)
    registry = CollectorRegistry()
    svc = build_server("127.0.0.1", 0, [Registration(Marker(db), SERVICE, on_loop=True)],
                       GrpcMetrics(registry, "probe"), durable=db.pending, loop_io=True)
    db.serve_on_loop(svc.loop, svc.thread.ident)
    svc.closing.append(db.close_loop)
    plain = pg_url.replace("+psycopg", "")
    holder = psycopg.connect(plain)
    holder.execute("SELECT 1 FROM runs WHERE run_id = 'held' FOR UPDATE")     # its transaction stays open
    watcher = psycopg.connect(plain, autocommit=True)

    def waiting_for_the_lock() -> bool:
        return watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND wait_event_type = 'Lock'").fetchone()[0] > 0
    channel = grpc.insecure_channel(f"127.0.0.1:{svc.port}")
    try:
        yield miner_pb2_grpc.MinerServiceStub(channel), waiting_for_the_lock, holder.rollback, db, registry, svc, watcher
    finally:
        holder.close()
        watcher.close()
        channel.close()
        svc.stop(1.0)
        db.dispose()


def test_on_postgresql_a_call_waiting_for_the_database_holds_up_no_other_call(held_on_postgresql):
    """The loop is not blocked on a round trip: while one call's UPDATE waits for a row lock in
    the server, another call on the same loop is answered (with a blocking driver it would wait
    behind the first until the lock went, here never: it would run out of time)."""
    stub, waiting_for_the_lock, release, db, *_ = held_on_postgresql
    first = stub.GetRun.future(mpb.GetRunRequest(run_id="held"), timeout=60)
    wait_for(waiting_for_the_lock, timeout=20, what="the first call to wait for the row lock")
    assert stub.GetRun(mpb.GetRunRequest(run_id="free"), timeout=10).run.run_id == "free"
    assert not first.done()                 # still waiting in the database
    release()
    assert first.result().run.run_id == "held"
    with db.tx(write=False) as tx:
        assert tx.scalar(STATUS_OF, run_id="held") == "seen" and tx.scalar(STATUS_OF, run_id="free") == "seen"


def test_on_postgresql_a_call_its_client_gives_up_on_still_commits_whole(held_on_postgresql):
    """A client whose deadline passes while its call waits in the database: the call's task is
    cancelled, but its transaction is not cut half-way at that await (the server runs it to the
    end, as a blocking call did), so the change lands once the lock goes."""
    stub, waiting_for_the_lock, release, db, registry, *_ = held_on_postgresql
    late = stub.GetRun.future(mpb.GetRunRequest(run_id="held"), timeout=60)
    wait_for(waiting_for_the_lock, timeout=20, what="the call to wait for the row lock")
    late.cancel()
    with pytest.raises(grpc.FutureCancelledError):
        late.result()
    cancelled = {"grpc_service": SERVICE.full_name, "grpc_method": "GetRun", "grpc_type": "unary",
                 "grpc_code": "CANCELLED"}
    wait_for(lambda: registry.get_sample_value("grpc_server_handled_total", cancelled) == 1, timeout=20,
             what="the server to see the call cancelled")
    release()

    def status():
        with db.tx(write=False) as tx:
            return tx.scalar(STATUS_OF, run_id="held")
    wait_for(lambda: status() == "seen", timeout=20, what="the given-up call's change")
    assert stub.GetRun(mpb.GetRunRequest(run_id="free"), timeout=10).run.run_id == "free"


def test_on_postgresql_a_stop_lets_a_call_in_its_transaction_end_before_closing(held_on_postgresql):
    """A call its client gave up on, still inside its transaction (waiting for a row), when the
    server stops: the stop lets it finish within the grace before it closes the connections, so
    nothing is left holding a lock in an open transaction behind a stopped loop."""
    stub, waiting_for_the_lock, release, db, registry, svc, watcher = held_on_postgresql
    late = stub.GetRun.future(mpb.GetRunRequest(run_id="held"), timeout=60)
    wait_for(waiting_for_the_lock, timeout=20, what="the call to wait for the row lock")
    late.cancel()
    stopper = threading.Thread(target=svc.stop, args=(20.0,))
    stopper.start()
    wait_for(lambda: not _listening(svc.port), timeout=20, what="the server to stop listening")
    release()                               # the stop is past the server's own; the call still in the database
    stopper.join(30)
    assert not stopper.is_alive()
    with db.tx(write=False) as tx:
        assert tx.scalar(STATUS_OF, run_id="held") == "seen"
    left = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'").fetchone()[0]
    assert left == 0


def _listening(port: int) -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
