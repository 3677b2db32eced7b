"""OMP core benchmark: one JSON line per workload, each with its ratio to a reference measured in
the same run (these machines are shared and noisy: absolute times are indicative only).

Workloads
- ``sma_grid_<data>``: the classic grid of 1000 SMA-crossover pairs (fast 5..50 step 5 x slow
  60..258 step 2, long only, 0.1% fee per fill) as genomes through the production kernel, on one
  and two threads, against a plain NumPy vectorized implementation of the same rules and against
  the physical floor: a plain C loop of the same rules (``bench/c/sma_grid.c``, compiled here with
  gcc, final equity and trade counts only). It prints the kernel's ratio to the C loop, end to
  end (building and encoding the genomes too) and the Python cost per genome, and checks that the
  kernel and the C loop agree (final equity to 1e-12 relative, trades exactly);
- ``evaluator``: the search's seam (``LocalEvaluator``: genomes and a snapshot id in, metrics out),
  genomes per second per core on the daily grid;
- ``kernel_fixed_cost``: one genome over 10 bars, per call;
- ``pbo``: CSCV on a 2520 x 1000 matrix with 16 splits (12,870 combinations) against the obvious
  implementation (every split's submatrices built), timed on a sample of combinations;
- ``campaign``: the shipped example campaign, evaluations per second, against the kernel alone.

Data: ``../shared/data`` beside the checkout (or ``$OMP_SHARED_DATA``) for ^BVSP daily and the
FILUSDT one-minute file; without it the shipped (smaller) copies are used and the line says so.

Usage: ``python bench/run.py [--quick]``
"""
from __future__ import annotations

import argparse
import ctypes
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from omp_core import backtest, data, stats  # noqa: E402
from omp_core.features import FeatureBank  # noqa: E402
from omp_core.genome import sma_crossover  # noqa: E402
from omp_core.reference.stats import pbo_naive  # noqa: E402

FEE = 0.001


def emit(**fields) -> None:
    print(json.dumps(fields, sort_keys=False), flush=True)


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def shared_data() -> Path | None:
    p = Path(os.environ.get("OMP_SHARED_DATA", ROOT.parent / "shared" / "data"))
    return p if p.is_dir() else None


def load_bvsp() -> tuple[data.Market, str]:
    cm = data.ColumnMap(timestamp="Date", open="Open", high="High", low="Low", close="Close", volume="Volume")
    shared = shared_data()
    path = shared / "b3_BVSP_daily.csv" if shared and (shared / "b3_BVSP_daily.csv").exists() \
        else ROOT / "examples" / "data" / "bvsp_daily.csv"
    m = data.load_market([data.Source(path, cm, symbol="BVSP")], ["BVSP"],
                         data.ValidationPolicy(actions={"null_row": "drop"}))
    return m, str(path)


def load_filusdt() -> tuple[data.Market, str]:
    cm = data.ColumnMap(timestamp="open_time", timestamp_unit="ms")
    shared = shared_data()
    name = "binance_FILUSDT_1m_2023-08_2023-11.csv"
    path = shared / name if shared and (shared / name).exists() else ROOT / "examples" / "data" / "filusdt_1m_3days.csv"
    m = data.load_market([data.Source(path, cm, symbol="FILUSDT")], ["FILUSDT"], data.ValidationPolicy())
    return m, str(path)


def grid(quick: bool):
    fasts = list(range(5, 51, 5))
    slows = list(range(60, 259, 2))
    if quick:
        slows = slows[:10]
    return [(f, s) for f in fasts for s in slows]


def numpy_sma_grid(market: data.Market, bank: FeatureBank, pairs, chunk: int = 50) -> np.ndarray:
    """The same long-only crossover rules, vectorized over genomes: hold from the open after the
    close where SMA(fast) > SMA(slow) until the open after the close where it is below (ties and
    warm-up keep the previous state); 0.1% fee per fill; closed at the last close."""
    o, c = market.open[0], market.close[0]
    n = c.shape[0]
    feats = bank.values[0]
    final = np.empty(len(pairs))
    cols = np.arange(n)
    for c0 in range(0, len(pairs), chunk):
        part = pairs[c0:c0 + chunk]
        fast = feats[[bank.index(f"sma_{f}") for f, _ in part]]
        slow = feats[[bank.index(f"sma_{s}") for _, s in part]]
        raw = np.where(fast > slow, 1, np.where(fast < slow, 0, -1))
        idx = np.maximum.accumulate(np.where(raw >= 0, cols, 0), axis=1)
        state = np.take_along_axis(raw, idx, axis=1)
        state = np.where(state < 0, 0, state)
        pos = np.zeros_like(state)
        pos[:, 1:] = state[:, :-1]
        prev = np.zeros_like(pos)
        prev[:, 1:] = pos[:, :-1]
        c_prev = np.r_[c[0], c[:-1]]
        factor = np.ones(pos.shape)
        factor = np.where((pos == 1) & (prev == 1), c / c_prev, factor)
        factor = np.where((pos == 1) & (prev == 0), (1 - FEE) * c / o, factor)
        factor = np.where((pos == 0) & (prev == 1), o / c_prev * (1 - FEE), factor)
        equity = np.cumprod(factor, axis=1)
        equity[:, -1] *= np.where(pos[:, -1] == 1, 1 - FEE, 1.0)
        # the same per-genome summary the kernel gives: final equity, Sharpe, max drawdown
        r = np.diff(equity, axis=1, prepend=1.0) / np.concatenate([np.ones((len(part), 1)), equity[:, :-1]], axis=1)
        sharpe = r.mean(axis=1) / r.std(axis=1, ddof=1)
        mdd = np.max(1.0 - equity / np.maximum.accumulate(equity, axis=1), axis=1)
        final[c0:c0 + len(part)] = equity[:, -1] + 0.0 * (sharpe + mdd)
    return final


def c_loop(build: Path):
    """bench/c/sma_grid.c compiled into ``build`` (no fused multiply-add: the kernel has none)."""
    lib = build / "sma_grid.so"
    subprocess.run(["gcc", "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(lib),
                    str(ROOT / "bench" / "c" / "sma_grid.c")], check=True)
    fn = ctypes.CDLL(str(lib)).sma_grid
    ptr = np.ctypeslib.ndpointer
    fn.argtypes = [ptr(np.float64, flags="C"), ptr(np.float64, flags="C"), ctypes.c_ssize_t,
                   ptr(np.float64, flags="C"), ptr(np.int32, flags="C"), ptr(np.int32, flags="C"), ctypes.c_ssize_t,
                   ctypes.c_double, ptr(np.float64, flags="C"), ptr(np.int64, flags="C")]
    fn.restype = None
    return fn


def bench_grid(name: str, market: data.Market, source: str, quick: bool, build: Path) -> None:
    pairs = grid(quick)
    genomes = [sma_crossover(f, s) for f, s in pairs]
    names = sorted({n for g in genomes for n in g.feature_names()}, key=lambda x: int(x.split("_")[1]))
    t = time.perf_counter()
    bank = FeatureBank.build(market, names)
    t_feat = time.perf_counter() - t
    enc = backtest.encode(genomes, bank)
    costs = backtest.Costs(fee_bps=FEE * 1e4, slippage_bps=0.0)
    repeat = 5 if market.n_bars < 20_000 else 2
    ref = numpy_sma_grid(market, bank, pairs)
    t_np = best_of(lambda: numpy_sma_grid(market, bank, pairs), repeat)
    ev = backtest.evaluate(enc, market, bank, costs, curves=False)
    t1 = best_of(lambda: backtest.evaluate(enc, market, bank, costs, threads=1, curves=False), repeat)
    t2 = best_of(lambda: backtest.evaluate(enc, market, bank, costs, threads=2, curves=False), repeat)
    diff = float(np.max(np.abs(ev.final_equity() / ref - 1.0)))
    # the C loop on the same SMAs
    sma = c_loop(build)
    feats = np.ascontiguousarray(bank.values[0])
    fast = np.array([bank.index(f"sma_{f}") for f, _ in pairs], dtype=np.int32)
    slow = np.array([bank.index(f"sma_{s}") for _, s in pairs], dtype=np.int32)
    o, c = np.ascontiguousarray(market.open[0]), np.ascontiguousarray(market.close[0])
    c_final, c_trades = np.empty(len(pairs)), np.empty(len(pairs), dtype=np.int64)

    def run_c():
        sma(o, c, market.n_bars, feats, fast, slow, len(pairs), FEE, c_final, c_trades)
    run_c()
    t_c = best_of(run_c, repeat)
    c_diff = float(np.max(np.abs(ev.final_equity() / c_final - 1.0)))
    assert c_diff < 1e-12, f"the kernel and the C loop disagree: {c_diff:.3g} relative"
    assert np.array_equal(ev.fills, 2 * c_trades), "the kernel and the C loop count different trades"
    # end to end: the Python that builds and encodes the genomes (a few ms, whatever the bars: the
    # best of many runs, as noisy as the machine is), then the kernel
    t_build = best_of(lambda: [sma_crossover(f, s) for f, s in pairs], 20)
    t_encode = best_of(lambda: backtest.encode(genomes, bank), 20)
    bar_strats = len(genomes) * market.n_bars
    emit(workload=f"sma_grid_{name}", source=source, bars=market.n_bars, genomes=len(genomes),
         features_s=round(t_feat, 4), numpy_s=round(t_np, 4), c_loop_s=round(t_c, 4), kernel_1t_s=round(t1, 4),
         kernel_2t_s=round(t2, 4), ns_per_bar_strategy_1t=round(t1 / bar_strats * 1e9, 3),
         ns_per_bar_strategy_c=round(t_c / bar_strats * 1e9, 3), kernel_ratio_to_c=round(t1 / t_c, 2),
         python_us_per_genome=round((t_build + t_encode) / len(genomes) * 1e6, 2),
         end_to_end_ratio_to_c=round((t_build + t_encode + t1) / t_c, 2),
         bar_strategies_per_s_1t=round(bar_strats / t1), speedup_vs_numpy_1t=round(t_np / t1, 2),
         speedup_2t_vs_1t=round(t1 / t2, 2), max_rel_diff_vs_numpy=diff, max_rel_diff_vs_c=c_diff)


def bench_evaluator(market: data.Market, quick: bool) -> None:
    """The search's seam: genomes per second per core through LocalEvaluator (metrics included)."""
    from omp_core import config
    from omp_core.evaluator import LocalEvaluator, Scoring, Snapshot
    genomes = [sma_crossover(f, s) for f, s in grid(quick)]
    names = sorted({n for g in genomes for n in g.feature_names()}, key=lambda x: int(x.split("_")[1]))
    bank = FeatureBank.build(market, names)
    scoring = Scoring(config.GA(), "sharpe", 252.0, 1.0)
    snap = Snapshot(market, bank, backtest.Costs(fee_bps=FEE * 1e4), 0, market.n_bars, scoring)
    rates = {}
    for threads in (1, 2):
        ev = LocalEvaluator(threads)
        ev.register("bench", snap)
        rates[threads] = len(genomes) / best_of(lambda: ev.evaluate(genomes, "bench"), 3)
    emit(workload="evaluator", bars=market.n_bars, genomes=len(genomes),
         genomes_per_s_per_core=round(rates[1]), genomes_per_s_2t=round(rates[2]),
         scaling_2t=round(rates[2] / rates[1], 2))


def bench_fixed_cost(market: data.Market) -> None:
    g = [sma_crossover(5, 60)]
    bank = FeatureBank.build(market, g[0].feature_names())
    enc = backtest.encode(g, bank)
    costs = backtest.Costs()
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        backtest.evaluate(enc, market, bank, costs, start=market.n_bars - 10)
    per_call = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for _ in range(n):
        np.zeros((1, 10))
    alloc = (time.perf_counter() - t) / n
    emit(workload="kernel_fixed_cost", bars=10, per_call_ms=round(per_call * 1e3, 4),
         ratio_to_numpy_alloc=round(per_call / alloc, 1))


def bench_pbo(quick: bool) -> None:
    t_len, n = (504, 100) if quick else (2520, 1000)
    m = np.random.default_rng(0).normal(0.0002, 0.01, size=(t_len, n))
    tracemalloc.start()
    t = time.perf_counter()
    res = stats.pbo(m, 16)
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the obvious implementation, timed on a sample of combinations and scaled up
    sample = 16 if quick else 64
    blocks = np.array_split(np.arange(t_len), 16)
    t = time.perf_counter()
    for combo in itertools.islice(itertools.combinations(range(16), 8), sample):
        rows = np.concatenate([blocks[i] for i in combo])
        other = np.setdiff1d(np.arange(t_len), rows)
        for part in (m[rows], m[other]):
            part.mean(axis=0) / part.std(axis=0, ddof=1)
    naive = (time.perf_counter() - t) / sample * res.n_combinations
    small = m[:64, :6]
    assert abs(stats.pbo(small, 8).pbo - pbo_naive(small, 8)[0]) < 1e-12
    emit(workload="pbo", rows=t_len, strategies=n, splits=16, combinations=res.n_combinations,
         seconds=round(elapsed, 3), peak_mb=round(peak / 2**20, 1), matrix_mb=round(m.nbytes / 2**20, 1),
         naive_estimated_s=round(naive, 2), speedup_vs_naive=round(naive / elapsed, 1), pbo=round(res.pbo, 4))


SPIN = "import time\nt = time.perf_counter()\nx = 0\nfor i in range(4_000_000): x += i * i\nprint(time.perf_counter() - t)"


def machine_scaling() -> float:
    """What two cores give here: two CPU-bound processes at once against one alone, as
    throughput (2.0 is two whole cores; a shared or throttled machine gives less). The best of
    three."""
    def spin(n: int) -> list[float]:
        procs = [subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True) for _ in range(n)]
        return [float(p.communicate()[0]) for p in procs]
    best = 0.0
    for _ in range(3):
        one, two = spin(1)[0], spin(2)
        best = max(best, 2 * one / max(two))
    return best


def bench_campaign(quick: bool, out: Path) -> None:
    """The shipped example campaign, evaluations per second of search on one thread and on two
    (the best of three runs each: a search of a fraction of a second is at the mercy of the
    machine), against its bare kernel: the same genomes (every one the search evaluated, from the
    run's journals), in batches of the population's size, through the kernel alone on two threads
    as the search calls it (in-sample bars, no curves). The two-thread speedup comes with what two
    CPU-bound processes get from this machine in the same run (``machine_2proc_scaling``).

    Each campaign runs as campaigns run, ``omp run-campaign`` in a process of its own: run in
    this process, after the other workloads and beside what they left, the one-thread figure lost
    a third."""
    from concurrent.futures import ThreadPoolExecutor

    from omp_core import config
    from omp_core.ga import EvaluationCache
    cfg = ROOT / ("tests/fixtures/campaigns/tiny.toml" if quick else "examples/campaigns/us_daily_momentum.toml")
    omp = Path(sys.executable).with_name("omp")
    eps: dict[int, float] = {}
    for i in range(3):
        for threads in (1, 2):
            run_id = f"run_bench{threads}x{i}"
            t = time.perf_counter()
            subprocess.run([str(omp), "run-campaign", str(cfg), "--out", str(out), "--threads", str(threads),
                            "--run-id", run_id, "--json"], check=True, stdout=subprocess.DEVNULL, timeout=600)
            total = time.perf_counter() - t
            run_dir = out / run_id
            tm = json.loads((run_dir / "timings.json").read_text())
            eps[threads] = max(eps.get(threads, 0.0), tm["evaluations_per_second"])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    c = config.load(cfg)
    market = data.load_market(c.sources(), c.mandate.universe, c.data.validation.policy())
    bank = FeatureBank.build(market, c.strategy.feature_names())
    split = manifest["split"]["in_sample_bars"]
    costs = backtest.Costs(c.costs.fee_bps, c.costs.slippage_bps)
    batches = []
    for journal in sorted((run_dir / "checkpoints").glob("*.cache.jsonl")):
        seen = EvaluationCache("", "")
        for line in journal.read_bytes().splitlines():
            seen.load_line(line)
        genomes = [seen.genome(h) for h in seen.entries]
        batches += [genomes[i:i + c.ga.population] for i in range(0, len(genomes), c.ga.population)]
    evaluated = sum(map(len, batches))
    with ThreadPoolExecutor(2) as pool:
        k = best_of(lambda: [backtest.evaluate(b, market, bank, costs, end=split, threads=2, curves=False, pool=pool)
                             for b in batches], 3)
    kernel_eps = evaluated / k
    emit(workload="campaign", config=str(cfg.relative_to(ROOT)), symbols=len(market.symbols),
         in_sample_bars=split, seconds=round(total, 2), seeds=len(c.seeds), seeds_at_once=tm.get("seeds_at_once", 1),
         evaluations=tm["evaluations_this_session"], evaluations_per_s_1t=round(eps[1]),
         evaluations_per_s=round(eps[2]), kernel_only_evaluations_per_s=round(kernel_eps),
         share_of_kernel_speed=round(eps[2] / kernel_eps, 3), speedup_2t_vs_1t=round(eps[2] / eps[1], 2),
         machine_2proc_scaling=round(machine_scaling(), 2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    args = ap.parse_args()
    bvsp, src = load_bvsp()
    with tempfile.TemporaryDirectory() as build:
        bench_grid("daily_bvsp", bvsp, src, args.quick, Path(build))
        if not args.quick:
            fil, src = load_filusdt()
            bench_grid("intraday_filusdt", fil, src, args.quick, Path(build))
    bench_evaluator(bvsp, args.quick)
    bench_fixed_cost(bvsp)
    bench_pbo(args.quick)
    with tempfile.TemporaryDirectory() as tmp:
        bench_campaign(args.quick, Path(tmp))


if __name__ == "__main__":
    main()
