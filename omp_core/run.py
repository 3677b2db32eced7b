"""A whole campaign on one machine: data, features, one genetic search per seed, out-of-sample
validation of the best candidates, and a run folder a quant can trust.

Run folder ``run_<run_id>/``:
- ``manifest.json``: run_id, config_hash, canonical config, git_sha, snapshot_id, seeds, the
  in-sample / out-of-sample split, library versions and every action validation took on the data;
- ``candidates.json``: the top candidates with in-sample and out-of-sample metrics, DSR, the run's
  PBO, the variance of Sharpe across candidates and the stress results;
- ``candidates/<rank>_<hash12>/``: ``strategy.toml``, ``trades.csv`` and ``equity.png`` per candidate;
- ``checkpoints/seed_<seed>.json`` and ``.cache.jsonl``: the search state after the last checkpointed generation
  and the journal of every evaluation (the resume point, and the trials the DSR counts);
- ``timings.json``: wall-clock figures, the only file that differs between two identical runs.

Everything but ``timings.json`` is a pure function of (config, data, seeds, code version).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import platform
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from omp_core import __version__, backtest, config as config_mod, data, ga, stats, stress
from omp_core.atomic import sweep_temporaries, write_bytes, write_text
from omp_core.evaluator import LocalEvaluator, SnapshotSource, campaign_snapshot, window_id
from omp_core.features import FeatureBank

MANIFEST_FORMAT = "omp.run/1"


class RuntimeLimitExceeded(RuntimeError):
    """``constraints.max_runtime_minutes`` ran out; the checkpoints allow a resume."""


class _Stopped(BaseException):
    """Another seed's search failed, or the caller was interrupted: this one stops after its
    generation (checkpointed, like any stop a progress callback raises)."""


def seed_workers(backend: str, threads: int, n_seeds: int) -> tuple[int, int]:
    """How a campaign spreads ``threads`` over its seeds: (seeds searched at once, kernel threads
    per evaluation). A search is about a third Python (the bookkeeping around the compiled
    breeding, hashing and kernel), which holds the GIL, and two thirds kernel, which does not: seeds
    side by side keep two cores busy where one seed's batches split over two threads cannot
    (measured on the shipped example, 3 seeds on 2 threads: 1.4-1.9x one thread, against 1.0-1.2x
    for each seed's batches split over both threads). All the seeds go at once, up to
    twice the threads, so that they finish together; a lone seed gets every thread for its
    batches. A Ray cluster scores batches in parallel already, and its evaluator is called from
    one thread: its seeds go one after the other."""
    if backend != "local" or threads <= 1 or n_seeds <= 1:
        return 1, threads
    workers = min(n_seeds, 2 * threads)
    return workers, max(1, threads // workers)


def _search_seeds(seeds: list[int], workers: int, search: Callable[[int, threading.Event], object]) -> dict:
    """``search(seed, stop)`` for every seed, ``workers`` at a time, results by seed in the given
    order. The first failure stops the other searches at their next generation (``stop``) and is
    raised once they have; so does an interrupt of the calling thread."""
    stop = threading.Event()
    if workers <= 1:
        return {seed: search(seed, stop) for seed in seeds}
    results: dict = {}
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        if stop.is_set():
            return
        try:
            results[seed] = search(seed, stop)
        except _Stopped:
            pass
        except BaseException as exc:     # noqa: B036 - raised again in the calling thread
            errors.append(exc)
            stop.set()

    with ThreadPoolExecutor(workers, thread_name_prefix="omp-seed") as pool:
        try:
            for f in [pool.submit(work, seed) for seed in seeds]:
                f.result()
        except BaseException:
            stop.set()          # the pool's exit waits for the searches, each within a generation
            raise
    if errors:
        for other in errors[1:]:            # raised is the first; the others are said with it
            errors[0].add_note(f"another seed failed too: {other!r}")
        raise errors[0]
    return {seed: results[seed] for seed in seeds}


@dataclass(frozen=True)
class RunResult:
    run_id: str
    run_dir: Path
    manifest: dict
    candidates: dict


PACKAGE_DIR = Path(__file__).resolve().parent
#: written into the installed package by the build (setup.py) from the checkout it was built from
BUILD_STAMP = "_build_commit.json"
RUN_ID_RE = re.compile(r"^run_[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")


def _git(where: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10,
                          check=True).stdout.strip()


def code_version(package_dir: Path = PACKAGE_DIR) -> dict:
    """The code a run ran: the commit of the checkout this package runs from (with ``dirty`` when
    tracked files differ from it), else the commit stamped into the package when it was built,
    else unknown (and a run without a known code version is never promoted)."""
    try:
        if Path(_git(package_dir, "rev-parse", "--show-toplevel")).resolve() == package_dir.parent:
            return {"commit": _git(package_dir, "rev-parse", "HEAD"),
                    "dirty": bool(_git(package_dir, "status", "--porcelain", "--untracked-files=no")),
                    "source": "checkout"}
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        stamp = json.loads((package_dir / BUILD_STAMP).read_text())
        return {"commit": str(stamp["commit"]), "dirty": bool(stamp["dirty"]), "source": "build"}
    except (OSError, ValueError, KeyError, TypeError):
        return {"commit": "unknown", "dirty": None, "source": "unknown"}


def git_sha() -> str:
    """The commit of :func:`code_version` ("unknown" when it is not known)."""
    return code_version()["commit"]


def _clean(obj):
    """JSON-safe: numpy scalars to Python, non-finite floats to null (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def dumps(obj) -> str:
    return json.dumps(_clean(obj), sort_keys=True, indent=2, allow_nan=False) + "\n"


def _versions() -> dict:
    import scipy
    return {"omp": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__}


def _check_timeframe(cfg, market) -> None:
    step = np.median(np.diff(market.timestamps.astype(np.int64)))
    want = config_mod.TIMEFRAMES[cfg.mandate.timeframe]
    if step != want:
        raise config_mod.ConfigError("mandate.timeframe", f"does not match the data, whose median bar "
                                     f"spacing is {int(step)} s (want {want} s)", cfg.mandate.timeframe)


def _metrics(returns, equity, fills, n_symbols, ppy) -> dict:
    sr = stats.sharpe_ratio(returns)
    skew, kurt = stats.moments(returns)
    ann = math.sqrt(ppy)
    return {
        "bars": int(returns.size), "sharpe": sr * ann, "sharpe_per_period": sr,
        "sortino": stats.sortino_ratio(returns) * ann, "max_drawdown": stats.max_drawdown(equity),
        "calmar": stats.calmar_ratio(equity, ppy), "cagr": stats.cagr(equity, ppy),
        "total_return": float(equity[-1] - 1.0), "trades": int(fills) // 2,
        "turnover_per_year": stats.annual_turnover(int(fills), returns.size, n_symbols, ppy),
        "skew": skew, "kurtosis": kurt,
        "psr_vs_zero": stats.probabilistic_sharpe_ratio(sr, 0.0, returns.size, skew, kurt),
    }


def _trades_csv(rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["period", "symbol", "side", "entry_time", "exit_time", "entry_price", "exit_price",
                "net_return", "bars_held", "exit_reason"])
    for period, t in rows:
        w.writerow([period, t.symbol, t.side, t.entry_time, t.exit_time, repr(t.entry_price),
                    repr(t.exit_price), repr(t.net_return), t.bars_held, t.exit_reason])
    return buf.getvalue()


def default_run_id(config_hash: str, snapshot: str, seeds, salt: str = "") -> str:
    """Content-addressed: the same config, data, seeds and code version (and ``salt``) give the
    same run id, hence the same folder, hence a resume (a local ``omp run-campaign``; the miner
    names each run itself and hands the checkpoints on)."""
    key = f"{config_hash}|{snapshot}|{list(seeds)}|{__version__}" + (f"|{salt}" if salt else "")
    return "run_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _take_checkpoints(source: Path, run_dir: Path, snapshot_id: str, config_hash: str) -> list[str]:
    """Move the checkpoints of an earlier, unfinished run of the same campaign into ``run_dir``,
    each only if it was made on the same data and config, with the same scores (``ga.foreign``),
    and ``run_dir`` has none of its own for
    that seed: the new run resumes where that one stopped. Returns the files taken."""
    taken = []
    src = source / "checkpoints"
    if not src.is_dir() or source.resolve() == run_dir.resolve():
        return taken
    for state in sorted(src.glob("seed_*.json")):
        try:
            st = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        if ga.foreign(st, snapshot_id, config_hash):
            continue
        target = run_dir / "checkpoints" / state.name
        if target.exists():
            continue
        journal = state.with_name(state.stem + ".cache.jsonl")
        if journal.exists():            # the journal first: a state without its journal is refused
            shutil.move(str(journal), str(target.with_name(journal.name)))
        shutil.move(str(state), str(target))
        taken.append(state.name)
    return taken


#: where a run's genomes are scored: this process's threads, or Ray actors (omp_core/ray_evaluator.py)
BACKENDS = ("local", "ray")


def run_campaign(config_path: str | Path, out_dir: str | Path, *, data_root: str | Path | None = None,
                 threads: int = 1, run_id: str | None = None, run_salt: str = "",
                 backend: str = "local", ray_address: str | None = None,
                 progress: Callable[[ga.Progress], None] | None = None,
                 started: Callable[[Path], None] | None = None,
                 resume_from: str | Path | None = None, provenance: dict | None = None,
                 clock: Callable[[], float] = time.monotonic) -> RunResult:
    """Run a campaign end to end and write its run folder ``<out_dir>/<run_id>``; resumes from
    checkpoints if present, or from those of ``resume_from`` (an earlier run's folder) when they
    fit this config and data. ``started(run_dir)`` hears where the folder is as soon as it exists
    (a supervisor must know which folder a running run writes). ``provenance`` (campaign_id,
    attempt, environment) goes into the manifest as it is. ``backend``: where genomes are scored,
    ``local`` (``threads`` threads here) or ``ray`` (an actor per node of the Ray cluster at
    ``ray_address``, ``threads`` threads each; a local Ray without an address): the run folder is
    the same bytes either way."""
    if run_id is not None and not RUN_ID_RE.fullmatch(run_id):
        raise config_mod.ConfigError("run_id", "must look like run_<letters, digits, _ or ->", run_id)
    if backend not in BACKENDS:
        raise config_mod.ConfigError("backend", f"must be one of {', '.join(BACKENDS)}", backend)
    timings: dict = {}
    t_start = t = clock()
    code = code_version()            # the code this process runs, read before anything can change it
    cfg = config_mod.load(config_path)
    root = Path(data_root) if data_root is not None else None
    market = data.load_market(cfg.sources(root), cfg.mandate.universe, cfg.data.validation.policy(),
                              min_bars=cfg.data.min_bars)
    _check_timeframe(cfg, market)
    timings["load_data_s"], t = clock() - t, clock()
    bank = FeatureBank.build(market, cfg.strategy.feature_names())
    timings["features_s"], t = clock() - t, clock()

    n_bars = market.n_bars
    split = int(round(n_bars * (1.0 - cfg.validation.holdout_fraction)))
    if split < 2 * cfg.validation.pbo_splits or n_bars - split < 20:
        raise config_mod.ConfigError("validation.holdout_fraction", f"leaves too few bars on one side "
                                     f"({split} in sample, {n_bars - split} out of sample)",
                                     cfg.validation.holdout_fraction)
    in_sample_snapshot = campaign_snapshot(cfg, market, bank, 0, split)
    costs, ppy = in_sample_snapshot.costs, in_sample_snapshot.scoring.periods_per_year
    chash = cfg.config_hash
    run_id = run_id or default_run_id(chash, market.snapshot_id, cfg.seeds, run_salt)
    # the search sees the in-sample window only, and only by its id; the evaluator is made before
    # the run folder, so a backend that cannot be reached leaves no folder behind
    in_sample = window_id(market.snapshot_id, chash, 0, split)
    workers, kernel_threads = seed_workers(backend, threads, len(cfg.seeds))
    if backend == "local":
        evaluator = LocalEvaluator(kernel_threads)
        evaluator.register(in_sample, in_sample_snapshot)
    else:
        from omp_core.ray_evaluator import RayEvaluator
        evaluator = RayEvaluator(ray_address, threads_per_node=threads)
        evaluator.register(in_sample, SnapshotSource(str(Path(config_path).absolute()),
                                                     str(root.absolute()) if root is not None else None, 0, split,
                                                     market.snapshot_id, chash),
                           in_sample_snapshot.scoring, len(market.symbols))
    run_dir = Path(out_dir) / run_id
    try:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        sweep_temporaries(run_dir)        # debris of a run killed mid-write; the files themselves are whole
        if started is not None:         # first: a supervisor must know the folder before checkpoints move into it
            started(run_dir)
        resumed = _take_checkpoints(Path(resume_from), run_dir, market.snapshot_id, chash) if resume_from else []
        space = ga.SearchSpace(cfg.strategy, bank, split)

        deadline = t_start + cfg.constraints.max_runtime_minutes * 60.0
        said = threading.Lock()         # seeds searched side by side report one at a time

        def search_seed(seed: int, stop: threading.Event):
            def watch(p: ga.Progress):
                try:
                    if progress:
                        with said:
                            progress(p)
                    if clock() > deadline and p.generation < p.generations:
                        raise RuntimeLimitExceeded(f"constraints.max_runtime_minutes ({cfg.constraints.max_runtime_minutes}) "
                                                   f"ran out at seed {p.seed}, generation {p.generation}; "
                                                   f"run again to resume from the checkpoint")
                except BaseException:
                    stop.set()          # at once: the other seeds stop while this one checkpoints
                    raise
                if stop.is_set():
                    raise _Stopped()
            began = clock()
            cache = ga.EvaluationCache(market.snapshot_id, chash)
            search = ga.GeneticSearch(space, cfg.ga, seed, evaluator, in_sample, cache,
                                      run_dir / "checkpoints" / f"seed_{seed}.json", clock)
            search.run(watch)
            return cache, search, clock() - began

        searched = _search_seeds(list(cfg.seeds), workers, search_seed)
        timings["search_s"], t = clock() - t, clock()
        caches = {seed: cache for seed, (cache, _, _) in searched.items()}
        histories = {seed: search.history for seed, (_, search, _) in searched.items()}
        evals = sum(search.evaluated_here for _, search, _ in searched.values())
        for seed, (_, _, seconds) in searched.items():
            timings[f"search_seed_{seed}_s"] = seconds

        result = _report(cfg, market, bank, costs, split, ppy, run_id, run_dir, caches, histories, code,
                         {**(provenance or {}), **({"resumed_from": str(Path(resume_from).name), "resumed_checkpoints": resumed}
                                                    if resumed else {})})
        timings["report_s"] = clock() - t
        timings["total_s"] = clock() - t_start
        timings["evaluations_this_session"] = evals
        timings["evaluations_per_second"] = evals / max(timings["search_s"], 1e-9)
        timings["threads"] = threads
        timings["seeds_at_once"] = workers
        timings["backend"] = backend
        if backend == "ray":
            timings["ray"] = evaluator.figures()
        write_text(run_dir / "timings.json", dumps(timings))
        return result
    finally:
        getattr(evaluator, "close", lambda: None)()


def _report(cfg, market, bank, costs, split, ppy, run_id, run_dir, caches, histories, code,
            provenance) -> RunResult:
    n_bars = market.n_bars
    # every distinct genome evaluated by any seed is a trial for the deflated Sharpe
    trials: dict[str, tuple[str, tuple, list]] = {}      # genome_hash -> (genome JSON, metrics, seeds)
    for seed, cache in caches.items():
        for h, (g, m) in cache.entries.items():
            if h in trials:
                trials[h][2].append(seed)
            else:
                trials[h] = (g, m, [seed])
    n_trials = len(trials)
    trial_srs = np.array([m[1] for _, m, _ in trials.values()])
    trials_var = float(np.var(trial_srs, ddof=1)) if n_trials > 1 else 0.0
    ranked = sorted(trials.items(), key=lambda kv: (-kv[1][1][0], kv[0]))
    valid = [(h, v) for h, v in ranked if v[1][0] > ga.INVALID_FITNESS]
    top = valid[: cfg.validation.top_k]

    pbo_block = {"candidates": 0, "n_splits": cfg.validation.pbo_splits, "pbo": None,
                 "note": "needs at least 2 valid candidates"}
    pbo_set = [ga.genome_of(v[0]) for _, v in valid[: cfg.validation.pbo_candidates]]
    if len(pbo_set) >= 2:
        ev = backtest.evaluate(pbo_set, market, bank, costs, start=0, end=split)
        res = stats.pbo(ev.returns.T, cfg.validation.pbo_splits)
        pbo_block = {"candidates": len(pbo_set), "n_splits": res.n_splits, "combinations": res.n_combinations,
                     "dropped_rows": res.dropped_rows,
                     "period": "in_sample", "pbo": res.pbo, "prob_oos_loss": res.prob_oos_loss,
                     "degradation_slope": res.slope, "degradation_intercept": res.intercept,
                     "logit_median": float(np.median(res.logits))}

    out_candidates = []
    for rank, (h, (text, m, seeds)) in enumerate(top, start=1):
        out_candidates.append(_candidate(cfg, market, bank, costs, split, ppy, run_id, run_dir, rank,
                                         ga.genome_of(text), seeds, n_trials, trials_var))
    is_sr = [c["in_sample"]["sharpe"] for c in out_candidates]
    oos_sr = [c["out_of_sample"]["sharpe"] for c in out_candidates]
    variance = {
        "in_sample": float(np.var(is_sr, ddof=1)) if len(is_sr) > 1 else None,
        "out_of_sample": float(np.nanvar(oos_sr, ddof=1)) if len(oos_sr) > 1 else None,
        "note": "variance of annualized Sharpe across the reported candidates",
    }
    candidates = {
        "format": MANIFEST_FORMAT, "run_id": run_id, "config_hash": cfg.config_hash,
        "snapshot_id": market.snapshot_id, "n_trials": n_trials,
        "trials_sharpe_variance_per_period": trials_var, "pbo": pbo_block,
        "sharpe_variance": variance, "candidates": out_candidates,
    }
    manifest = {
        "format": MANIFEST_FORMAT, "run_id": run_id, "status": "completed",
        "campaign": cfg.campaign.name, "config_hash": cfg.config_hash, "config": cfg.canonical(),
        "config_dir": str(Path(cfg.base_dir).resolve()),     # where its relative data paths start
        "git_sha": code["commit"], "git_dirty": code["dirty"], "code_version": code,
        "snapshot_id": market.snapshot_id, "symbols": list(market.symbols),
        "seeds": list(cfg.seeds), "periods_per_year": ppy,
        "split": {"bars": n_bars, "in_sample_bars": split, "out_of_sample_bars": n_bars - split,
                  "in_sample": [str(market.timestamps[0]), str(market.timestamps[split - 1])],
                  "out_of_sample": [str(market.timestamps[split]), str(market.timestamps[-1])]},
        "data": market.report, "versions": _versions(),
        "search": {str(s): h[-1] if h else None for s, h in histories.items()},
        "distinct_genomes_evaluated": n_trials, "candidates_reported": len(out_candidates),
        "campaign_id": provenance.get("campaign_id", ""), "attempt": provenance.get("attempt", 0),
        "environment": provenance.get("environment", ""),
        **{k: v for k, v in provenance.items() if k not in ("campaign_id", "attempt", "environment")},
    }
    write_text(run_dir / "candidates.json", dumps(candidates))
    write_text(run_dir / "manifest.json", dumps(manifest))   # last: its presence means complete
    return RunResult(run_id, run_dir, json.loads(dumps(manifest)), json.loads(dumps(candidates)))


def _candidate(cfg, market, bank, costs, split, ppy, run_id, run_dir, rank, g, seeds, n_trials, trials_var):
    n_bars, n_sym = market.n_bars, len(market.symbols)
    ins = backtest.simulate(g, market, bank, costs, start=0, end=split)
    oos = backtest.simulate(g, market, bank, costs, start=split, end=n_bars)
    r_is, r_oos = ins.evaluation.returns[0], oos.evaluation.returns[0]
    m_is = _metrics(r_is, ins.evaluation.equity[0], ins.evaluation.fills[0], n_sym, ppy)
    m_oos = _metrics(r_oos, oos.evaluation.equity[0], oos.evaluation.fills[0], n_sym, ppy)
    m_is["win_rate"] = stats.win_rate([t.net_return for t in ins.trades])
    m_oos["win_rate"] = stats.win_rate([t.net_return for t in oos.trades])
    dsr = stats.deflated_sharpe_ratio(m_is["sharpe_per_period"], r_is.size, m_is["skew"], m_is["kurtosis"],
                                      n_trials, trials_var)
    folds = [stats.sharpe_ratio(part) * math.sqrt(ppy)
             for part in np.array_split(r_oos, cfg.validation.walk_forward_folds)] \
        if cfg.validation.walk_forward_folds else []
    rng = np.random.default_rng([int(g.genome_hash[:15], 16), rank])
    suite = stress.run_suite(g, market, bank, costs, split, n_bars, ppy, rng, cfg.validation.stress_bootstrap)
    folder = f"{rank:02d}_{g.genome_hash[:12]}"
    cdir = run_dir / "candidates" / folder
    write_text(cdir / "strategy.toml", g.to_toml())
    write_text(cdir / "trades.csv", _trades_csv([("in_sample", t) for t in ins.trades]
                                                + [("out_of_sample", t) for t in oos.trades]))
    eq = np.concatenate([ins.evaluation.equity[0], ins.evaluation.equity[0][-1] * oos.evaluation.equity[0]])
    from omp_core.plot import equity_png
    write_bytes(cdir / "equity.png", equity_png(market.timestamps, eq, split,
                                                f"#{rank} {g.describe()}"))
    return {
        "rank": rank, "candidate_id": f"{run_id}-c{rank:02d}", "genome_hash": g.genome_hash,
        "rule": g.describe(), "genome": g.to_dict(), "found_by_seeds": sorted(seeds), "folder": f"candidates/{folder}",
        "in_sample": m_is, "out_of_sample": m_oos, "walk_forward_sharpe": folds,
        "walk_forward_positive": sum(1 for f in folds if f > 0), "dsr": dsr, "n_trials": n_trials,
        "stress": suite,
    }
