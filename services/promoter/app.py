"""The promoter process: the composition root (settings, storage, server, signals)."""
from __future__ import annotations

import logging
import sys

from prometheus_client import CollectorRegistry

from omp.v1 import promoter_pb2, promoter_pb2_grpc
from services.common import settings as settings_mod
from services.common.clock import SystemClock
from services.common.incident_reporter import IncidentReporter
from services.common.metrics import GrpcMetrics, serve_metrics
from services.common.runner import close_all, run_service
from services.common.server import Registration, build_server
from services.common.storage.db import Database
from services.migrations import migrate
from services.promoter.metrics import PromoterMetrics
from services.promoter.promoter import Promoter
from services.promoter.repository import PromoterStore
from services.promoter.servicer import PromoterServicer
from services.promoter.settings import SECTIONS, PromoterSettings

SERVICE = promoter_pb2.DESCRIPTOR.services_by_name["PromoterService"]
log = logging.getLogger("omp.promoter")


class PromoterApp:
    sections = SECTIONS

    def __init__(self, settings: settings_mod.Settings, watchdog_target: str | None = None):
        self.settings = settings
        self.cfg: PromoterSettings = settings.section("promoter")
        self.db = Database(settings.database_url, settings.database.pool_size)
        migrate(self.db)
        self.registry = CollectorRegistry()
        self.metrics = PromoterMetrics(self.registry)
        self.store = PromoterStore(self.db)
        self.metrics.watch(self.store)
        # the variance gate's SEV-0 goes to the watchdog, which owns incidents
        self.incidents = IncidentReporter(watchdog_target or settings.endpoint("watchdog").address, "promoter")
        self.promoter = Promoter(self.store, settings.runs_dir, settings.hof_dir, settings.section("promotion"),
                                 settings.section("auto_reject"), settings.environment, SystemClock(),
                                 self.incidents.report, self.metrics, data_root=settings.data_root)
        self.service = None
        self.metrics_server = None

    def start(self) -> None:
        registration = Registration(PromoterServicer(self.promoter), promoter_pb2_grpc.add_PromoterServiceServicer_to_server,
                                    SERVICE)
        self.service = build_server(self.cfg.host, self.cfg.port, [registration], GrpcMetrics(self.registry, "promoter"))
        self.metrics_server, _, self.metrics_port = serve_metrics(self.registry, self.cfg.host, self.cfg.metrics_port)
        log.info("promoter serving", extra={"port": self.service.port, "metrics_port": self.metrics_port,
                                           "hall_of_fame": str(self.promoter.hof_dir)})

    def stop(self, grace: float = 5.0) -> None:
        close_all(self.service, self.metrics_server, grace, self.incidents, self.db)


def main(argv: list[str] | None = None) -> int:
    return run_service("promoter", ("watchdog",), PromoterApp, argv)


if __name__ == "__main__":
    sys.exit(main())
