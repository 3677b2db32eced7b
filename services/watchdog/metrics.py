"""The watchdog's metrics: open incidents by severity (read at scrape time), actions by kind, the
resource gauges of the last sample with its timestamp, and the disk floors it acts on (so that the
Prometheus alerts follow the configured policy rather than a second copy of it)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily

from omp_services.watchdog.entities import Severity

ACTIONS = ("stop", "pause", "resume", "kill", "data_not_ready", "throttle")


class WatchdogMetrics:
    def __init__(self, registry: CollectorRegistry, disk_warn_gb: float, disk_critical_gb: float):
        self.actions = Counter("omp_watchdog_actions_total", "Actions taken, by kind", ["action"], registry=registry)
        self.opened = Counter("omp_watchdog_incidents_opened_total", "Incidents opened, by severity", ["severity"],
                              registry=registry)
        for sev in Severity:
            self.opened.labels(sev.label)
        for a in ACTIONS:
            self.actions.labels(a)
        self.cpu = Gauge("omp_resource_cpu_utilization_ratio", "CPU utilization at the last sample (0-1)",
                         registry=registry)
        self.mem = Gauge("omp_resource_memory_available_bytes", "Available memory at the last sample",
                         registry=registry)
        self.disk = Gauge("omp_resource_disk_free_bytes", "Free disk at the last sample", ["path"],
                          registry=registry)
        self.mem_used = Gauge("omp_resource_memory_used_ratio", "Memory in use at the last sample (0-1)",
                              registry=registry)
        self.disk_used = Gauge("omp_resource_disk_used_ratio", "Disk in use at the last sample (0-1)", ["path"],
                               registry=registry)
        for name, what, gb in (("omp_watchdog_disk_warn_free_bytes", "free disk below which pressure is reported "
                                "([watchdog] disk_warn_gb)", disk_warn_gb),
                               ("omp_watchdog_disk_critical_free_bytes", "free disk below which mining is stopped "
                                "([watchdog] disk_critical_gb)", disk_critical_gb)):
            Gauge(name, what, registry=registry).set(gb * 2**30)
        self.taken = Gauge("omp_resource_sample_timestamp_seconds", "When the last sample was taken",
                           registry=registry)
        self.freed = Counter("omp_watchdog_retention_freed_bytes_total", "Bytes freed by retention",
                             registry=registry)
        self.compressed = Counter("omp_watchdog_retention_compressed_bytes_total",
                                  "Bytes of run folders compressed by retention (before compression)",
                                  registry=registry)
        self._registry = registry

    def retention(self, outcome) -> None:
        self.freed.inc(max(0, outcome.freed_bytes))
        self.compressed.inc(max(0, outcome.compressed_bytes))

    def sample(self, s) -> None:
        self.cpu.set(s.cpu_util_pct / 100.0)
        self.mem.set(s.mem_available_mb * 2**20)
        self.mem_used.set(s.mem_used_ratio)
        for path, gb in s.disk_free_gb.items():      # the watched paths: a closed set from the settings
            self.disk.labels(path).set(gb * 2**30)
        for path, used in s.disk_used_ratio.items():
            self.disk_used.labels(path).set(used)
        self.taken.set(s.taken_at)

    def action(self, kind: str) -> None:
        self.actions.labels(kind).inc()

    def incident_opened(self, incident) -> None:
        self.opened.labels(incident.severity.label).inc()

    def incident_resolved(self, incident) -> None:
        pass        # the open gauge is read at scrape time

    def watch(self, store) -> None:
        self._registry.register(_OpenIncidents(store))


class _OpenIncidents:
    def __init__(self, store):
        self.store = store

    def collect(self):
        try:
            with self.store.read() as tx:
                counts = tx.open_counts()
        except Exception:  # noqa: BLE001 - a busy database must not fail the scrape of everything else
            return
        g = GaugeMetricFamily("omp_watchdog_incidents_open", "Open incidents by severity", labels=["severity"])
        for sev in Severity:
            g.add_metric([sev.label], counts.get(sev, 0))
        yield g
