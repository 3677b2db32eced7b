"""Retention on a folder of real run folders with faked ages: it keeps, deletes, compresses and
archives exactly what the policy says, never a running run's folder or one the miner does not
know, and a compressed folder restores to the same bytes."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from omp_services.common.clock import SystemClock
from omp_services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from omp_services.watchdog.ports import RunFolder
from omp_services.watchdog.retention import ARCHIVE, Retention, compress, restore
from omp_services.watchdog.settings import RetentionSettings

DAY = 86400.0


class Miner:
    def __init__(self, folders):
        self.folders = folders

    def run_folders(self):
        return self.folders


def make_run(runs: Path, name: str, age_days: float, size: int = 20_000) -> Path:
    d = runs / name
    (d / "checkpoints").mkdir(parents=True)
    (d / "manifest.json").write_text('{"run": "%s"}' % name)
    (d / "candidates.json").write_bytes(os.urandom(size // 2) + b"x" * (size // 2))
    (d / "checkpoints" / "seed_7.json").write_text("{}" * 100)
    t = time.time() - age_days * DAY
    for p in [*d.rglob("*"), d]:
        os.utime(p, (t, t))
    return d


@pytest.fixture
def shelf(tmp_path):
    runs = tmp_path / "runs"
    ages_a = {f"run_a{k}": age for k, age in enumerate((0.2, 1, 2, 3, 8, 9, 10))}    # 7 folders, newest first
    ages_b = {"run_b0": 10, "run_b1": 40}
    for name, age in {**ages_a, **ages_b}.items():
        make_run(runs, name, age)
    make_run(runs, "run_unknown", 90)                        # a local run-campaign's, say
    folders = [RunFolder(str(runs / n), "camp_a", n == "run_a6") for n in ages_a]   # the oldest one is running
    folders += [RunFolder(str(runs / n), "camp_b", False) for n in ages_b]
    cfg = RetentionSettings(keep_runs=5, compress_after_days=7, archive_after_days=30,
                            cold_dir=str(tmp_path / "cold"))
    return Retention(cfg, runs, tmp_path / "artifacts" / "hall_of_fame", SystemClock(), Miner(folders)), runs, tmp_path


def test_the_plan_follows_the_policy_and_a_dry_run_changes_nothing(shelf):
    ret, runs, tmp = shelf
    before = sorted(p.name for p in runs.iterdir())
    plan = {Path(a.path).name: a for a in ret.plan()}
    assert sorted(p.name for p in runs.iterdir()) == before
    kinds = {n: a.kind for n, a in plan.items()}
    assert kinds == {"run_a0": "keep", "run_a1": "keep", "run_a2": "keep", "run_a3": "keep",
                     "run_a4": "compress",                  # kept (5 newest) but older than 7 days
                     "run_a5": "delete",                    # the 6th newest of camp_a
                     "run_a6": "keep",                      # the 7th, but a running run uses it
                     "run_b0": "compress", "run_b1": "archive", "run_unknown": "keep"}
    assert plan["run_a6"].why == "a running run uses it" and "not a run the miner knows" in plan["run_unknown"].why
    assert all(a.bytes > 20_000 for a in plan.values())


def test_applying_it_deletes_compresses_and_archives_exactly_that(shelf):
    ret, runs, tmp = shelf
    digest = {p.name: sorted((q.relative_to(p), q.read_bytes()) for q in p.rglob("*") if q.is_file())
              for p in runs.iterdir()}
    outcome = ret.apply(ret.plan())
    assert not outcome.failed
    left = sorted(p.name for p in runs.iterdir())
    assert left == ["run_a0", "run_a1", "run_a2", "run_a3", f"run_a4{ARCHIVE}", "run_a6", f"run_b0{ARCHIVE}",
                    "run_unknown"]
    assert sorted(p.name for p in (tmp / "cold").iterdir()) == [f"run_b1{ARCHIVE}"]
    assert outcome.freed_bytes > 20_000 and outcome.compressed_bytes > 40_000
    # a compressed folder lists and comes back byte for byte
    assert [p.name for p in ret.archives()] == [f"run_a4{ARCHIVE}", f"run_b0{ARCHIVE}", f"run_b1{ARCHIVE}"]
    back = ret.restore("run_a4")
    assert back == runs / "run_a4"
    assert sorted((q.relative_to(back), q.read_bytes()) for q in back.rglob("*") if q.is_file()) == digest["run_a4"]
    with pytest.raises(InvalidArgument, match="already in"):
        ret.restore("run_a4")
    with pytest.raises(NotFound):
        ret.restore("run_nothing")
    with pytest.raises(InvalidArgument, match="run_<id>"):
        ret.restore("../etc")


def test_a_folder_written_in_the_last_hour_is_never_touched(tmp_path):
    runs = tmp_path / "runs"
    names = [f"run_c{k}" for k in range(3)]
    for n in names:
        make_run(runs, n, 0.01)                             # all fresh
    ret = Retention(RetentionSettings(keep_runs=1), runs, tmp_path / "hof", SystemClock(),
                    Miner([RunFolder(str(runs / n), "camp_c", False) for n in names]))
    assert {a.kind for a in ret.plan()} == {"keep"}


def test_an_archive_that_does_not_read_back_removes_nothing(tmp_path, monkeypatch):
    d = make_run(tmp_path, "run_x", 10)
    import omp_services.watchdog.retention as r
    monkeypatch.setattr(r, "_digest_tree", lambda root: {"manifest.json": "not what the archive holds"})
    with pytest.raises(OSError, match="does not read back"):
        compress(d)
    assert d.is_dir() and not (tmp_path / f"run_x{ARCHIVE}").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_restore_refuses_an_archive_that_would_write_outside(tmp_path):
    import io
    import tarfile
    import zstandard
    evil = tmp_path / f"run_evil{ARCHIVE}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"owned"
        info = tarfile.TarInfo("../../outside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    evil.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    with pytest.raises(tarfile.TarError):
        restore(evil, tmp_path / "runs")
    assert not (tmp_path.parent / "outside.txt").exists()


def test_a_run_a_hall_of_fame_entry_points_to_is_never_touched(shelf):
    """The runs the entries' provenance.json name are kept whatever their age or rank; an entry
    whose provenance cannot be read stops the plan rather than risk removing its run."""
    import json
    ret, runs, tmp = shelf
    from omp_core.atomic import write_folder
    write_folder(ret.hof_dir / ("a" * 64), {"provenance.json": json.dumps({"run_id": "run_a5"}).encode()},
                 read_only=True)
    write_folder(ret.hof_dir / ("b" * 64), {"provenance.json": json.dumps({"run_id": "run_b1"}).encode()})
    plan = {Path(a.path).name: a for a in ret.plan()}
    assert plan["run_a5"].kind == plan["run_b1"].kind == "keep"
    assert plan["run_a5"].why == "a Hall of Fame entry points to it"
    outcome = ret.apply(ret.plan())
    assert (runs / "run_a5").is_dir() and (runs / "run_b1").is_dir() and not outcome.failed
    (ret.hof_dir / "notes.txt").write_text("an operator's note")     # not an entry: ignored
    assert {Path(a.path).name: a.kind for a in ret.plan()}["run_a5"] == "keep"
    (ret.hof_dir / ("c" * 64)).mkdir()                      # no provenance: nothing is judged safe
    with pytest.raises(FailedPrecondition, match="provenance unreadable"):
        ret.plan()
