"""A whole campaign: the run folder, its byte-for-byte reproducibility, and resume after SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers_core import DATA, FIXTURES
from omp_core.genome import load_toml
from omp_core.run import run_campaign

TINY = FIXTURES / "campaigns" / "tiny.toml"


def folder_bytes(run_dir: Path) -> dict:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name != "timings.json"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return run_campaign(TINY, tmp_path_factory.mktemp("a"), threads=1)


def test_run_folder_has_what_a_quant_needs(tiny_run):
    d = tiny_run.run_dir
    m = json.loads((d / "manifest.json").read_text())
    for key in ("run_id", "config_hash", "git_sha", "snapshot_id", "seeds", "versions", "data", "split"):
        assert m[key], key
    assert m["seeds"] == [7, 11] and m["status"] == "completed"
    assert "actions" in m["data"]
    c = json.loads((d / "candidates.json").read_text())
    assert 1 <= len(c["candidates"]) <= 3
    assert c["n_trials"] == m["distinct_genomes_evaluated"] > 16
    assert c["pbo"]["combinations"] == 70 and 0.0 <= c["pbo"]["pbo"] <= 1.0
    assert c["sharpe_variance"]["in_sample"] is None or c["sharpe_variance"]["in_sample"] >= 0
    for cand in c["candidates"]:
        folder = d / cand["folder"]
        g = load_toml(folder / "strategy.toml")
        assert g.genome_hash == cand["genome_hash"]
        assert (folder / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        header = (folder / "trades.csv").read_text().splitlines()[0]
        assert header.startswith("period,symbol,side,entry_time")
        assert cand["out_of_sample"]["bars"] == m["split"]["out_of_sample_bars"]
        assert cand["stress"]["total"] == 4 and cand["stress"]["summary"].endswith("of 4 passed")
        assert 0.0 <= cand["dsr"] <= 1.0
    assert json.loads((d / "timings.json").read_text())["total_s"] > 0


def test_same_config_data_and_seed_give_the_same_bytes(tiny_run, tmp_path):
    again = run_campaign(TINY, tmp_path, threads=2)
    assert again.run_id == tiny_run.run_id
    assert folder_bytes(again.run_dir) == folder_bytes(tiny_run.run_dir)


def _long_config(tmp_path: Path) -> Path:
    text = TINY.read_text().replace("generations = 4", "generations = 40").replace(
        "../../../examples/data/us_stocks_2013_2018.csv", str(DATA / "us_stocks_2013_2018.csv"))
    p = tmp_path / "long.toml"
    p.write_text(text)
    return p


@pytest.mark.slow
def test_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path):
    cfg = _long_config(tmp_path)
    clean = run_campaign(cfg, tmp_path / "clean")
    out = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-m", "omp_cli", "run-campaign", str(cfg), "--out", str(out),
                              "--json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    ck = out / f"run_{clean.run_id}" / "checkpoints" / "seed_7.json"
    deadline = time.monotonic() + 60
    while not ck.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / f"run_{clean.run_id}" / "manifest.json").exists()
    resumed = run_campaign(cfg, out)
    assert json.loads((resumed.run_dir / "timings.json").read_text())["evaluations_this_session"] < \
        json.loads((clean.run_dir / "timings.json").read_text())["evaluations_this_session"]
    assert folder_bytes(resumed.run_dir) == folder_bytes(clean.run_dir)


def test_run_time_limit_stops_with_a_resumable_checkpoint(tmp_path):
    from omp_core.run import RuntimeLimitExceeded
    cfg = _long_config(tmp_path)
    ticks = iter(range(10**6))
    with pytest.raises(RuntimeLimitExceeded, match="max_runtime_minutes"):
        run_campaign(cfg, tmp_path / "o", clock=lambda: next(ticks) * 600.0)   # 10 minutes a tick
    assert list((tmp_path / "o").rglob("seed_7.json"))
