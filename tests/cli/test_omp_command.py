"""The ``omp`` command as an operator runs it: a real child process, its output and exit code."""
import json
import shutil
import subprocess
import sys

import pytest

from helpers_core import FIXTURES, ROOT

TINY = FIXTURES / "campaigns" / "tiny.toml"


def omp(*args, cwd=ROOT):
    exe = shutil.which("omp") or None
    cmd = [exe, *args] if exe else [sys.executable, "-m", "omp_cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_run_campaign_json(tmp_path):
    r = omp("run-campaign", str(TINY), "--out", str(tmp_path), "--json", "--threads", "2")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] and (tmp_path / out["run_id"] / "manifest.json").exists()
    assert out["candidates"] and {"rank", "genome_hash", "is_sharpe", "oos_sharpe", "dsr", "stress"} <= \
        set(out["candidates"][0])


@pytest.mark.slow
def test_run_campaign_human_output_and_progress(tmp_path):
    r = omp("run-campaign", str(TINY), "--out", str(tmp_path), "--progress")
    assert r.returncode == 0, r.stderr
    assert "top candidates" in r.stdout and "run folder:" in r.stdout
    assert "seed      7" in r.stderr and "evals/s" in r.stderr


def test_bad_config_exits_2_naming_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.read_text().replace("population = 16", "population = -3"))
    r = omp("run-campaign", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "ga.population" in r.stderr and "-3" in r.stderr
    assert not (tmp_path / "o").exists()          # nothing was written
    r = omp("validate-config", str(bad), "--json")
    err = json.loads(r.stdout)["error"]
    assert r.returncode == 2 and err["code"] == "INVALID_ARGUMENT" and "ga.population" in err["message"]


def test_validate_config_with_data():
    r = omp("validate-config", str(TINY), "--data", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["bars"] == 1259 and out["symbols"] == ["AAPL", "KO", "XOM"] and len(out["snapshot_id"]) == 64


def test_data_outside_the_data_root_is_refused(tmp_path):
    r = omp("validate-config", str(TINY), "--data", "--data-root", str(tmp_path))
    assert r.returncode == 2 and "leaves the data root" in r.stderr


def test_security_init_makes_a_section_every_service_starts_with_and_tokens_that_are_never_printed(tmp_path):
    from omp_services.common import security, settings
    r = omp("security", "init", "pki", "--host", "127.0.0.1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "OMP_TOKEN_FILE=" in r.stderr and r.stdout.startswith("[security]")
    (tmp_path / "omp.toml").write_text(r.stdout)
    loaded = settings.load(tmp_path / "omp.toml")
    for name in ("scheduler", "miner", "promoter", "watchdog"):
        sec = security.load(loaded, name, "127.0.0.1")
        assert sec.tls and sec.authentication and sec.tokens[security.token_hash(sec.own_token)].name == name
    r = omp("security", "add-token", "pki/tokens.toml", "alice", "operator", "--out", "alice.token", cwd=tmp_path)
    token = (tmp_path / "alice.token").read_text().strip()
    assert r.returncode == 0 and token not in r.stdout + r.stderr and len(token) >= 40
    assert (tmp_path / "alice.token").stat().st_mode & 0o077 == 0
    again = omp("security", "add-token", "pki/tokens.toml", "alice", "admin", "--out", "other.token", cwd=tmp_path)
    assert again.returncode == 2 and "already" in again.stderr and not (tmp_path / "other.token").exists()
    assert security.load(settings.load(tmp_path / "omp.toml"), "scheduler", "127.0.0.1").tokens[
        security.token_hash(token)].role == "operator"


def test_the_command_never_takes_a_token_on_its_command_line():
    r = omp("status", "--token", "s3cret")
    assert r.returncode == 2 and "unrecognized arguments: --token" in r.stderr
