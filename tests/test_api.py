"""The API as its ecosystem's tool checks it: buf (proto/buf.yaml) lints the protos with the
STANDARD rules and refuses a wire or source break against main and the baseline (scripts/check-api,
which CI runs). Each check is shown to bite on a copy of the protos with the fault planted."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUF = ROOT / ".tools" / "node_modules" / ".bin" / "buf"


def _buf(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def protos(tmp_path):
    assert BUF.exists(), "scripts/setup installs buf into .tools/"
    copy = tmp_path / "proto"
    shutil.copytree(ROOT / "proto", copy)
    return copy


def test_the_api_passes_its_own_checks():
    out = subprocess.run([str(ROOT / "scripts" / "check-api")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "buf lint: no findings" in out.stdout and "against the baseline" in out.stdout


def test_lint_refuses_a_response_shared_by_two_rpcs(protos):
    f = protos / "omp" / "v1" / "scheduler.proto"
    f.write_text(f.read_text().replace(
        "rpc GetStatus(GetStatusRequest) returns (GetStatusResponse);",
        "rpc GetStatus(GetStatusRequest) returns (GetStatusResponse);\n"
        "  rpc GetStatusAgain(GetStatusRequest) returns (GetStatusResponse);"))
    out = _buf(protos, "lint")
    assert out.returncode != 0 and "GetStatusAgain" in out.stdout and "multiple RPCs" in out.stdout


def test_breaking_refuses_a_removed_field_and_a_changed_type(protos):
    f = protos / "omp" / "v1" / "common.proto"
    text = f.read_text()
    text = text.replace("  string config_path = 3;\n", "", 1).replace("int32 priority = 5;", "int64 priority = 5;")
    f.write_text(text)
    out = _buf(protos, "breaking", "--against", str(ROOT / "proto"))
    assert out.returncode != 0
    assert '"3" with name "config_path" on message "Campaign" was deleted' in out.stdout
    assert 'on message "Campaign" changed type from "int32" to "int64"' in out.stdout
