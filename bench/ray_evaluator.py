"""Evaluator benchmark across backends: one JSON line per figure, each with its ratio to the local
backend measured in the same run (these machines are shared and noisy).

- ``evaluator_local``: genomes per second through ``LocalEvaluator`` on one thread and on two;
- ``evaluator_ray_1_node`` / ``evaluator_ray_2_nodes``: the same genomes through ``RayEvaluator`` on
  a real Ray cluster on this machine (a head, then a second node, one CPU and one scoring thread
  each, token authentication on), after each actor built its snapshot; scaling efficiency is the
  two nodes' rate over twice the one node's;
- ``ray_batch_overhead``: what a batch costs on Ray beyond its scoring: one genome per call,
  against the same genome scored locally;
- the batch size ``RayEvaluator`` chooses for the generation measured.

Data: a large universe, daily (``all_stocks_5yr.csv``: 60 symbols of ``../shared/data`` or
``$OMP_SHARED_DATA``); without it the shipped eight-stock file, and the line says which.
Usage: ``python bench/ray_evaluator.py [--quick]``
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent

from omp_core import _draws, config as config_mod, data, ga  # noqa: E402
from omp_core.evaluator import LocalEvaluator, SnapshotSource  # noqa: E402
from omp_core.ray_evaluator import NAMESPACE, RayEvaluator, batch_size  # noqa: E402

CAMPAIGN = """version = 1
seeds = [1]
[campaign]
name = "bench-ray"
[mandate]
market = "us"
universe = {universe}
timeframe = "1d"
[data]
min_bars = 500
[[data.sources]]
path = "{path}"
symbol_column = "Name"
timestamp = "date"
[data.validation]
null_row = "drop"
nan_price = "repair"
ohlc_inconsistent = "repair"
jump = "keep"
[strategy]
sma = [10, 20, 50, 100, 200]
ema = [10, 30]
rsi = [7, 14]
roc = [5, 20, 60]
zscore = [20]
sides = ["long", "short"]
max_entry_conditions = 3
max_exit_conditions = 2
stop_loss = [0.0, 0.10]
take_profit = [0.0, 0.25]
max_hold = [0, 60]
[ga]
population = 96
generations = 2
[costs]
fee_bps = 5.0
slippage_bps = 5.0
"""


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def campaign(folder: Path) -> tuple[Path, str]:
    shared = Path(os.environ.get("OMP_SHARED_DATA", ROOT.parent / "shared" / "data")) / "all_stocks_5yr.csv"
    if shared.exists():
        import collections
        import csv
        with open(shared) as fh:
            rows = collections.Counter(row["Name"] for row in csv.DictReader(fh))
        full = max(rows.values())            # symbols with the whole five years
        path, universe = shared, sorted(n for n, k in rows.items() if k == full)[:60]
    else:
        path, universe = ROOT / "examples" / "data" / "us_stocks_2013_2018.csv", \
            ["AAPL", "MSFT", "JPM", "XOM", "JNJ", "KO", "PG", "WMT"]
    cfg = folder / "bench_ray.toml"
    cfg.write_text(CAMPAIGN.format(universe=json.dumps(universe), path=path))
    return cfg, str(path)


def rate(evaluate, genomes, repeat: int) -> float:
    """Genomes per second, best of ``repeat``."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        evaluate(genomes)
        best = min(best, time.perf_counter() - t)
    return len(genomes) / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeat, n = (2, 600) if args.quick else (3, 2000)
    folder = Path(tempfile.mkdtemp(prefix="omp-ray-", dir="/tmp"))       # Ray's socket paths must be short
    cfg_path, source_path = campaign(folder)
    cfg = config_mod.load(cfg_path)
    market = data.load_market(cfg.sources(), cfg.mandate.universe, cfg.data.validation.policy(),
                              min_bars=cfg.data.min_bars)
    split = int(round(market.n_bars * (1.0 - cfg.validation.holdout_fraction)))
    source = SnapshotSource(str(cfg_path), None, 0, split, market.snapshot_id, cfg.config_hash)
    snap = source.load()
    rng = _draws.Stream((11,))
    space = ga.SearchSpace(cfg.strategy, snap.bank, split)
    genomes = [space.genome(rng) for _ in range(n)]

    local = {}
    for threads in (1, 2):
        ev = LocalEvaluator(threads)
        ev.register("s", snap)
        local[threads] = rate(lambda g: ev.evaluate(g, "s"), genomes, repeat)
    one = LocalEvaluator(1)
    one.register("s", snap)
    emit(workload="evaluator_local", data=source_path, symbols=len(market.symbols), bars=split, genomes=n,
         genomes_per_s_1t=round(local[1]), genomes_per_s_2t=round(local[2]),
         scaling_2t=round(local[2] / local[1], 2))

    # Ray reads its authentication settings when it is imported: set them first
    token = folder / "token"
    token.write_text(secrets.token_hex(32))
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token), RAY_USAGE_STATS_ENABLED="0")
    Path(tempfile.gettempdir(), "ray").mkdir(exist_ok=True)          # where Ray notes the current cluster
    import ray
    from ray.cluster_utils import Cluster
    t0 = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "temp_dir": str(folder / "t")})
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    start_s = time.perf_counter() - t0
    try:
        rates = {}
        for nodes in (1, 2):
            if nodes == 2:
                cluster.add_node(num_cpus=1)
                cluster.wait_for_nodes()
            ev = RayEvaluator(threads_per_node=1)
            ev.register("s", source, snap.scoring, len(market.symbols))
            t = time.perf_counter()
            ev.evaluate(genomes[: 2 * nodes], "s")           # each actor builds its snapshot once
            build_s = time.perf_counter() - t
            got = None

            def run(g):
                nonlocal got
                got = ev.evaluate(g, "s")
            rates[nodes] = rate(run, genomes, repeat)
            same = got.tobytes() == one.evaluate(genomes, "s").tobytes()
            fields = dict(workload=f"evaluator_ray_{nodes}_node{'s' if nodes > 1 else ''}", genomes=n,
                          genomes_per_s=round(rates[nodes]), ratio_to_local_1t=round(rates[nodes] / local[1], 3),
                          batch_size=batch_size(n, nodes), batches=-(-n // batch_size(n, nodes)),
                          first_call_s=round(build_s, 2), bit_identical_to_local=same)
            if nodes == 2:
                fields.update(scaling_efficiency=round(rates[2] / (2 * rates[1]), 3),
                              ratio_to_local_2t=round(rates[2] / local[2], 3))
            else:
                fields.update(cluster_start_s=round(start_s, 2))
            emit(**fields)
            if not same:
                raise SystemExit(f"Ray on {nodes} node(s) did not give the local evaluator's bits")
            if nodes == 1:
                # a batch's cost beyond its scoring: one genome per call, against scoring it here
                calls = 30 if args.quick else 100
                g1 = genomes[:1]
                ray_t, local_t = [], []
                for _ in range(calls):
                    t = time.perf_counter()
                    ev.evaluate(g1, "s")
                    ray_t.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    one.evaluate(g1, "s")
                    local_t.append(time.perf_counter() - t)
                over = statistics.median(ray_t) - statistics.median(local_t)
                emit(workload="ray_batch_overhead", calls=calls, per_batch_ms=round(over * 1e3, 3),
                     ray_call_ms=round(statistics.median(ray_t) * 1e3, 3),
                     local_call_ms=round(statistics.median(local_t) * 1e3, 3),
                     ratio_to_local_call=round(statistics.median(ray_t) / statistics.median(local_t), 1),
                     per_genome_us_in_chosen_batches=round(over / batch_size(n, 1) * 1e6, 2))
            ev.close()
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
