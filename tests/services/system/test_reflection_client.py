"""An independent client: buf curl (grpcurl's author, installed from npm by scripts/setup) finds the
services by reflection alone, calls them, and sees the status code and the message that names the field."""
from __future__ import annotations

import json
import subprocess

import pytest

from helpers_services import ROOT, write_settings

BUF = ROOT / ".tools" / "node_modules" / ".bin" / "buf"


def buf(address: str, *args, data: str | None = None):
    cmd = [str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge", *args]
    if data is not None:
        cmd += ["-d", data]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _messages(text: str) -> list[dict]:
    out, at, decoder = [], 0, json.JSONDecoder()
    while text[at:].strip():
        msg, at = decoder.raw_decode(text, len(text) - len(text[at:].lstrip()))
        out.append(msg)
    return out


@pytest.fixture
def scheduler(services, tmp_path):
    assert BUF.exists(), "scripts/setup installs buf into .tools/"
    return services.start("omp_services.scheduler.app", write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}"))


def test_buf_lists_and_calls_through_reflection(scheduler):
    url = f"http://{scheduler.address}"
    r = buf(scheduler.address, "--list-services", url)
    assert r.returncode == 0, r.stderr
    assert {"omp.v1.SchedulerService", "grpc.health.v1.Health"} <= set(r.stdout.split())
    r = buf(scheduler.address, f"{url}/omp.v1.SchedulerService/GetStatus")
    assert r.returncode == 0 and json.loads(r.stdout)["status"]["state"] == "DAEMON_STATE_OFFLINE"
    r = buf(scheduler.address, f"{url}/omp.v1.SchedulerService/AddCampaign",
            data=json.dumps({"campaign": {"name": "x", "config_path": "tiny.toml", "market": "us", "priority": -3}}))
    assert r.returncode != 0
    err = json.loads(r.stderr)                  # buf prints the error status on stderr
    assert err["code"] == "invalid_argument" and "campaign.priority" in err["message"] and "-3" in err["message"]
    r = buf(scheduler.address, f"{url}/omp.v1.SchedulerService/AddCampaign",
            data=json.dumps({"campaign": {"name": "ok", "config_path": "tiny.toml", "market": "us", "priority": 2}}))
    added = json.loads(r.stdout)["campaign"]
    assert r.returncode == 0 and added["state"] == "CAMPAIGN_STATE_QUEUED"
    # what carries JSON is JSON to a reflection client, not a string to parse again or base64
    r = buf(scheduler.address, f"{url}/omp.v1.SchedulerService/ExportQueue")
    queue = json.loads(r.stdout)["queue"]
    assert [(c["id"], c["priority"]) for c in queue["campaigns"]] == [(added["id"], 2)]
    r = buf(scheduler.address, f"{url}/omp.v1.SchedulerService/ImportQueue", data=json.dumps(
        {"queue": {"version": "1.0", "campaigns": [{"name": "imported", "config_path": "tiny.toml", "priority": 4}]},
         "request_id": "buf-1"}))
    assert r.returncode == 0 and json.loads(r.stdout)["added"] == 1, r.stderr
    r = buf(scheduler.address, f"{url}/omp.v1.SchedulerService/StartDaemon", data='{"reason": "buf"}')
    assert json.loads(r.stdout)["status"]["state"] == "DAEMON_STATE_RUNNING"
    r = buf(scheduler.address, f"{url}/omp.v1.SchedulerService/WatchEvents", data='{"after_seq": 0}')
    events = [m["event"] for m in _messages(r.stdout)]     # a stream: one JSON object per message
    started = next(e for e in events if e["kind"] == "daemon.running")
    assert started["detail"] == {"from": "offline", "to": "running"}
    r = buf(scheduler.address, f"{url}/omp.v1.SchedulerService/ListQueueChanges", data='{"campaign_id": "%s"}'
            % added["id"])
    change = json.loads(r.stdout)["changes"][0]
    assert change["action"] == "add" and change["after"]["priority"] == 2 and "before" not in change
    r = buf(scheduler.address, f"{url}/grpc.health.v1.Health/Check", data='{"service": "omp.v1.SchedulerService"}')
    assert json.loads(r.stdout)["status"] == "SERVING"
