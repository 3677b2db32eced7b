"""The miner's metrics of its running runs: a series per run (two runs never overwrite one gauge),
with when each last reported progress (what a stuck-run alert reads), gone when the run ends."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from services.common.vocabulary import RunStatus
from services.miner.entities import Run
from services.miner.metrics import MinerMetrics


class Runs:
    def __init__(self, runs):
        self.runs = runs

    def list(self, status="", limit=50, **kw):
        found = [r for r in self.runs if not status or r.status == status]
        return found[:limit], len(found)


def _run(run_id, campaign, generation, updated_at, status=RunStatus.RUNNING):
    return Run(run_id=run_id, campaign_id=campaign, attempt=1, status=status, config_path="c.toml", config_hash="h",
               run_dir="", pid=1, proc_started=0.0, progress={"generation": generation, "best_sharpe": 1.5,
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
