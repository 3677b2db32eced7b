"""[security] at start: what is set but unusable stops start-up naming the key; the access table
covers every RPC of every service and is the README's; page tokens are signed and bound to their
listing; errors carry google.rpc details; a database password never reaches a log or an error."""
from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
from pathlib import Path

import grpc
import pytest

from omp.v1 import miner_pb2 as mpb, promoter_pb2, scheduler_pb2 as spb, watchdog_pb2, miner_pb2
from omp_services.common import access, certificates, convert, security, settings as settings_mod
from omp_services.common.errors import InvalidArgument, rich_status
from omp_services.common.logs import JsonFormatter

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a certificate and a token per service and an admin token, as `omp security init` makes them."""
    folder = tmp_path_factory.mktemp("pki")
    certificates.init(folder)
    return folder


def _settings(tmp_path, environment="dev", **security_keys) -> settings_mod.Settings:
    lines = [f'environment = "{environment}"', "[security]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in security_keys.items()]
    path = tmp_path / "omp.toml"
    path.write_text("\n".join(lines) + "\n")
    return settings_mod.load(path)


def _full(pki) -> dict:
    return {"tls_cert": str(pki / "{service}.crt"), "tls_key": str(pki / "{service}.key"),
            "tls_ca": str(pki / "ca.crt"), "tokens_file": str(pki / "tokens.toml"),
            "token_file": str(pki / "{service}.token")}


def test_a_complete_setup_loads_with_each_service_its_own_identity(tmp_path, pki):
    s = _settings(tmp_path, "prod", **_full(pki), allow_plaintext_metrics=True)
    loaded = {name: security.load(s, name, "0.0.0.0") for name in access.SERVICES}
    for name, sec in loaded.items():
        assert sec.tls and sec.authentication and sec.server_credentials() is not None
        own = sec.tokens[security.token_hash(sec.own_token)]
        assert own == access.Principal(name, "service")             # the token it sends names itself
    assert len({sec.own_token for sec in loaded.values()}) == 4


def _copy(pki, tmp_path, name) -> Path:
    dst = tmp_path / name
    dst.write_bytes((pki / name).read_bytes())
    dst.chmod(0o600)
    return dst


def _refusals(tmp_path, pki):
    """(what is wrong, the settings' [security] keys, the key the refusal must name)."""
    full = _full(pki)
    key = _copy(pki, tmp_path, "scheduler.key")
    key.chmod(0o644)
    tokens_plain = tmp_path / "plain.toml"
    tokens_plain.write_text('[[principal]]\nname = "alice"\nrole = "admin"\ntoken = "hunter2hunter2hunter2"\n')
    tokens_bad_role = tmp_path / "role.toml"
    tokens_bad_role.write_text('[[principal]]\nname = "alice"\nrole = "root"\n')
    tokens_svc = tmp_path / "svc.toml"
    tokens_svc.write_text('[[principal]]\nname = "alice"\nrole = "service"\n')
    tokens_sha = tmp_path / "sha.toml"
    tokens_sha.write_text('[[principal]]\nname = "alice"\nrole = "admin"\ntoken_sha256 = "abc"\n')
    for p in (tokens_plain, tokens_bad_role, tokens_svc, tokens_sha):
        p.chmod(0o600)
    person_as_service = tmp_path / "person.toml"
    person_as_service.write_text('[[principal]]\nname = "miner"\nrole = "admin"\n')
    person_as_service.chmod(0o600)
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)
    readable_tokens = _copy(pki, tmp_path, "tokens.toml")
    readable_tokens.chmod(0o640)
    expired = certificates.make_certificate(tmp_path, "scheduler", ca=(pki / "ca" / "ca.crt", pki / "ca" / "ca.key"), days=1,
                                            valid_from=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3))
    future = certificates.make_certificate(tmp_path / "future", "scheduler", ca=(pki / "ca" / "ca.crt", pki / "ca" / "ca.key"),
                                           valid_from=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3))
    return [
        ("missing certificate", {**full, "tls_cert": str(tmp_path / "nope.crt")}, "security.tls_cert"),
        ("key readable by others", {**full, "tls_key": str(key)}, "security.tls_key"),
        ("key of another certificate", {**full, "tls_key": str(pki / "miner.key")}, "security.tls_key"),
        ("certificate without key", {"tls_cert": full["tls_cert"]}, "security.tls_key"),
        ("expired certificate", {**full, "tls_cert": str(expired[0]), "tls_key": str(expired[1])},
         "security.tls_cert"),
        ("certificate not valid yet", {**full, "tls_cert": str(future[0]), "tls_key": str(future[1])},
         "security.tls_cert"),
        ("token in plain text in the settings", {"token": "hunter2hunter2hunter2"}, "security.token"),
        ("token in plain text in the tokens file", {**full, "tokens_file": str(tokens_plain)}, "security.tokens_file"),
        ("unknown role", {**full, "tokens_file": str(tokens_bad_role)}, "security.tokens_file"),
        ("a service's role for a person's name", {**full, "tokens_file": str(tokens_svc)}, "security.tokens_file"),
        ("not a sha256", {**full, "tokens_file": str(tokens_sha)}, "security.tokens_file"),
        ("tokens file readable by others", {**full, "tokens_file": str(readable_tokens)}, "security.tokens_file"),
        ("tokens without an own token", {k: v for k, v in full.items() if k != "token_file"}, "security.token_file"),
        ("mutual TLS without TLS", {"client_ca": str(pki / "ca.crt")}, "security.client_ca"),
        ("unreadable CA", {**full, "tls_ca": str(tmp_path / "none.crt")}, "security.tls_ca"),
        ("a service with an admin's token", {**full, "token_file": str(pki / "admin.token")}, "security.token_file"),
        ("a service with another's token", {**full, "token_file": str(pki / "miner.token")}, "security.token_file"),
        ("mutual TLS with another service's certificate", {**full, "client_ca": str(pki / "ca.crt"),
                                                           "tls_cert": str(pki / "miner.crt"),
                                                           "tls_key": str(pki / "miner.key")}, "security.tls_cert"),
        ("mutual TLS without a tokens file", {k: v for k, v in full.items() if k != "tokens_file"}
         | {"client_ca": str(pki / "ca.crt")}, "security.tokens_file"),
        ("a person named as a service", {**full, "tokens_file": str(person_as_service)}, "security.tokens_file"),
        ("a FIFO for a key", {**full, "tls_key": str(fifo)}, "security.tls_key"),
    ]


def test_security_set_but_unusable_stops_start_up_naming_the_key(tmp_path, pki):
    for what, keys, named in _refusals(tmp_path, pki):
        s = _settings(tmp_path, **keys) if "token" not in keys else None
        with pytest.raises(ValueError) as err:
            s = s or _settings(tmp_path, **keys)
            security.load(s, "scheduler", "127.0.0.1")
        assert str(err.value).startswith(named), (what, str(err.value))
        assert "hunter2" not in str(err.value), what                   # a secret is never repeated


def test_beyond_loopback_and_in_prod_both_tls_and_authentication_are_required(tmp_path, pki):
    full = _full(pki)
    tls_only = {k: full[k] for k in ("tls_cert", "tls_key", "tls_ca")}
    for environment, keys, host in (("dev", {}, "0.0.0.0"), ("dev", tls_only, "10.1.2.3"), ("prod", {}, "127.0.0.1"),
                                    ("prod", tls_only, "127.0.0.1")):
        with pytest.raises(ValueError, match=r"^(scheduler\.host|security): "):
            security.load(_settings(tmp_path, environment, **keys), "scheduler", host)
    security.load(_settings(tmp_path, "dev", allow_insecure_remote=True), "scheduler", "0.0.0.0")  # said out loud
    # TLS and tokens beyond loopback: the metrics endpoint beside them is plaintext, so said out loud too
    with pytest.raises(ValueError, match="allow_plaintext_metrics"):
        security.load(_settings(tmp_path, "prod", **full), "scheduler", "10.1.2.3")
    security.load(_settings(tmp_path, "prod", **full, allow_plaintext_metrics=True), "scheduler", "10.1.2.3")
    with pytest.raises(ValueError):     # but never in prod
        security.load(_settings(tmp_path, "prod", allow_insecure_remote=True), "scheduler", "0.0.0.0")
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        security.load(_settings(tmp_path), "scheduler", host)


def test_the_command_reads_its_token_from_a_file_or_the_environment_never_a_world_readable_file(tmp_path, pki):
    s = _settings(tmp_path, **_full(pki))
    admin = (pki / "admin.token").read_text().strip()
    assert security.for_command(s, str(pki / "admin.token"), env={}).own_token == admin
    assert security.for_command(s, env={"OMP_TOKEN_FILE": str(pki / "admin.token")}).own_token == admin
    assert security.for_command(s, env={"OMP_TOKEN": admin}).own_token == admin
    open_file = _copy(pki, tmp_path, "admin.token")
    open_file.chmod(0o644)
    with pytest.raises(ValueError, match="token_file.*may be read by others"):
        security.for_command(s, str(open_file), env={})


# ------------------------------------------------------------------------------ the access table
SERVICES = [d.services_by_name[n] for d, n in ((spb.DESCRIPTOR, "SchedulerService"), (mpb.DESCRIPTOR, "MinerService"),
                                                (promoter_pb2.DESCRIPTOR, "PromoterService"),
                                                (watchdog_pb2.DESCRIPTOR, "WatchdogService"))]


def test_every_rpc_of_every_service_has_exactly_one_rule_and_no_rule_names_a_missing_rpc():
    methods = {f"/{s.full_name}/{m.name}" for s in SERVICES for m in s.methods}
    assert sorted(methods - set(access.RULES)) == []        # an RPC added without a rule fails here
    assert sorted(set(access.RULES) - methods) == []
    for rule in access.RULES.values():
        assert rule.role in (None, *access.PEOPLE) and rule.services <= access.ALL and (rule.role or rule.services)


def test_an_rpc_without_a_rule_is_refused_for_everyone_even_with_authentication_off():
    with pytest.raises(Exception, match="no access rule"):
        security.PLAINTEXT.authorize("/omp.v1.SchedulerService/Nothing", ())


def test_roles_include_the_lesser_ones_and_service_identities_only_their_calls():
    stop, report = access.RULES["/omp.v1.SchedulerService/StopDaemon"], access.RULES[
        "/omp.v1.SchedulerService/ReportRunResult"]
    assert [stop.allows(r) for r in ("viewer", "operator", "admin")] == [False, True, True]
    assert not stop.allows("service", "watchdog")
    assert report.allows("service", "miner") and not report.allows("service", "scheduler")
    assert not report.allows("admin")                                  # no person reports a run
    assert access.service_of("miner:host-2") == "miner"


def test_the_readme_shows_the_table_in_code():
    assert access.markdown_table() in (ROOT / "README.md").read_text()


# ------------------------------------------------------------------------------ page tokens
def test_a_page_token_is_good_only_for_the_listing_that_gave_it():
    first = spb.ListCampaignsRequest(page_size=10, tag="a")
    tok = convert.token(first, 10)
    assert convert.page(spb.ListCampaignsRequest(page_size=5, tag="a", page_token=tok)) == (10, 5)
    base64_offset = "MTA="                                              # what a token used to be: "10"
    other_filter = spb.ListCampaignsRequest(tag="b", page_token=tok)
    other_method = mpb.ListRunsRequest(page_token=tok)
    edited = tok[:-2] + ("A" if tok[-2] != "A" else "B") + tok[-1]
    for bad in (spb.ListCampaignsRequest(tag="a", page_token=base64_offset), other_filter, other_method,
                spb.ListCampaignsRequest(tag="a", page_token=edited),
                spb.ListCampaignsRequest(tag="a", page_token="\x00" * 43),
                spb.ListCampaignsRequest(tag="a", page_token="x" * 10_000)):
        with pytest.raises(InvalidArgument, match="page_token") as err:
            convert.page(bad)
        assert err.value.field == "page_token"


def test_an_expired_page_token_is_refused(monkeypatch):
    req = miner_pb2.ListRunsRequest(campaign_id="c")
    tok = convert.token(req, 3)
    monkeypatch.setattr(convert.time, "time", lambda: 10**10)
    with pytest.raises(InvalidArgument, match="expired"):
        convert.page(miner_pb2.ListRunsRequest(campaign_id="c", page_token=tok))


# ------------------------------------------------------------------------------ errors and secrets
def test_bad_input_carries_a_bad_request_naming_the_field_and_an_error_info():
    from google.rpc import error_details_pb2, status_pb2
    status = rich_status(InvalidArgument("priority must be in [0, 1000], got -5"))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    detail = status_pb2.Status.FromString(dict(status.trailing_metadata)["grpc-status-details-bin"])
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert detail.details[0].Unpack(info) and info.reason == "INVALID_ARGUMENT" and info.domain == "omp.v1"
    assert detail.details[1].Unpack(bad) and bad.field_violations[0].field == "priority"


def test_a_database_password_never_reaches_an_error_or_a_log_line():
    from omp_services.common.errors import DatabaseUnavailable, to_status
    url = "postgresql+psycopg://omp:pa55w0rd@db.example:5432/omp"
    _, message = to_status(DatabaseUnavailable(f"cannot reach {url}"))
    for odd in ("postgresql+psycopg://omp:pa/55w0rd@db/omp", "postgresql+psycopg://omp:pa@55w0rd@db/omp",
                "postgresql+psycopg://db/omp?user=omp&password=pa55w0rd&sslmode=require"):
        assert "55w0rd" not in to_status(DatabaseUnavailable(f"cannot reach {odd}: refused"))[1], odd
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("test.redact")
    log.addHandler(handler)
    try:
        log.error("connect failed %s", url, extra={"database": url})
        try:
            raise RuntimeError(url)
        except RuntimeError:
            log.exception("traceback")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "pa55w0rd" not in message + out and message.count("omp:***@db.example") == 1
    assert out.count("omp:***@db.example") >= 3


def test_keys_and_tokens_written_by_the_tools_are_private(pki):
    for name in ("ca/ca.key", "ca", "scheduler.key", "tokens.toml", "admin.token"):
        assert os.stat(pki / name).st_mode & 0o077 == 0, name
