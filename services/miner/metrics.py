"""The miner's domain metrics."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge



class MinerMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.started_total = Counter("omp_miner_runs_started_total", "Runs started", registry=registry)
        self.finished_total = Counter("omp_miner_runs_finished_total", "Runs ended, by status", ["status"],
                                      registry=registry)
        self.active = Gauge("omp_miner_runs_active", "Runs in progress", registry=registry)
        self.generation = Gauge("omp_miner_run_generation", "Generation of the latest progress report",
                                registry=registry)
        self.best_sharpe = Gauge("omp_miner_run_best_sharpe", "Best in-sample Sharpe (annualized) of the latest "
                                 "progress report", registry=registry)
        self.evaluations = Gauge("omp_miner_run_evaluations", "Distinct genomes evaluated by the current seed",
                                 registry=registry)

    def started(self) -> None:
        self.started_total.inc()
        self.active.inc()

    def finished(self, status: str) -> None:
        self.finished_total.labels(status).inc()
        self.active.dec()

    def progress(self, run) -> None:
        p = run.progress
        self.generation.set(p.get("generation", 0))
        self.best_sharpe.set(p.get("best_sharpe", 0.0))
        self.evaluations.set(p.get("evaluations", 0))
