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
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "DAEMON_STATE_OFFLINE"
    r = buf(scheduler.address, f"{url}/omp.v1.SchedulerService/AddCampaign",
            data=json.dumps({"campaign": {"name": "x", "config_path": "tiny.toml", "market": "us", "priority": -3}}))
    assert r.returncode != 0
    err = json.loads(r.stderr)                  # buf prints the error status on stderr
    assert err["code"] == "invalid_argument" and "campaign.priority" in err["message"] and "-3" in err["message"]
    r = buf(scheduler.address, f"{url}/omp.v1.SchedulerService/AddCampaign",
            data=json.dumps({"campaign": {"name": "ok", "config_path": "tiny.toml", "market": "us", "priority": 2}}))
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "CAMPAIGN_STATE_QUEUED"
    r = buf(scheduler.address, f"{url}/grpc.health.v1.Health/Check", data='{"service": "omp.v1.SchedulerService"}')
    assert json.loads(r.stdout)["status"] == "SERVING"
