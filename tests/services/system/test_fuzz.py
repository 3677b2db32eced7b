"""Randomized and extreme requests to every RPC of every service, the four running as processes:
huge and empty strings, NUL bytes, negative and huge numbers, NaN and infinities, unknown enum
numbers, bad page tokens and update masks, path traversal, malformed queue JSON. Whatever comes
in: never UNKNOWN or INTERNAL, never a hang or a crash, and a refused request changes nothing
(the database's tables, the run folders, the Hall of Fame).

``OMP_FUZZ_EXAMPLES`` sets how many requests run (CI's quick mode: 3,000)."""
from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor as F
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings, strategies as st

from omp.v1 import (miner_pb2, miner_pb2_grpc, promoter_pb2, promoter_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc,
                    watchdog_pb2, watchdog_pb2_grpc)

from helpers_services import ServiceProcess, free_port, wait_for, write_settings

pytestmark = pytest.mark.slow      # four services as processes and thousands of calls

EXAMPLES = int(os.environ.get("OMP_FUZZ_EXAMPLES", "3000"))
SERVICES = {"scheduler": (scheduler_pb2, "SchedulerService", scheduler_pb2_grpc.SchedulerServiceStub),
            "miner": (miner_pb2, "MinerService", miner_pb2_grpc.MinerServiceStub),
            "promoter": (promoter_pb2, "PromoterService", promoter_pb2_grpc.PromoterServiceStub),
            "watchdog": (watchdog_pb2, "WatchdogService", watchdog_pb2_grpc.WatchdogServiceStub)}
METHODS = [(name, m) for name, (mod, svc, _) in SERVICES.items() for m in mod.DESCRIPTOR.services_by_name[svc].methods]
#: written by the services as they run, whatever the requests: left out of "nothing changed" (the
#: watchdog opens and updates incidents on its own, from its checks and from the other services'
#: findings, which arrive when their reporters' retries fire)
VOLATILE = {"audit_log", "resource_samples", "watchdog_state", "alembic_version", "incidents", "incident_events",
            "leases", "miners"}     # the leader's lease and the miners' registrations: heartbeats

EXTREME_TEXT = ["", " ", "\x00", "a\x00b", "x" * 100_000, "é" * 3000, "../../../../etc/passwd", "/etc/passwd",
                "run_../../x", "..", "*", "%s%n%x", "' OR 1=1 --", "\u202e\ufeff\u0000", "INC-0",
                "INC-99999999999999999999999", "run_0000000000000000", "c" * 64, "-1", "1e309", "NaN",
                "127.0.0.1:0", "host:99999", "::::", "scheduler.host"]
BAD_TOKENS = ["", "MTA=", "LTE=", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "=" * 43, "A" * 43, "\x00" * 43, "x" * 5000, "%%%"]
def _deep(n: int) -> dict:
    doc: dict = {}
    for _ in range(n):
        doc = {"campaigns": [doc]}
    return doc


#: documents for the google.protobuf.Struct fields (the queue file, events' details)
BAD_DOCS = [{}, {"campaigns": "x"}, {"campaigns": None}, {"version": 99, "campaigns": []},
            {"campaigns": [{"name": 1}]}, {"campaigns": [{"name": "a", "config_path": "../../etc/passwd"}]},
            {"campaigns": [{"name": "n", "config_path": "tiny.toml", "priority": 1.5}]},
            {"campaigns": [{"name": "n", "config_path": "tiny.toml", "priority": 2.0 ** 70}]},
            {"campaigns": [{"name": "n", "config": "none.toml"}] * 999 + [{}]}, _deep(20)]
json_values = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=12)
documents = st.one_of(st.sampled_from(BAD_DOCS), st.dictionaries(st.sampled_from(["campaigns", "version", "x"]),
                                                                 json_values, max_size=3))

text = st.one_of(st.sampled_from(EXTREME_TEXT), st.text(max_size=30))
numbers = {
    F.TYPE_INT32: st.one_of(st.sampled_from([0, 1, -1, 2**31 - 1, -2**31]), st.integers(-2**31, 2**31 - 1)),
    F.TYPE_SINT32: st.integers(-2**31, 2**31 - 1),
    F.TYPE_UINT32: st.integers(0, 2**32 - 1),
    F.TYPE_INT64: st.one_of(st.sampled_from([0, -1, 2**63 - 1, -2**63, 2**53 + 1]), st.integers(-2**63, 2**63 - 1)),
    F.TYPE_SINT64: st.integers(-2**63, 2**63 - 1),
    F.TYPE_UINT64: st.integers(0, 2**64 - 1),
    F.TYPE_DOUBLE: st.one_of(st.sampled_from([0.0, -0.0, float("nan"), float("inf"), -float("inf"), 1e308, 5e-324]),
                             st.floats()),
    F.TYPE_FLOAT: st.floats(width=32),
    F.TYPE_BOOL: st.booleans(),
    F.TYPE_ENUM: st.one_of(st.integers(-3, 12), st.sampled_from([2**31 - 1, -2**31])),
}


def _value(field, depth: int):
    if field.name == "page_token":
        return st.sampled_from(BAD_TOKENS)
    if field.type == F.TYPE_BYTES:
        return st.binary(max_size=40)
    if field.type == F.TYPE_STRING:
        return text
    if field.type == F.TYPE_MESSAGE:
        name = field.message_type.full_name
        if name == "google.protobuf.Struct":
            return documents
        if name == "google.protobuf.FieldMask":
            return st.lists(st.sampled_from(["*", "", "name", "priority", "id", "config", "tags", "a.b", "enabled",
                                             "state", "x" * 300]), max_size=4).map(lambda p: {"paths": p})
        if name == "google.protobuf.Timestamp":
            return st.fixed_dictionaries({"seconds": st.integers(-62135596800, 253402300799),
                                          "nanos": st.integers(0, 999_999_999)})
        return _message(field.message_type, depth + 1) if depth < 2 else st.just({})
    return numbers[field.type]


def _message(desc, depth: int = 0):
    fields = {}
    for f in desc.fields:
        one = _value(f, depth)
        fields[f.name] = st.lists(one, max_size=3) if f.is_repeated else one
    return st.fixed_dictionaries({}, optional=fields)


def _build(cls, values: dict):
    msg = cls()
    for key, v in values.items():
        field = cls.DESCRIPTOR.fields_by_name[key]
        if field.type == F.TYPE_MESSAGE and field.message_type.full_name == "google.protobuf.Struct":
            getattr(msg, key).update(v)     # a JSON object, as a client sends one
        elif field.type == F.TYPE_MESSAGE:
            sub = message_factory.GetMessageClass(field.message_type)
            if field.is_repeated:
                getattr(msg, key).extend(_build(sub, x) for x in v)
            else:
                getattr(msg, key).CopyFrom(_build(sub, v))
        elif field.is_repeated:
            getattr(msg, key).extend(v)
        else:
            setattr(msg, key, v)
    return msg


@st.composite
def calls(draw):
    service, method = draw(st.sampled_from(METHODS))
    cls = message_factory.GetMessageClass(method.input_type)
    return service, method, _build(cls, draw(_message(method.input_type)))


def _digest(db: Path, folders: list[Path]) -> dict[str, str]:
    """A digest of each table (but the VOLATILE ones) and of each folder's file names."""
    out = {}
    con = sqlite3.connect(db, timeout=10)
    try:
        for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            if t not in VOLATILE:
                h = hashlib.sha256()
                for row in con.execute(f'SELECT * FROM "{t}" ORDER BY 1'):
                    h.update(repr(row).encode())
                out[t] = h.hexdigest()
    finally:
        con.close()
    for folder in folders:
        h = hashlib.sha256()
        for p in sorted(folder.rglob("*")) if folder.exists() else ():
            h.update(str(p.relative_to(folder)).encode())
        out[str(folder)] = h.hexdigest()
    return out


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    ports = {name: free_port() for name in SERVICES}
    config = write_settings(tmp, f"sqlite:///{tmp / 'omp.db'}",
                            **{n: {"port": p, "metrics_port": 0} for n, p in ports.items()})
    procs = {name: ServiceProcess(f"omp_services.{name}.app", config, tmp).start() for name in
             ("watchdog", "promoter", "miner", "scheduler")}
    channels = {name: grpc.insecure_channel(f"127.0.0.1:{port}") for name, port in ports.items()}
    stubs = {name: SERVICES[name][2](ch) for name, ch in channels.items()}
    # the miner started first: its first registration (an event, a row) must land before the
    # fuzzing, or it would look like a refused request's doing
    wait_for(lambda: any(m.miner_id for m in stubs["scheduler"].GetStatus(
        scheduler_pb2.GetStatusRequest(), timeout=5).status.miners), timeout=60, what="the miner to register")
    yield tmp, procs, stubs, channels
    for ch in channels.values():
        ch.close()
    for p in procs.values():
        p.kill()


def test_random_and_extreme_requests_to_every_rpc_never_break_a_service_or_change_state(fleet):
    tmp, procs, stubs, channels = fleet
    db, folders = tmp / "omp.db", [tmp / "var" / "runs", tmp / "artifacts"]
    seen: dict[str, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(calls())
    def one(call):
        service, method, request = call
        before = _digest(db, folders)
        rpc = getattr(stubs[service], method.name)
        try:
            if method.server_streaming:
                stream = rpc(request, timeout=2)
                for i, _ in enumerate(stream):
                    if i >= 3:
                        stream.cancel()
                        break
            else:
                rpc(request, timeout=15)
            code = grpc.StatusCode.OK
        except grpc.RpcError as err:
            code = err.code()
        seen[code.name] = seen.get(code.name, 0) + 1
        assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), (method.full_name, request)
        if not method.server_streaming:         # a unary call that outlives 15 s is a hang
            assert code != grpc.StatusCode.DEADLINE_EXCEEDED, (method.full_name, request)
        if code not in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED):
            after = _digest(db, folders)
            changed = sorted(k for k in after if after[k] != before.get(k))
            assert not changed, ("a refused request changed state", changed, method.full_name, request)

    one()
    total = sum(seen.values())
    print(f"fuzz: {total} requests to {len(METHODS)} RPCs: {dict(sorted(seen.items()))}")
    assert total >= EXAMPLES * 0.9 and seen.get("INVALID_ARGUMENT", 0) > total // 10
    for name, p in procs.items():
        assert p.proc.poll() is None, f"{name} died"
        health = health_pb2_grpc.HealthStub(channels[name]).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING, name
