"""The promoter process: the composition root (settings, storage, server, signals)."""
from __future__ import annotations

import logging
import sys
import threading

from prometheus_client import CollectorRegistry

from omp.v1 import promoter_pb2
from omp_services.common import settings as settings_mod
from omp_services.common.clock import SystemClock
from omp_services.common.errors import OmpError
from omp_services.common.incident_reporter import IncidentReporter
from omp_services.common.metrics import GrpcMetrics, serve_metrics
from omp_services.common.runner import close_all, run_service
from omp_services.common.server import Registration, build_server
from omp_services.common import security as security_mod
from omp_services.common.storage.audit import AuditLog
from omp_services.common.storage.db import Database
from omp_services.common.systemd import Heartbeat
from omp_services.migrations import migrate
from omp_services.promoter.metrics import PromoterMetrics
from omp_services.promoter.mirror import Mirror
from omp_services.promoter.promoter import Promoter
from omp_services.promoter.repository import MirrorTarget, PromoterStore
from omp_services.promoter.servicer import PromoterServicer
from omp_services.promoter.settings import SECTIONS, PromoterSettings

SERVICE = promoter_pb2.DESCRIPTOR.services_by_name["PromoterService"]
log = logging.getLogger("omp.promoter")


class PromoterApp:
    sections = SECTIONS

    def __init__(self, settings: settings_mod.Settings, watchdog_target: str | None = None):
        self.settings = settings
        self.cfg: PromoterSettings = settings.section("promoter")
        # first: a security setting that is set but unusable stops start-up before anything is touched
        self.security = security_mod.load(settings, "promoter", self.cfg.host)
        self.db = Database(settings.database_url, settings.database.pool_size)
        migrate(self.db)
        self.registry = CollectorRegistry()
        self.metrics = PromoterMetrics(self.registry)
        self.store = PromoterStore(self.db)
        promotion = settings.section("promotion")
        self.mirror = (Mirror(self.store, MirrorTarget(promotion.mirror_url), SystemClock())
                       if promotion.mirror_url else None)
        self.metrics.watch(self.store, self.mirror)
        # the mirror's loop is the promoter's only loop that must go round (judging is driven by calls):
        # ten minutes without a round means it hangs, and systemd's watchdog hears no more
        self.heartbeat = Heartbeat(stale_after=600.0) if self.mirror else None
        # the variance gate's SEV-0 goes to the watchdog, which owns incidents
        self.incidents = IncidentReporter(watchdog_target or settings.endpoint("watchdog").address, "promoter",
                                          security=self.security)
        self.promoter = Promoter(self.store, settings.runs_dir, settings.hof_dir, promotion,
                                 settings.section("auto_reject"), settings.environment, SystemClock(),
                                 self.incidents.report, self.metrics, data_root=settings.data_root,
                                 changed=self.mirror.wake.set if self.mirror else None)
        self.service = None
        self.metrics_server = None
        self.stopping = threading.Event()
        self.mirror_thread = None
        self.started_at = SystemClock().now()

    def start(self) -> None:
        registration = Registration(PromoterServicer(self.promoter, self.mirror), SERVICE)
        self.service = build_server(self.cfg.host, self.cfg.port, [registration], GrpcMetrics(self.registry, "promoter"),
                                    security=self.security, audit=AuditLog(self.db, "promoter"))
        self.metrics_server, _, self.metrics_port = serve_metrics(self.registry, self.cfg.host, self.cfg.metrics_port)
        if self.mirror is not None:
            self.mirror_thread = threading.Thread(target=self._mirror_loop, name="hof-mirror", daemon=True)
            self.mirror_thread.start()
        self.revalidation_thread = threading.Thread(target=self._revalidation_loop, name="hof-revalidation",
                                                    daemon=True)
        self.revalidation_thread.start()
        log.info("promoter serving", extra={"port": self.service.port, "metrics_port": self.metrics_port,
                                           "hall_of_fame": str(self.promoter.hof_dir)})

    def _revalidation_loop(self) -> None:
        """At start, today's thresholds on the active entries (a changed threshold applies at
        once); then every revalidate_days, every active entry re-run on the latest data."""
        every = self.settings.section("promotion").revalidate_days * 86400
        try:
            self.promoter.reapply_thresholds()
        except Exception:  # noqa: BLE001 - logged; the next round tries again
            log.exception("re-applying the thresholds failed")
        while not self.stopping.wait(min(every, 3600.0)):
            try:
                last = self.promoter.last_revalidation or self.started_at
            except OmpError:            # the database is busy or away: look again in an hour
                continue
            if SystemClock().now() - last < every:
                continue
            try:
                results = self.promoter.revalidate()
                log.info("Hall of Fame revalidated", extra={"entries": len(results),
                                                            "flagged": sum(not r.ok for r in results)})
            except Exception:  # noqa: BLE001 - logged; tried again at the next hourly look
                log.exception("revalidation failed")

    def _mirror_loop(self) -> None:
        """Sync the mirror every mirror_interval_s and at once after a change; while it cannot be
        reached, wait longer each time (1 s doubling to 60 s): the queue keeps every change."""
        interval, wait = self.settings.section("promotion").mirror_interval_s, 0.0
        while not self.stopping.is_set():
            self.heartbeat.wait(self.mirror.wake, wait or interval)
            self.mirror.wake.clear()
            if self.stopping.is_set():
                return
            try:
                left = self.mirror.sync()
                wait = 0.0 if not left else 0.05        # more queued than a batch: on at once
            except OmpError as exc:
                wait = min(max(1.0, wait * 2), 60.0)
                log.warning("Hall of Fame mirror not synced; tried again", extra={"error": str(exc), "retry_in_s": wait})
            except Exception:  # noqa: BLE001 - the mirror must outlive one failure; it is logged
                log.exception("Hall of Fame mirror sync failed")
                wait = 60.0

    def stop(self, grace: float = 5.0) -> None:
        self.stopping.set()
        if self.mirror is not None:
            self.mirror.wake.set()
            if self.mirror_thread is not None:
                self.mirror_thread.join(timeout=10)
            self.mirror.target.close()
        close_all(self.service, self.metrics_server, grace, self.incidents, self.db)


def main(argv: list[str] | None = None) -> int:
    return run_service("promoter", ("watchdog",), PromoterApp, argv)


if __name__ == "__main__":
    sys.exit(main())
