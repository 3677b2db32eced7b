"""The miner process: the composition root (settings, storage, server, report loop, signals)."""
from __future__ import annotations

import logging
import socket
import sys
import threading

from prometheus_client import CollectorRegistry

from omp.v1 import miner_pb2
from omp_services.common import settings as settings_mod
from omp_services.common.clock import SystemClock
from omp_services.common.errors import OmpError
from omp_services.common.metrics import GrpcMetrics, serve_metrics
from omp_services.common.incident_reporter import IncidentReporter
from omp_services.common.runner import close_all, run_service
from omp_services.common.server import Registration, build_server
from omp_services.common import security as security_mod
from omp_services.common.storage.audit import AuditLog
from omp_services.common.systemd import Heartbeat
from omp_services.common.storage.db import Database
from omp_services.migrations import migrate
from omp_services.miner.metrics import MinerMetrics
from omp_services.miner.reporter import GrpcSchedulerReporter
from omp_services.miner.repository import MinerStore
from omp_services.miner.runs import RunManager
from omp_services.miner.servicer import MinerServicer
from omp_services.miner.settings import SECTIONS, MinerSettings, miner_id

SERVICE = miner_pb2.DESCRIPTOR.services_by_name["MinerService"]
log = logging.getLogger("omp.miner")
REPORT_RETRY_S = 2.0


class MinerApp:
    sections = SECTIONS

    def __init__(self, settings: settings_mod.Settings, scheduler_target: str | None = None,
                 watchdog_target: str | None = None):
        self.settings = settings
        self.cfg: MinerSettings = settings.section("miner")
        # first: a security setting that is set but unusable stops start-up before anything is touched
        self.security = security_mod.load(settings, "miner", self.cfg.host)
        self.db = Database(settings.database_url, settings.database.pool_size)
        migrate(self.db)
        self.registry = CollectorRegistry()
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
        self.reporter = GrpcSchedulerReporter(scheduler_target or settings.endpoint("scheduler").address,
                                              self.cfg.rpc_timeout_s, self.security)
        self.incidents = IncidentReporter(watchdog_target or settings.endpoint("watchdog").address, "miner",
                                          security=self.security)
        self.miner_id = miner_id(self.cfg)
        self.runs = RunManager(MinerStore(self.db, self.miner_id), settings, SystemClock(), self.reporter,
                               MinerMetrics(self.registry), incidents=self.incidents.report)
        self.runs.metrics.watch(self.runs)
        self.orphans = self.runs.recover()
        self.stop_loop = threading.Event()
        # a round of the main loop that takes this long means it hangs: systemd's watchdog hears no more
        self.heartbeat = Heartbeat(stale_after=300.0)
        self.service = None
        self.metrics_server = None

    def start(self) -> None:
        cfg = self.cfg
        stopping = threading.Event()
        servicer = MinerServicer(self.runs, stopping)

        # starting and cancelling processes and reading run folders may block: on the pool
        registration = Registration(servicer, SERVICE)
        self.service = build_server(cfg.host, cfg.port, [registration], GrpcMetrics(self.registry, "miner"),
                                    stopping=stopping, security=self.security,
                                    audit=AuditLog(self.db, "miner"))
        self.metrics_server, _, self.metrics_port = serve_metrics(self.registry, cfg.host, cfg.metrics_port)
        self.loop = threading.Thread(target=self._report_loop, name="report-loop", daemon=True)
        self.loop.start()
        log.info("miner serving", extra={"miner_id": self.miner_id, "port": self.service.port,
                                        "metrics_port": self.metrics_port,
                                        "orphans_failed": len(self.orphans)})

    def _report_loop(self) -> None:
        # announce this miner to the scheduler, and deliver results it has not acknowledged yet (it was
        # down, or this miner restarted); both repeat, so a restarted scheduler learns them again
        # listening on every interface says nothing of where it is reached: then this host's name
        host = socket.gethostname() if self.cfg.host in ("0.0.0.0", "::") else self.cfg.host
        address = self.cfg.advertise_address or f"{host}:{self.service.port}"
        delay = 0.0
        while not self.heartbeat.wait(self.stop_loop, delay):
            delay = REPORT_RETRY_S
            try:
                self.reporter.register(address, self.miner_id, self.cfg.slots)
                self.runs.deliver_reports()
            except OmpError as exc:
                log.warning("scheduler not reachable", extra={"error": str(exc)})
            except Exception:  # noqa: BLE001 - the loop must outlive one failure; it is logged
                log.exception("report loop failed")

    def stop(self, grace: float = 5.0) -> None:
        self.runs.draining.set()        # from now on no StartRun starts anything
        self.stop_loop.set()
        if self.service:
            self.service.stopping.set()
        self.runs.shutdown()
        try:
            self.runs.deliver_reports()
        except Exception:  # noqa: BLE001 - best effort at exit; the next start delivers the rest
            log.exception("final report delivery failed")
        close_all(self.service, self.metrics_server, grace, self.reporter, self.incidents, self.db)


def main(argv: list[str] | None = None) -> int:
    return run_service("miner", ("scheduler", "watchdog"), MinerApp, argv)


if __name__ == "__main__":
    sys.exit(main())
