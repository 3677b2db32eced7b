"""The run process (services/miner/child.py) on its own: what it says on stdout."""
import json
import subprocess
import sys
import time

from helpers_services import long_campaign_root
from omp_services.miner.child import PROGRESS_EVERY_S


def test_progress_is_said_at_most_twice_a_second_and_at_every_seeds_end(tmp_path):
    """A generation of a small campaign takes milliseconds: a line each would be hundreds of writes
    in the miner and calls to the scheduler a second, for every run."""
    root = long_campaign_root(tmp_path, generations=300)
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "omp_services.miner.child", "--config", str(root / "long.toml"),
                          "--out", str(tmp_path / "runs"), "--run-id", "run_said"],
                         capture_output=True, text=True, timeout=300, check=True)
    took = time.monotonic() - t
    said = [json.loads(x) for x in out.stdout.splitlines() if '"progress"' in x]
    ends = [p for p in said if p["generation"] == p["generations"]]
    assert [(p["seed"], p["seeds_done"]) for p in ends] == [(7, 1), (11, 2)]    # each seed's end, in order
    assert said[0]["generation"] == 1                                          # the first straight away
    assert len(said) <= took / PROGRESS_EVERY_S + 1 + len(ends) < 300
    assert json.loads(out.stdout.splitlines()[-1])["event"] == "completed"


def test_seeds_side_by_side_report_in_turn_and_the_miner_counts_each_genome_once(tmp_path):
    """On two threads the run's two seeds are searched at once and their progress lines come in
    turn (every generation's here: the throttle off). The miner's evaluation counter follows each
    seed's own count, so it ends at the genomes the run evaluated, not at a sum of restarts."""
    from prometheus_client import CollectorRegistry

    from omp_services.miner.metrics import MinerMetrics
    root = long_campaign_root(tmp_path, generations=60)
    code = ("import sys; from omp_services.miner import child; child.PROGRESS_EVERY_S = 0.0; "
            "sys.exit(child.main(sys.argv[1:]))")
    out = subprocess.run([sys.executable, "-c", code, "--config", str(root / "long.toml"), "--out", str(tmp_path / "runs"),
                          "--run-id", "run_pair", "--threads", "2"], capture_output=True, text=True, timeout=300, check=True)
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    said = [p for p in lines if p["event"] == "progress"]
    seeds = [p["seed"] for p in said]
    first_end = next(i for i, p in enumerate(said) if p["generation"] == p["generations"])
    assert {7, 11} <= set(seeds[:first_end]), "the seeds were not searched side by side"
    metrics, seen = MinerMetrics(registry := CollectorRegistry()), {}
    for p in said:
        metrics.evaluated(seen, p["seed"], p["evaluations"])
    run_dir = next(p["run_dir"] for p in lines if p["event"] == "completed")
    timings = json.loads((tmp_path / "runs" / "run_pair" / "timings.json").read_text())
    assert run_dir.endswith("run_pair") and timings["seeds_at_once"] == 2
    assert registry.get_sample_value("omp_miner_evaluations_total") == timings["evaluations_this_session"]
