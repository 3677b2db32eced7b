"""The scheduler's domain metrics. Queue depth and daemon state are read at scrape time, so they
are never stale; counters move as things happen."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from omp_services.common.errors import OmpError
from omp_services.common.vocabulary import CampaignState, DaemonState, RunStatus
from omp_services.scheduler.entities import Tick


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.ticks = Counter("omp_scheduler_ticks_total", "Main loop ticks by outcome",
                             ["outcome"], registry=registry)
        self.runs_ended = Counter("omp_scheduler_runs_ended_total", "Attempts ended, by status, and for a "
                                  "failure whether the campaign is to blame (campaign) or not (the miner did not "
                                  "start it, shut down under it, the watchdog killed it: other)",
                                  ["status", "fault"], registry=registry)
        for kind in Tick:               # every series from zero: rate() and increase() see the first one
            self.ticks.labels(kind.value)
        for status in RunStatus:
            if status.ended:
                for fault in (("campaign", "other") if status is RunStatus.FAILED else ("",)):
                    self.runs_ended.labels(status.value, fault)
        self.cpu = Gauge("omp_resource_cpu_utilization_ratio", "CPU utilization at the last reading (0-1)",
                         registry=registry)
        self.mem = Gauge("omp_resource_memory_available_bytes", "Available memory at the last reading",
                         registry=registry)
        self.disk = Gauge("omp_resource_disk_free_bytes", "Free disk at the last reading", registry=registry)
        self.within = Gauge("omp_resource_within_budget", "1 when the last reading was within budget",
                            registry=registry)
        # SQLite group commits (services/common/storage/db.py): the COMMIT's time is the disk's fsync
        self.commit_seconds = Histogram("omp_storage_group_commit_seconds", "Time of one group COMMIT on SQLite",
                                        registry=registry, buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                    0.05, 0.1, 0.25, 1.0))
        self.commit_calls = Histogram("omp_storage_group_commit_calls", "Calls answered by one group COMMIT",
                                      registry=registry, buckets=(1, 2, 4, 8, 16, 32, 64))
        self.commit_failures = Counter("omp_storage_group_commit_failures_total",
                                       "Group COMMITs that failed (their calls got UNAVAILABLE)", registry=registry)
        self._registry = registry

    def group_committed(self, calls: int, seconds: float, failed: bool) -> None:
        self.commit_seconds.observe(seconds)
        self.commit_calls.observe(calls)
        if failed:
            self.commit_failures.inc()

    def tick(self, kind: Tick) -> None:
        self.ticks.labels(kind.value).inc()

    def run_ended(self, status: str, campaigns_fault: bool = False) -> None:
        fault = ("campaign" if campaigns_fault else "other") if status == RunStatus.FAILED else ""
        self.runs_ended.labels(str(status), fault).inc()

    def resources(self, reading) -> None:
        if not reading.error:
            self.cpu.set(reading.cpu_util_pct / 100.0)
            self.mem.set(reading.mem_available_mb * 2**20)
            self.disk.set(reading.disk_free_gb * 2**30)
        self.within.set(1 if reading.within_budget else 0)

    def watch(self, scheduler) -> None:
        """Register the scrape-time collector of daemon state and queue depth."""
        self._registry.register(_StateCollector(scheduler))

    def watch_database(self, watch) -> None:
        Gauge("omp_database_up", "1 while the main loop reaches the database", registry=self._registry
              ).set_function(lambda: 1.0 if watch.up else 0.0)


class _StateCollector:
    def __init__(self, scheduler):
        self.s = scheduler

    def collect(self):
        try:
            st = self.s.status()
        except OmpError:        # the database is out of reach: the rest of the scrape still answers
            return
        d = GaugeMetricFamily("omp_daemon_state", "1 for the daemon's current state", labels=["state"])
        for state in DaemonState:
            d.add_metric([state.value], 1.0 if st.daemon.state == state else 0.0)
        yield d
        q = GaugeMetricFamily("omp_queue_campaigns", "Campaigns in the queue by state", labels=["state"])
        q.add_metric([CampaignState.QUEUED.value], st.queued)
        q.add_metric([CampaignState.RUNNING.value], st.running)
        q.add_metric(["disabled"], st.disabled)       # queued, but waiting for an operator
        yield q
        r = GaugeMetricFamily("omp_data_ready", "1 when market data is marked ready")
        r.add_metric([], 1.0 if st.daemon.data_ready else 0.0)
        yield r
        if st.last_tick_at is not None:     # the inputs of a "scheduler loop stuck" alert
            t = GaugeMetricFamily("omp_scheduler_last_tick_timestamp_seconds", "when the main loop last ticked")
            t.add_metric([], st.last_tick_at)
            yield t
        i = GaugeMetricFamily("omp_scheduler_tick_interval_seconds", "the main loop's interval now "
                              "(loop_interval_s x the throttle factor)")
        i.add_metric([], st.tick_interval_s)
        yield i
