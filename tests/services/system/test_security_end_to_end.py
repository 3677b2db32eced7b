"""Security against the four services as real processes: real TLS with certificates made in the
test, real bearer tokens, the whole role-by-RPC matrix, the audit log read back, mutual TLS with
each service known by its certificate, and a campaign mined end to end with every call between
the services authenticated."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys

import grpc
import pytest

from omp.v1 import (miner_pb2, miner_pb2_grpc, promoter_pb2, promoter_pb2_grpc, scheduler_pb2 as spb,
                    scheduler_pb2_grpc, watchdog_pb2, watchdog_pb2_grpc)
from omp_services.common import access, certificates
from omp_services.common.security import Security, token_hash

from helpers_services import ROOT, free_port, wait_for, write_settings

pytestmark = pytest.mark.slow      # four services as processes, TLS handshakes, the omp command

STUBS = {"SchedulerService": scheduler_pb2_grpc.SchedulerServiceStub, "MinerService": miner_pb2_grpc.MinerServiceStub,
         "PromoterService": promoter_pb2_grpc.PromoterServiceStub,
         "WatchdogService": watchdog_pb2_grpc.WatchdogServiceStub}
DESCRIPTORS = [spb.DESCRIPTOR.services_by_name["SchedulerService"], miner_pb2.DESCRIPTOR.services_by_name["MinerService"],
               promoter_pb2.DESCRIPTOR.services_by_name["PromoterService"],
               watchdog_pb2.DESCRIPTOR.services_by_name["WatchdogService"]]
PEERS = {"scheduler": (), "miner": (), "promoter": (), "watchdog": ()}
PEOPLE = {"victor": "viewer", "alice": "operator"}      # and "admin", made by `omp security init`


def _secured(tmp_path, mutual: bool = False):
    """The PKI, the settings and the processes' settings file: TLS, and tokens or mutual TLS."""
    pki = tmp_path / "pki"
    certificates.init(pki)
    for name, role in PEOPLE.items():
        certificates.add_token(pki / "tokens.toml", name, role, pki / f"{name}.token")
    ports = {name: free_port() for name in PEERS}
    sec = {"tls_cert": str(pki / "{service}.crt"), "tls_key": str(pki / "{service}.key"), "tls_ca": str(pki / "ca.crt"),
           "tokens_file": str(pki / "tokens.toml")}
    if mutual:
        sec["client_ca"] = str(pki / "ca.crt")
    else:
        sec["token_file"] = str(pki / "{service}.token")
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", security=sec,
                            scheduler={"port": ports["scheduler"]}, miner={"port": ports["miner"]},
                            promoter={"port": ports["promoter"]}, watchdog={"port": ports["watchdog"]})
    return pki, config, ports


def _start_all(services, config):
    return {name: services.start(f"omp_services.{name}.app", config) for name in ("watchdog", "promoter", "miner",
                                                                              "scheduler")}


def _caller(pki, who: str | None) -> Security:
    """A client's security: TLS to the services, with ``who``'s token (None: no token)."""
    token = (pki / f"{who}.token").read_text().strip() if who else ""
    return Security(tls=True, server_ca=(pki / "ca.crt").read_bytes(), own_token=token)


def _real(cid: str) -> dict:
    """Requests that would change something if they got through: a refusal must leave it all as it was."""
    from omp.v1 import common_pb2 as pb
    from google.protobuf import field_mask_pb2
    s = "/omp.v1.SchedulerService/"
    return {f"{s}StartDaemon": spb.StartDaemonRequest(reason="r"), f"{s}PauseDaemon": spb.PauseDaemonRequest(reason="r"),
            f"{s}SetDataReadiness": spb.SetDataReadinessRequest(readiness=pb.DATA_READINESS_READY, reason="r"),
            f"{s}ThrottleDaemon": spb.ThrottleDaemonRequest(factor=2, seconds=60, reason="r"),
            f"{s}AddCampaign": spb.AddCampaignRequest(campaign=pb.Campaign(name="x", config_path="tiny.toml",
                                                                           market="us", priority=5)),
            f"{s}UpdateCampaign": spb.UpdateCampaignRequest(campaign=pb.Campaign(id=cid, priority=9),
                                                            update_mask=field_mask_pb2.FieldMask(paths=["priority"])),
            f"{s}RemoveCampaign": spb.RemoveCampaignRequest(id=cid, reason="r"),
            f"{s}SetCampaignEnabled": spb.SetCampaignEnabledRequest(id=cid, enabled=False, reason="r"),
            f"{s}ReorderCampaign": spb.ReorderCampaignRequest(id=cid, priority=3, reason="r"),
            "/omp.v1.WatchdogService/OpenIncident": watchdog_pb2.OpenIncidentRequest(
                severity=watchdog_pb2.SEVERITY_SEV2, kind="orphaned_runs", summary="s"),
            "/omp.v1.PromoterService/RegisterSeed": promoter_pb2.RegisterSeedRequest(campaign_id=cid, seed=7,
                                                                                     reason="r")}


def _call(channel, method: str, request=None):
    """One call of ``method`` (an empty request unless given); its status code."""
    _, service, name = method.split("/")
    stub = STUBS[service.split(".")[-1]](channel)
    desc = next(m for s in DESCRIPTORS for m in s.methods if f"/{s.full_name}/{m.name}" == method)
    from google.protobuf import message_factory
    request = request if request is not None else message_factory.GetMessageClass(desc.input_type)()
    try:
        if desc.server_streaming:
            stream = getattr(stub, name)(request, timeout=5)
            for _ in stream:
                stream.cancel()
                break
        else:
            getattr(stub, name)(request, timeout=10)
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.CANCELLED:
            return grpc.StatusCode.OK
        return err.code()
    return grpc.StatusCode.OK


def _snapshot(db) -> str:
    """A digest of every table a call could change (the audit log, resource samples, the
    watchdog's own cursor, the leader's lease and the miners' registrations are written by the
    services as they run)."""
    con = sqlite3.connect(db)
    try:
        h = hashlib.sha256()
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        for t in names:
            if t in ("audit_log", "resource_samples", "watchdog_state", "alembic_version", "leases", "miners"):
                continue
            for row in con.execute(f'SELECT * FROM "{t}" ORDER BY 1'):
                h.update(repr(row).encode())
        return h.hexdigest()
    finally:
        con.close()


def _audit(db) -> list[dict]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM audit_log ORDER BY id")]
    finally:
        con.close()


def test_every_rpc_of_every_service_by_every_role_over_tls(services, tmp_path):
    pki, config, ports = _secured(tmp_path)
    procs = _start_all(services, config)
    db = tmp_path / "omp.db"
    callers = [None, "victor", "alice", "admin", *access.SERVICES]
    roles = {None: None, "victor": "viewer", "alice": "operator", "admin": "admin",
             **{s: "service" for s in access.SERVICES}}
    channels = {(who, svc): _caller(pki, who).channel(f"127.0.0.1:{ports[svc]}") for who in callers
                for svc in access.SERVICES}
    service_of = {"SchedulerService": "scheduler", "MinerService": "miner", "PromoterService": "promoter",
                  "WatchdogService": "watchdog"}

    def allowed(method, who):
        return who is not None and access.RULES[method].allows(roles[who], who)

    # a campaign to aim the refused changes at
    from omp.v1 import common_pb2 as pb
    admin = scheduler_pb2_grpc.SchedulerServiceStub(channels[("admin", "scheduler")])
    # the miner started before the scheduler: its first registration (an event) lands before the
    # snapshot below, or it would look like a refused call's doing
    wait_for(lambda: any(m.miner_id for m in admin.GetStatus(spb.GetStatusRequest(), timeout=10).status.miners),
             timeout=60, what="the miner to register")
    cid = admin.AddCampaign(spb.AddCampaignRequest(campaign=pb.Campaign(name="target", config_path="tiny.toml",
                                                                        market="us", priority=1)), timeout=10).campaign.id
    real = _real(cid)
    # every refusal first: they change nothing, and each refusal of a change is audited
    before, refused = _snapshot(db), []
    for method in access.RULES:
        svc = service_of[method.split("/")[1].split(".")[-1]]
        for who in callers:
            if allowed(method, who):
                continue
            code = _call(channels[(who, svc)], method, real.get(method))
            want = grpc.StatusCode.UNAUTHENTICATED if who is None else grpc.StatusCode.PERMISSION_DENIED
            assert code == want, (method, who, code)
            refused.append((method, who))
    assert len(refused) >= 150                  # 52 RPCs x 8 callers: most calls are refused to most
    assert _snapshot(db) == before
    want = sorted((m.rsplit("/", 1)[1], who or "unauthenticated") for m, who in refused if access.RULES[m].changes)

    def refusals():
        rows = [r for r in _audit(db) if r["outcome"] in ("UNAUTHENTICATED", "PERMISSION_DENIED")]
        return sorted((r["method"], r["principal"]) for r in rows)
    # a refusal's row is written by a job nobody awaits (a client that goes away cannot cancel it):
    # it lands just after the answer
    try:
        wait_for(lambda: refusals() == want, timeout=10, what="every refusal's audit row")
    finally:
        assert refusals() == want
    # and every call a role may make is let through to its servicer (which may still refuse it)
    for method in access.RULES:
        svc = service_of[method.split("/")[1].split(".")[-1]]
        for who in callers:
            if allowed(method, who):
                code = _call(channels[(who, svc)], method)
                assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
                                    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (method, who, code)
    for ch in channels.values():
        ch.close()
    # plaintext to a TLS port, or TLS trusting another CA: no call gets through
    other = tmp_path / "other"
    certificates.make_ca(other)
    for security in (Security(own_token=(pki / "admin.token").read_text().strip()),
                     Security(tls=True, server_ca=(other / "ca.crt").read_bytes())):
        with security.channel(f"127.0.0.1:{ports['scheduler']}") as ch:
            with pytest.raises(grpc.RpcError) as err:
                scheduler_pb2_grpc.SchedulerServiceStub(ch).GetStatus(spb.GetStatusRequest(), timeout=5).status
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    for p in procs.values():
        assert p.proc.poll() is None


def omp(config, pki, who, *args, env=None):
    """The omp command as ``who`` (its token in $OMP_TOKEN_FILE); stderr with its line wrapping undone."""
    environment = {**os.environ, "OMP_TOKEN_FILE": str(pki / f"{who}.token"), **(env or {})}
    r = subprocess.run([sys.executable, "-m", "omp_cli", "--config", str(config), *args], capture_output=True,
                       text=True, cwd=ROOT, timeout=120, env=environment)
    r.stderr = " ".join(r.stderr.split())
    return r


def test_the_audit_log_names_who_really_called_and_a_campaign_mines_with_every_call_authenticated(
        services, tmp_path):
    pki, config, ports = _secured(tmp_path)
    _start_all(services, config)
    # an operator acts "as auditor": the trail says who really did it
    r = omp(config, pki, "alice", "start", "--actor", "auditor", "--reason", "morning", "--json")
    assert r.returncode == 0, r.stderr
    r = omp(config, pki, "alice", "queue", "add", "tiny", "tiny.toml", "--actor", "miner", "--json")
    assert r.returncode == 0, r.stderr
    cid = json.loads(r.stdout)["id"]
    denied = omp(config, pki, "alice", "queue", "remove", cid, "--reason", "not mine to remove")
    assert denied.returncode == 5 and "needs admin" in denied.stderr
    viewer = omp(config, pki, "victor", "data-ready", "yes")
    assert viewer.returncode == 5
    assert omp(config, pki, "admin", "data-ready", "yes").returncode == 0
    nobody = omp(config, pki, "admin", "status", env={"OMP_TOKEN_FILE": "", "OMP_TOKEN": "x" * 43})
    assert nobody.returncode == 5 and "not one the tokens file knows" in nobody.stderr

    def audited():
        records = json.loads(omp(config, pki, "admin", "audit", "--all", "--json").stdout)["items"]
        return any(x["method"] == "PromoteRun" for x in records) and records
    records = wait_for(audited, timeout=180, interval=1.0, what="the campaign to run and be handed to the promoter")
    events = json.loads(omp(config, pki, "victor", "events", "--all", "--json").stdout)["items"]
    by_kind = {e["kind"]: e for e in events}
    assert by_kind["daemon.running"]["actor"] == "alice for auditor"
    assert by_kind["campaign.added"]["actor"] == "alice for miner"        # a claimed name is only "for"
    assert by_kind["run.completed"]["actor"] == "miner"                    # reported by the miner's identity
    mine = [(x["service"], x["method"], x["principal"], x["role"], x.get("on_behalf_of", ""), x["outcome"])
            for x in records if x["principal"] in ("alice", "victor", "admin")]
    assert ("scheduler", "StartDaemon", "alice", "operator", "auditor", "OK") in mine
    assert ("scheduler", "AddCampaign", "alice", "operator", "miner", "OK") in mine
    me = os.environ.get("USER", "operator")                 # what omp claims by default: the OS user
    assert ("scheduler", "RemoveCampaign", "alice", "operator", me, "PERMISSION_DENIED") in mine
    assert ("scheduler", "SetDataReadiness", "victor", "viewer", me, "PERMISSION_DENIED") in mine
    assert ("scheduler", "SetDataReadiness", "admin", "admin", me, "OK") in mine
    removal = next(x for x in records if x["method"] == "RemoveCampaign")
    assert removal["target"] == cid and removal["reason"] == "not mine to remove"
    services_calls = {(x["service"], x["method"], x["principal"]) for x in records if x["role"] == "service"}
    assert ("miner", "StartRun", "scheduler") in services_calls
    assert ("scheduler", "ReportRunResult", "miner") in services_calls
    assert ("promoter", "PromoteRun", "scheduler") in services_calls
    refused = json.loads(omp(config, pki, "alice", "audit", "--refused", "--json").stdout)["items"]
    # the two refused changes; the unauthenticated `status` was a read, and reads are not audited
    assert sorted((x["method"], x["principal"], x["outcome"]) for x in refused) == [
        ("RemoveCampaign", "alice", "PERMISSION_DENIED"), ("SetDataReadiness", "victor", "PERMISSION_DENIED")]
    assert omp(config, pki, "victor", "audit").returncode == 5               # the log is the operator's


def test_mutual_tls_knows_each_service_and_operator_by_its_certificate(services, tmp_path):
    pki, config, ports = _secured(tmp_path, mutual=True)
    certificates.make_certificate(pki, "alice")
    _start_all(services, config)
    cert = {"OMP_TOKEN_FILE": "", "OMP_TLS_CERT": str(pki / "alice.crt"), "OMP_TLS_KEY": str(pki / "alice.key")}
    r = omp(config, pki, "alice", "start", "--reason", "mutual", "--json", env=cert)
    assert r.returncode == 0, r.stderr
    assert omp(config, pki, "alice", "data-ready", "yes", env=cert).returncode == 5      # an operator's cert
    no_cert = omp(config, pki, "alice", "status", env={"OMP_TOKEN_FILE": ""})
    assert no_cert.returncode == 2 and "security.client_ca" in no_cert.stderr
    # a certificate of the right CA whose name no one knows, and one of another CA
    certificates.make_certificate(pki, "mallory")
    r = omp(config, pki, "alice", "status", env={**cert, "OMP_TLS_CERT": str(pki / "mallory.crt"),
                                                 "OMP_TLS_KEY": str(pki / "mallory.key")})
    assert r.returncode == 5 and "no principal" in r.stderr
    other = tmp_path / "other"
    certificates.make_ca(other / "ca")
    certificates.make_certificate(other, "alice")
    r = omp(config, pki, "alice", "status", env={**cert, "OMP_TLS_CERT": str(other / "alice.crt"),
                                                 "OMP_TLS_KEY": str(other / "alice.key")})
    assert r.returncode == 3                                    # the handshake fails: unreachable
    # the services call each other by their certificates: the miner registers and reports
    admin = {**cert, "OMP_TLS_CERT": str(pki / "admin.crt"), "OMP_TLS_KEY": str(pki / "admin.key")}
    certificates.make_certificate(pki, "admin")
    assert omp(config, pki, "alice", "data-ready", "yes", env=admin).returncode == 0
    assert omp(config, pki, "alice", "queue", "add", "tiny", "tiny.toml", env=cert).returncode == 0

    def ran():
        records = json.loads(omp(config, pki, "alice", "audit", "--all", "--json", env=cert).stdout)["items"]
        return {(x["method"], x["principal"], x["outcome"]) for x in records}
    seen = wait_for(lambda: (s := ran()) and ("ReportRunResult", "miner", "OK") in s and s, timeout=180,
                    interval=1.0, what="the run reported by the miner's certificate")
    assert ("StartRun", "scheduler", "OK") in seen
    assert not [x for x in seen if x[2] in ("UNAUTHENTICATED", "PERMISSION_DENIED") and x[1] in access.SERVICES]


def test_a_service_with_unusable_security_exits_2_naming_the_key_and_touches_nothing(tmp_path):
    pki, config, _ = _secured(tmp_path)
    (pki / "scheduler.key").chmod(0o644)
    r = subprocess.run([sys.executable, "-m", "omp_services.scheduler.app", "--config", str(config)], capture_output=True,
                       text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "security.tls_key" in r.stderr and "chmod 600" in r.stderr
    assert not (tmp_path / "omp.db").exists()                  # refused before the database is opened
    token = token_hash((pki / "admin.token").read_text().strip())
    assert token in (pki / "tokens.toml").read_text() and (pki / "admin.token").read_text().strip() not in (
        pki / "tokens.toml").read_text()
