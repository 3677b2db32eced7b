"""Service settings from ``omp.toml`` (the playbook's ``omp_config.toml``).

Defaults live here and match the playbook's numbers; the file overrides them; a bad value stops
start-up with the key path named (``resources.max_cpu_util_pct: must be in (0, 100], got 120``).
"""
from __future__ import annotations

import functools

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from omp_core.config import ConfigError, build_table, require as _need

ENVIRONMENTS = ("dev", "staging", "prod")


def _check_port(path: str, v: int) -> None:
    _need(0 <= v <= 65535, path, "must be a port in 0..65535 (0: any free port)", v)


@dataclass(frozen=True)
class Paths:
    data_dir: str = "var"                     # SQLite database, logs
    configs_root: str = "examples/campaigns"  # campaign config paths are relative to this and stay in it
    runs_dir: str = "var/runs"
    data_root: str = ""                       # market data files must stay under this ("" = anywhere)


@dataclass(frozen=True)
class Database:
    url: str = ""                             # "" = sqlite:///<data_dir>/omp.db (WAL)
    pool_size: int = 5

    def check(self, p):
        ok = self.url == "" or self.url.startswith(("sqlite", "postgresql"))
        _need(ok, f"{p}.url", "must be a sqlite:// or postgresql+psycopg:// URL", self.url)


@dataclass(frozen=True)
class Scheduler:
    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = 9151
    loop_interval_s: float = 30.0
    max_concurrent_campaigns: int = 1
    lease_seconds: float = 120.0
    aging_hours_per_step: float = 24.0        # a queued campaign gains one priority step per this many hours
    max_consecutive_failures: int = 3         # then the campaign is quarantined (disabled)
    rpc_timeout_s: float = 10.0
    # a completed repeat campaign is admitted again no sooner than this: the same config on the
    # same data and seeds gives the same run, so an immediate re-run would only spin
    repeat_cooldown_s: float = 3600.0

    def check(self, p):
        _check_port(f"{p}.port", self.port)
        _check_port(f"{p}.metrics_port", self.metrics_port)
        _need(0.05 <= self.loop_interval_s <= 3600, f"{p}.loop_interval_s", "must be in [0.05, 3600]",
              self.loop_interval_s)
        _need(1 <= self.max_concurrent_campaigns <= 64, f"{p}.max_concurrent_campaigns", "must be in 1..64",
              self.max_concurrent_campaigns)
        _need(1 <= self.lease_seconds <= 86400, f"{p}.lease_seconds", "must be in [1, 86400]", self.lease_seconds)
        _need(self.aging_hours_per_step > 0, f"{p}.aging_hours_per_step", "must be > 0", self.aging_hours_per_step)
        _need(self.max_consecutive_failures >= 1, f"{p}.max_consecutive_failures", "must be >= 1",
              self.max_consecutive_failures)
        _need(0 < self.rpc_timeout_s <= 300, f"{p}.rpc_timeout_s", "must be in (0, 300]", self.rpc_timeout_s)
        _need(0 <= self.repeat_cooldown_s <= 30 * 86400, f"{p}.repeat_cooldown_s", "must be in [0, 2592000]",
              self.repeat_cooldown_s)


@dataclass(frozen=True)
class Miner:
    host: str = "127.0.0.1"
    port: int = 50052
    metrics_port: int = 9152
    threads: int = 0                          # evaluation threads per run; 0 = all cores
    cancel_grace_s: float = 10.0
    rpc_timeout_s: float = 10.0

    def check(self, p):
        _check_port(f"{p}.port", self.port)
        _check_port(f"{p}.metrics_port", self.metrics_port)
        _need(0 <= self.threads <= 1024, f"{p}.threads", "must be in 0..1024", self.threads)
        _need(0 < self.cancel_grace_s <= 600, f"{p}.cancel_grace_s", "must be in (0, 600]", self.cancel_grace_s)
        _need(0 < self.rpc_timeout_s <= 300, f"{p}.rpc_timeout_s", "must be in (0, 300]", self.rpc_timeout_s)


@dataclass(frozen=True)
class Resources:
    max_cpu_util_pct: float = 85.0
    min_mem_available_mb: float = 400.0
    min_disk_free_gb: float = 1.0

    def check(self, p):
        _need(0 < self.max_cpu_util_pct <= 100, f"{p}.max_cpu_util_pct", "must be in (0, 100]", self.max_cpu_util_pct)
        _need(self.min_mem_available_mb >= 0, f"{p}.min_mem_available_mb", "must be >= 0", self.min_mem_available_mb)
        _need(self.min_disk_free_gb >= 0, f"{p}.min_disk_free_gb", "must be >= 0", self.min_disk_free_gb)


@dataclass(frozen=True)
class Watchdog:
    stuck_run_minutes: float = 10.0
    disk_warn_gb: float = 2.0
    disk_critical_gb: float = 1.0
    error_burst_count: int = 3
    error_burst_window_minutes: float = 60.0


@dataclass(frozen=True)
class Promotion:
    min_oos_sharpe_net: float = 0.5
    max_pbo: float = 0.20
    min_dsr: float = 0.4
    max_drawdown_net: float = 0.30


@dataclass(frozen=True)
class AutoReject:
    oos_sharpe_below: float = 0.2
    pbo_above: float = 0.40
    max_drawdown_above: float = 0.50
    trades_oos_below: int = 10


@dataclass(frozen=True)
class Retention:
    keep_runs: int = 5

    def check(self, p):
        _need(self.keep_runs >= 1, f"{p}.keep_runs", "must be >= 1", self.keep_runs)


@dataclass(frozen=True)
class Security:
    tls_cert: str = ""
    tls_key: str = ""
    token: str = ""

    def check(self, p):
        _need(bool(self.tls_cert) == bool(self.tls_key), p, "set both tls_cert and tls_key, or neither",
              {"tls_cert": self.tls_cert, "tls_key": self.tls_key})


@dataclass(frozen=True)
class Settings:
    environment: str = "dev"
    paths: Paths = field(default_factory=Paths)
    database: Database = field(default_factory=Database)
    scheduler: Scheduler = field(default_factory=Scheduler)
    miner: Miner = field(default_factory=Miner)
    resources: Resources = field(default_factory=Resources)
    watchdog: Watchdog = field(default_factory=Watchdog)
    promotion: Promotion = field(default_factory=Promotion)
    auto_reject: AutoReject = field(default_factory=AutoReject)
    retention: Retention = field(default_factory=Retention)
    security: Security = field(default_factory=Security)
    #: the folder relative paths are resolved from (the settings file's folder, or the cwd)
    base_dir: Path = field(default=Path("."), compare=False)

    def check(self, p=""):
        _need(self.environment in ENVIRONMENTS, "environment", f"must be one of {ENVIRONMENTS}", self.environment)

    def path(self, value: str) -> Path:
        return (self.base_dir / value).resolve()

    @functools.cached_property
    def data_dir(self) -> Path:
        return self.path(self.paths.data_dir)

    @functools.cached_property
    def configs_root(self) -> Path:
        return self.path(self.paths.configs_root)

    @functools.cached_property
    def runs_dir(self) -> Path:
        return self.path(self.paths.runs_dir)

    @property
    def data_root(self) -> Path | None:
        return self.path(self.paths.data_root) if self.paths.data_root else None

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'omp.db'}"


def load(path: str | Path | None = None, overrides: dict | None = None) -> Settings:
    """Settings from ``path`` (or ``$OMP_CONFIG``, or defaults), with ``overrides`` merged on top
    (``{"scheduler": {"port": 0}}``); relative paths resolve from the file's folder."""
    path = path or os.environ.get("OMP_CONFIG")
    raw: dict = {}
    base = Path.cwd()
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError("settings", "file not found", str(path))
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("settings", f"{p} is not valid TOML ({exc})") from None
        base = p.resolve().parent
    for key, val in (overrides or {}).items():
        if isinstance(val, dict):
            raw[key] = {**raw.get(key, {}), **val}
        else:
            raw[key] = val
    settings = build_table(Settings, raw, "")
    return dataclasses.replace(settings, base_dir=base)
