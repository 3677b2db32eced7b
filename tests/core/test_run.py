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
from omp_core import ga
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
    assert d.name == m["run_id"] == c_run_id(d) and m["run_id"].startswith("run_")
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=FIXTURES).stdout.strip()
    assert m["code_version"]["source"] == "checkout" and m["git_sha"] == m["code_version"]["commit"] == head
    assert isinstance(m["git_dirty"], bool)
    assert m["seeds"] == [7, 11] and m["status"] == "completed"
    assert "actions" in m["data"]
    c = json.loads((d / "candidates.json").read_text())
    assert 1 <= len(c["candidates"]) <= 3
    assert c["n_trials"] == m["distinct_genomes_evaluated"] > 16
    assert c["pbo"]["combinations"] == 70 and 0.0 <= c["pbo"]["pbo"] <= 1.0
    # CSCV's blocks are equal: the oldest in-sample rows that do not fill one are dropped, and said
    assert c["pbo"]["dropped_rows"] == m["split"]["in_sample_bars"] % c["pbo"]["n_splits"]
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


def c_run_id(run_dir: Path) -> str:
    c = json.loads((run_dir / "candidates.json").read_text())
    assert all(x["candidate_id"].startswith(c["run_id"] + "-c") for x in c["candidates"])
    return c["run_id"]


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
    ck = out / clean.run_id / "checkpoints" / "seed_7.json"
    deadline = time.monotonic() + 60
    while not ck.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / clean.run_id / "manifest.json").exists()
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


class _Boom(Exception):
    pass


@pytest.mark.slow
def test_seeds_searched_side_by_side_stop_together_and_resume_to_the_same_bytes(tmp_path):
    """On two threads the two seeds are searched at once. Their progress is said one call at a
    time; a failure in one (here the progress callback's, at seed 11's fifth generation) stops the
    other within a generation, leaves no thread behind and is raised; the checkpoints then resume
    to the bytes of an uninterrupted run."""
    import threading
    cfg = _long_config(tmp_path)
    clean = run_campaign(cfg, tmp_path / "clean", threads=2)
    timings = json.loads((clean.run_dir / "timings.json").read_text())
    assert timings["seeds_at_once"] == 2 and timings["threads"] == 2
    inside, overlaps, after = threading.Lock(), [], []

    def progress(p):
        if not inside.acquire(blocking=False):
            overlaps.append(p)
            return
        try:
            time.sleep(0.001)           # long enough that two calls at once would meet
            if after:
                after.append(p)
            elif p.seed == 11 and p.generation == 5:
                after.append(p)
                raise _Boom()
        finally:
            inside.release()
    with pytest.raises(_Boom):
        run_campaign(cfg, tmp_path / "o", threads=2, progress=progress)
    assert not overlaps
    assert not [t for t in threading.enumerate() if t.name.startswith("omp-seed")]
    assert [p.seed for p in after[1:]] in ([], [7])     # seed 7's generation in flight, and no more
    states = {s: json.loads((tmp_path / "o" / clean.run_id / "checkpoints" / f"seed_{s}.json").read_text())
              for s in (7, 11)}
    assert states[11]["generation"] == 4 and states[7]["generation"] < 39
    resumed = run_campaign(cfg, tmp_path / "o", threads=2)
    assert folder_bytes(resumed.run_dir) == folder_bytes(clean.run_dir)


def _git(where: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=where, check=True,
                   capture_output=True)


def test_the_code_version_is_the_checkouts_commit_with_a_dirty_flag_or_the_build_stamp(tmp_path):
    from omp_core.run import BUILD_STAMP, code_version
    repo, pkg = tmp_path / "repo", tmp_path / "repo" / "omp_core"
    pkg.mkdir(parents=True)
    (pkg / "run.py").write_text("x = 1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert code_version(pkg) == {"commit": head, "dirty": False, "source": "checkout"}
    (pkg / "run.py").write_text("x = 2\n")                 # a tracked file changed: dirty
    assert code_version(pkg) == {"commit": head, "dirty": True, "source": "checkout"}
    installed = tmp_path / "site" / "omp_core"              # no checkout: the build's stamp, else unknown
    installed.mkdir(parents=True)
    assert code_version(installed) == {"commit": "unknown", "dirty": None, "source": "unknown"}
    (installed / BUILD_STAMP).write_text(json.dumps({"commit": head, "dirty": False}))
    assert code_version(installed) == {"commit": head, "dirty": False, "source": "build"}


def test_a_named_run_resumes_from_an_earlier_runs_checkpoints_and_records_its_provenance(tmp_path):
    from omp_core.run import RuntimeLimitExceeded
    cfg = _long_config(tmp_path)
    clean = run_campaign(cfg, tmp_path / "clean")
    ticks = iter(range(10**6))
    with pytest.raises(RuntimeLimitExceeded):
        run_campaign(cfg, tmp_path / "o", run_id="run_first", clock=lambda: next(ticks) * 600.0)
    assert (tmp_path / "o" / "run_first" / "checkpoints" / "seed_7.json").exists()
    second = run_campaign(cfg, tmp_path / "o", run_id="run_second", resume_from=tmp_path / "o" / "run_first",
                          provenance={"campaign_id": "camp_1", "attempt": 2, "environment": "dev"})
    m = second.manifest
    assert second.run_dir == tmp_path / "o" / "run_second" and m["run_id"] == "run_second"
    assert (m["campaign_id"], m["attempt"], m["environment"]) == ("camp_1", 2, "dev")
    assert m["resumed_from"] == "run_first" and "seed_7.json" in m["resumed_checkpoints"]
    assert not (tmp_path / "o" / "run_first" / "checkpoints" / "seed_7.json").exists()      # handed on
    assert json.loads((second.run_dir / "timings.json").read_text())["evaluations_this_session"] < \
        json.loads((clean.run_dir / "timings.json").read_text())["evaluations_this_session"]
    strip = lambda c: [{k: v for k, v in x.items() if k != "candidate_id"} for x in c["candidates"]]  # noqa: E731
    assert strip(second.candidates) == strip(clean.candidates)          # the same search, resumed exactly


def test_checkpoints_of_other_data_config_or_scores_are_not_taken_and_a_bad_run_id_is_refused(tmp_path):
    from omp_core.run import RuntimeLimitExceeded
    cfg = _long_config(tmp_path)
    ticks = iter(range(10**6))
    with pytest.raises(RuntimeLimitExceeded):
        run_campaign(cfg, tmp_path / "o", run_id="run_first", clock=lambda: next(ticks) * 600.0)
    other = tmp_path / "other.toml"
    other.write_text(cfg.read_text().replace("generations = 40", "generations = 3"))
    r = run_campaign(other, tmp_path / "o", run_id="run_other", resume_from=tmp_path / "o" / "run_first")
    assert "resumed_from" not in r.manifest
    assert (tmp_path / "o" / "run_first" / "checkpoints" / "seed_7.json").exists()             # left alone
    # a checkpoint scored by another version of the kernel: not taken either
    state = tmp_path / "o" / "run_first" / "checkpoints" / "seed_7.json"
    st = json.loads(state.read_text())
    assert st["scores_version"] == ga.SCORES_VERSION
    state.write_text(json.dumps({**st, "scores_version": ga.SCORES_VERSION - 1}))
    r = run_campaign(cfg, tmp_path / "o", run_id="run_later", resume_from=tmp_path / "o" / "run_first")
    assert "resumed_from" not in r.manifest and state.exists()
    for bad in ("first", "run_", "run_../x", "run_a/b"):
        with pytest.raises(ValueError, match="run_id"):
            run_campaign(cfg, tmp_path / "o", run_id=bad)


def test_when_several_seeds_fail_the_first_is_raised_and_the_others_are_said_with_it():
    import threading
    from omp_core.run import _search_seeds
    both = threading.Barrier(2, timeout=30)

    def search(seed, stop):
        both.wait()                 # both seeds are searching when they fail
        raise ValueError(f"seed {seed} failed")
    with pytest.raises(ValueError) as caught:
        _search_seeds([7, 11], 2, search)
    notes = getattr(caught.value, "__notes__", [])
    assert len(notes) == 1 and "another seed failed too" in notes[0]
    assert {str(caught.value), notes[0].split(": ", 1)[1]} == {"seed 7 failed", "ValueError('seed 11 failed')"} or \
        {str(caught.value), notes[0].split(": ", 1)[1]} == {"seed 11 failed", "ValueError('seed 7 failed')"}
