"""An independent client in another language: Node's grpc-js loads our .proto files at run time
(proto-loader; scripts/setup installs both into .tools/) and calls a real scheduler. What it sees
is what any client generated from the protos sees: each RPC's own response, the status code and the
message naming the field, and the queue document as a google.protobuf.Struct, not bytes."""
from __future__ import annotations

import json
import shutil
import subprocess

from helpers_services import ROOT, write_settings

CLIENT = ROOT / "tests" / "services" / "system" / "clients" / "grpc_js_client.js"
MODULES = ROOT / ".tools" / "node_modules"


def test_a_grpc_js_client_reads_every_answer(services, tmp_path):
    node = shutil.which("node")
    assert node and (MODULES / "@grpc" / "grpc-js").exists(), "scripts/setup installs node's grpc-js into .tools/"
    sched = services.start("omp_services.scheduler.app", write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}"))
    out = subprocess.run([node, str(CLIENT), sched.address, str(ROOT / "proto")], capture_output=True, text=True,
                         timeout=60, env={"NODE_PATH": str(MODULES), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    steps = {s["step"]: s["result"] for s in map(json.loads, out.stdout.splitlines())}
    assert steps["status"]["status"]["state"] == "DAEMON_STATE_OFFLINE"
    assert steps["refused"]["error"]["code"] == "INVALID_ARGUMENT"
    assert "campaign.priority" in steps["refused"]["error"]["details"] and "-3" in steps["refused"]["error"]["details"]
    added = steps["added"]["campaign"]
    assert added["state"] == "CAMPAIGN_STATE_QUEUED" and added["priority"] == 7
    queue = steps["exported"]["queue"]
    assert queue["version"] == "1.0" and [(c["id"], c["name"], c["priority"]) for c in queue["campaigns"]] == [
        (added["id"], "js", 7)]
    assert steps["imported"]["added"] == 1 and steps["imported"]["campaigns"][0]["name"] == "from js"
