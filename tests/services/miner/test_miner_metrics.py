"""The miner's metrics of its running runs: a series per run (two runs never overwrite one gauge),
with when each last reported progress (what a stuck-run alert reads), gone when the run ends."""
from __future__ import annotations

import os
import subprocess
import sys

import psutil
from prometheus_client import CollectorRegistry, generate_latest

from helpers_services import wait_for
from omp_services.common.vocabulary import RunStatus
from omp_services.miner.entities import Run
from omp_services.miner.metrics import MinerMetrics


def _gone_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


class Runs:
    def __init__(self, runs):
        self.runs = runs

    def list(self, status="", limit=50, **kw):
        found = [r for r in self.runs if not status or r.status == status]
        return found[:limit], len(found)


def _run(run_id, campaign, generation, updated_at, status=RunStatus.RUNNING, pid=None):
    return Run(run_id=run_id, campaign_id=campaign, attempt=1, status=status, config_path="c.toml", config_hash="h",
               run_dir="", pid=pid or _gone_pid(), proc_started=0.0, progress={"generation": generation, "best_sharpe": 1.5,
                                                              "evaluations": 40}, started_at=100.0,
               updated_at=updated_at)


def test_each_running_run_has_its_own_series_and_an_ended_one_has_none():
    registry = CollectorRegistry()
    metrics = MinerMetrics(registry)
    runs = Runs([_run("run_a", "camp_1", 3, 150.0), _run("run_b", "camp_2", 7, 170.0),
                 _run("run_c", "camp_3", 9, 180.0, status=RunStatus.COMPLETED)])
    metrics.watch(runs)
    value = registry.get_sample_value
    assert value("omp_miner_run_generation", {"run_id": "run_a", "campaign_id": "camp_1"}) == 3
    assert value("omp_miner_run_generation", {"run_id": "run_b", "campaign_id": "camp_2"}) == 7
    assert value("omp_miner_run_last_progress_timestamp_seconds", {"run_id": "run_b", "campaign_id": "camp_2"}) == 170
    assert value("omp_miner_run_started_timestamp_seconds", {"run_id": "run_a", "campaign_id": "camp_1"}) == 100
    assert value("omp_miner_run_generation", {"run_id": "run_c", "campaign_id": "camp_3"}) is None
    runs.runs = runs.runs[1:]                        # run_a ended: its series are gone at the next scrape
    text = generate_latest(registry).decode()
    assert 'run_id="run_a"' not in text and 'run_id="run_b"' in text


def test_a_running_run_reports_the_memory_of_its_process_tree():
    """The input of the memory-runaway alert: this process stands for a run, with a child that
    holds 64 MiB; a run whose process is gone reports 0."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; b = bytearray(64 << 20); sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        def tree():
            return sum(p.memory_info().rss for p in [psutil.Process(), *psutil.Process().children(recursive=True)])
        wait_for(lambda: psutil.Process(child.pid).memory_info().rss >= 64 << 20, timeout=30, what="the child's 64 MiB")
        registry = CollectorRegistry()
        MinerMetrics(registry).watch(Runs([_run("run_me", "camp_1", 1, 1.0, pid=os.getpid()),
                                           _run("run_gone", "camp_2", 1, 1.0)]))
        rss = registry.get_sample_value("omp_miner_run_resident_memory_bytes", {"run_id": "run_me", "campaign_id": "camp_1"})
        assert rss >= (64 << 20) and abs(rss - tree()) < 0.1 * tree()
        assert registry.get_sample_value("omp_miner_run_resident_memory_bytes",
                                         {"run_id": "run_gone", "campaign_id": "camp_2"}) == 0
    finally:
        child.kill()
        child.wait()


def test_evaluations_count_across_seeds_searched_side_by_side():
    """A run's progress counts the genomes of the seed that reports, and a run's seeds report in
    turn (searched side by side): the total adds each seed's own growth."""
    registry = CollectorRegistry()
    metrics = MinerMetrics(registry)
    seen: dict[int, int] = {}
    for seed, reported in ((7, 100), (11, 50), (7, 200), (11, 150), (7, 200), (11, 150), (13, 30)):
        metrics.evaluated(seen, seed, reported)
    assert registry.get_sample_value("omp_miner_evaluations_total") == 200 + 150 + 30
