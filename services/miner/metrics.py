"""The miner's domain metrics. A running run's figures are series of their own, labelled with its
run_id and campaign_id (two runs never overwrite one gauge), read from the runs at each scrape: a
run's series end with it, so their number stays that of the runs running now."""
from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily

from omp_services.common.resources import tree_rss_mb
from omp_services.common.vocabulary import RunStatus

log = logging.getLogger(__name__)


class MinerMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.started_total = Counter("omp_miner_runs_started_total", "Runs started", registry=registry)
        self.finished_total = Counter("omp_miner_runs_finished_total", "Runs ended, by status", ["status"],
                                      registry=registry)
        self.active = Gauge("omp_miner_runs_active", "Runs in progress", registry=registry)
        self.evaluations = Counter("omp_miner_evaluations_total", "Genomes evaluated by the runs of this miner "
                                   "(as their progress reports them)", registry=registry)
        self._registry = registry

    def watch(self, runs) -> None:
        """Register the scrape-time collector of the running runs (``runs``: the RunManager)."""
        self._registry.register(_RunsCollector(runs))

    def started(self) -> None:
        self.started_total.inc()
        self.active.inc()

    def evaluated(self, seen: dict[int, int], seed: int, now: int) -> None:
        """A run's progress says its seed ``seed`` has evaluated ``now`` genomes; ``seen`` holds
        what each of the run's seeds said last (updated here). A run searches its seeds side by
        side, so their reports interleave: each seed's count grows from its own last."""
        before = seen.get(seed, 0)
        if now > before:
            self.evaluations.inc(now - before)
        seen[seed] = max(now, before)

    def finished(self, status: str) -> None:
        self.finished_total.labels(status).inc()
        self.active.dec()



class _RunsCollector:
    """Each running run's progress, when it last reported (the input of a stuck-run alert) and the
    resident memory of its process tree (of a memory-runaway alert)."""
    FIGURES = (("generation", "omp_miner_run_generation", "generation of the run's latest progress report"),
               ("best_sharpe", "omp_miner_run_best_sharpe", "best in-sample Sharpe (annualized) reported so far"),
               ("evaluations", "omp_miner_run_evaluations",
                "distinct genomes evaluated by the seed of its latest progress report"))

    def __init__(self, runs):
        self.runs = runs

    def collect(self):
        try:
            running, _ = self.runs.list(status=str(RunStatus.RUNNING), limit=1000)
        except Exception as exc:  # noqa: BLE001 - the database out of reach: the rest of the scrape answers
            log.warning("running runs not collected", extra={"error": str(exc)})
            return
        labels = ["run_id", "campaign_id"]
        families = {key: GaugeMetricFamily(name, text, labels=labels) for key, name, text in self.FIGURES}
        last = GaugeMetricFamily("omp_miner_run_last_progress_timestamp_seconds",
                                 "when the run last reported progress (its start, before the first report)",
                                 labels=labels)
        started = GaugeMetricFamily("omp_miner_run_started_timestamp_seconds", "when the run started", labels=labels)
        rss = GaugeMetricFamily("omp_miner_run_resident_memory_bytes", "resident memory of the run's process tree",
                                labels=labels)
        for run in running:
            ids = [run.run_id, run.campaign_id]
            for key, family in families.items():
                family.add_metric(ids, float(run.progress.get(key, 0) or 0))
            last.add_metric(ids, run.updated_at)
            started.add_metric(ids, run.started_at)
            rss.add_metric(ids, tree_rss_mb(run.pid) * 2**20)
        yield from families.values()
        yield from (last, started, rss)
