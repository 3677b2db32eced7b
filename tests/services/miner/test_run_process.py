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
