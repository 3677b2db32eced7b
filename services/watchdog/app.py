"""The watchdog process: the composition root (settings, storage, server, the watch loop, signals)."""
from __future__ import annotations

import logging
import sys
import threading

from prometheus_client import CollectorRegistry

from omp.v1 import watchdog_pb2
from omp_services.common import settings as settings_mod
from omp_services.common.clock import SystemClock
from omp_services.common.metrics import GrpcMetrics, serve_metrics
from omp_services.common.resources import ResourceSampler
from omp_services.common.runner import close_all, run_service
from omp_services.common.server import Registration, build_server
from omp_services.common import security as security_mod
from omp_services.common.storage.audit import AuditLog
from omp_services.common.systemd import Heartbeat
from omp_services.common.storage.db import Database
from omp_services.migrations import migrate
from omp_services.watchdog.housekeeping import Housekeeping
from omp_services.watchdog.incidents import IncidentBook
from omp_services.watchdog.metrics import WatchdogMetrics
from omp_services.watchdog.miner_gateway import GrpcMinerGateway
from omp_services.watchdog.monitor import Monitor
from omp_services.watchdog.ops_log import OpsLog
from omp_services.watchdog.repository import WatchdogStore
from omp_services.watchdog.retention import Retention
from omp_services.watchdog.scheduler_gateway import GrpcSchedulerGateway
from omp_services.watchdog.servicer import WatchdogServicer
from omp_services.watchdog.settings import SECTIONS, WatchdogSettings

SERVICE = watchdog_pb2.DESCRIPTOR.services_by_name["WatchdogService"]
log = logging.getLogger("omp.watchdog")


class WatchdogApp:
    sections = SECTIONS

    def __init__(self, settings: settings_mod.Settings, scheduler_target: str | None = None,
                 miner_target: str | None = None):
        self.settings = settings
        self.cfg: WatchdogSettings = settings.section("watchdog")
        # first: a security setting that is set but unusable stops start-up before anything is touched
        self.security = security_mod.load(settings, "watchdog", self.cfg.host)
        self.db = Database(settings.database_url, settings.database.pool_size)
        migrate(self.db)
        self.registry = CollectorRegistry()
        self.metrics = WatchdogMetrics(self.registry, self.cfg.disk_warn_gb, self.cfg.disk_critical_gb)
        self.clock = SystemClock()
        self.store = WatchdogStore(self.db)
        self.book = IncidentBook(self.store, self.clock, self.metrics)
        self.metrics.watch(self.store)
        self.scheduler = GrpcSchedulerGateway(scheduler_target or settings.endpoint("scheduler").address,
                                              self.cfg.rpc_timeout_s, self.security)
        self.miner = GrpcMinerGateway(miner_target or settings.endpoint("miner").address, self.cfg.rpc_timeout_s,
                                      self.security)
        for d in (settings.data_dir, settings.runs_dir):
            d.mkdir(parents=True, exist_ok=True)
        sampler = ResourceSampler([settings.data_dir, settings.runs_dir], self.clock)
        retention = Retention(settings.section("retention"), settings.runs_dir,
                              settings.hof_dir, self.clock, self.miner)
        self.housekeeping = Housekeeping(retention, self.clock, self.metrics)
        self.ops_log = OpsLog(self.store, self.scheduler, self.clock, settings.data_dir / "ops-log")
        self.monitor = Monitor(self.cfg, sampler, self.store, self.book, self.scheduler, self.miner, self.clock,
                               self.metrics, housekeeping=self.housekeeping, ops_log=self.ops_log,
                               floor_mb=settings.resources.min_mem_available_mb,
                               db_unreachable_s=settings.database.unreachable_s,
                               cpu_budget_pct=settings.resources.max_cpu_util_pct)
        self.stop_loop = threading.Event()
        # a round of the main loop that takes this long means it hangs: systemd's watchdog hears no more
        # (an hour: a pass may compress and verify large run folders under retention)
        self.heartbeat = Heartbeat(stale_after=3600.0)
        self.service = None
        self.metrics_server = None

    def start(self) -> None:
        servicer = WatchdogServicer(self.book, self.store, self.clock, self.housekeeping, self.ops_log)
        registration = Registration(servicer, SERVICE)
        self.service = build_server(self.cfg.host, self.cfg.port, [registration], GrpcMetrics(self.registry, "watchdog"),
                                    security=self.security, audit=AuditLog(self.db, "watchdog"))
        self.metrics_server, _, self.metrics_port = serve_metrics(self.registry, self.cfg.host, self.cfg.metrics_port)
        self.loop = threading.Thread(target=self._loop, name="watchdog-loop", daemon=True)
        self.loop.start()
        log.info("watchdog serving", extra={"port": self.service.port, "metrics_port": self.metrics_port})

    def _loop(self) -> None:
        delay = 0.0
        while not self.heartbeat.wait(self.stop_loop, delay):
            try:
                delay = self.monitor.tick()
            except Exception:  # noqa: BLE001 - the watch must outlive one bad pass; it is logged
                log.exception("watchdog tick failed")
                delay = self.cfg.sample_interval_s

    def stop(self, grace: float = 5.0) -> None:
        self.stop_loop.set()
        if getattr(self, "loop", None) is not None:
            self.loop.join(timeout=30)      # let a tick in the middle of a kill finish it
        close_all(self.service, self.metrics_server, grace, self.scheduler, self.miner, self.db)


def main(argv: list[str] | None = None) -> int:
    return run_service("watchdog", ("scheduler", "miner"), WatchdogApp, argv)


if __name__ == "__main__":
    sys.exit(main())
