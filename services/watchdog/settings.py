"""The watchdog's section of ``omp.toml``: ``[watchdog]`` (defaults from the playbook)."""
from __future__ import annotations

from dataclasses import dataclass

from omp_core.binding import require
from omp_services.common.settings import ADDRESS_BOOK, Endpoint

_HOME = ADDRESS_BOOK["watchdog"]


@dataclass(frozen=True)
class WatchdogSettings(Endpoint):
    port: int = _HOME.port
    metrics_port: int = _HOME.metrics_port
    sample_interval_s: float = 10.0           # resources are read this often, whatever the queue does
    history_samples: int = 8640               # samples kept (a day at 10 s)
    stuck_run_minutes: float = 10.0           # a run whose generation and evaluations stand still this long
    disk_warn_gb: float = 2.0                 # below: SEV-2
    disk_critical_gb: float = 1.0             # below: mining stopped, runs cancelled, SEV-0
    error_burst_count: int = 3                # this many failed runs ...
    error_burst_window_minutes: float = 60.0  # ... within this window: mining paused, SEV-1
    max_run_memory_mb: float = 0.0            # a run's process tree above this is killed; 0: no fixed cap
    unreachable_minutes: float = 3.0          # a scheduler or miner not answering this long: SEV-1
    cpu_sustained_s: float = 60.0             # CPU over resources.max_cpu_util_pct this long: throttle, SEV-2
    throttle_factor: float = 4.0              # admission at most once per this many loop intervals ...
    throttle_minutes: float = 5.0             # ... for this long, then back to normal by itself
    rpc_timeout_s: float = 10.0

    def check(self, p):
        super().check(p)
        require(0.05 <= self.sample_interval_s <= 3600, f"{p}.sample_interval_s", "must be in [0.05, 3600]",
                self.sample_interval_s)
        require(1 <= self.history_samples <= 1_000_000, f"{p}.history_samples", "must be in 1..1000000",
                self.history_samples)
        require(self.stuck_run_minutes > 0, f"{p}.stuck_run_minutes", "must be > 0", self.stuck_run_minutes)
        require(self.disk_critical_gb >= 0, f"{p}.disk_critical_gb", "must be >= 0", self.disk_critical_gb)
        require(self.disk_warn_gb >= self.disk_critical_gb, f"{p}.disk_warn_gb",
                f"must be >= disk_critical_gb ({self.disk_critical_gb:g})", self.disk_warn_gb)
        require(self.error_burst_count >= 1, f"{p}.error_burst_count", "must be >= 1", self.error_burst_count)
        require(self.error_burst_window_minutes > 0, f"{p}.error_burst_window_minutes", "must be > 0",
                self.error_burst_window_minutes)
        require(self.max_run_memory_mb >= 0, f"{p}.max_run_memory_mb", "must be >= 0 (0: no fixed cap)",
                self.max_run_memory_mb)
        require(self.unreachable_minutes > 0, f"{p}.unreachable_minutes", "must be > 0", self.unreachable_minutes)
        require(self.cpu_sustained_s > 0, f"{p}.cpu_sustained_s", "must be > 0", self.cpu_sustained_s)
        require(1 < self.throttle_factor <= 100, f"{p}.throttle_factor", "must be in (1, 100]", self.throttle_factor)
        require(0 < self.throttle_minutes <= 1440, f"{p}.throttle_minutes", "must be in (0, 1440]",
                self.throttle_minutes)
        require(0 < self.rpc_timeout_s <= 300, f"{p}.rpc_timeout_s", "must be in (0, 300]", self.rpc_timeout_s)


@dataclass(frozen=True)
class RetentionSettings:
    """``[retention]``: what the watchdog keeps of the run folders (the playbook's retention policy)."""
    keep_runs: int = 5                        # the newest run folders kept per campaign; older ones go
    compress_after_days: float = 7.0          # a kept folder older than this is compressed (zstd)
    archive_after_days: float = 30.0          # ... older than this moves to cold_dir, when one is set
    cold_dir: str = ""                        # "" = no cold storage (archives stay in the runs folder)

    def check(self, p):
        require(self.keep_runs >= 1, f"{p}.keep_runs", "must be >= 1", self.keep_runs)
        require(self.compress_after_days > 0, f"{p}.compress_after_days", "must be > 0", self.compress_after_days)
        require(self.archive_after_days >= self.compress_after_days, f"{p}.archive_after_days",
                f"must be >= compress_after_days ({self.compress_after_days:g})", self.archive_after_days)


SECTIONS = {"watchdog": WatchdogSettings, "retention": RetentionSettings}
