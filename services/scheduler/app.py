"""The scheduler process: the composition root (settings, storage, server, main loop, signals)."""
from __future__ import annotations

import logging
import sys
import threading
import time

from prometheus_client import CollectorRegistry

from omp.v1 import scheduler_pb2
from omp_services.common import settings as settings_mod
from omp_services.common.settings import redact_url
from omp_services.common.clock import SystemClock
from omp_services.common.database_watch import DatabaseWatch
from omp_services.common.errors import DatabaseBusy
from omp_services.common.incident_reporter import IncidentReporter
from omp_services.common.metrics import GrpcMetrics, serve_metrics
from omp_services.common.resources import ResourceSampler
from omp_services.common.runner import close_all, run_service
from omp_services.common.server import Registration, build_server
from omp_services.common import security as security_mod
from omp_services.common.storage.audit import AuditLog
from omp_services.common.systemd import Heartbeat
from omp_services.common.storage.db import Database
from omp_services.migrations import migrate
from omp_services.scheduler.admission import BudgetProbe
from omp_services.scheduler.metrics import SchedulerMetrics
from omp_services.scheduler.miner_gateway import GrpcMinerGateway
from omp_services.scheduler.promoter_gateway import GrpcPromoterGateway
from omp_services.scheduler.repository import SchedulerStore
from omp_services.scheduler.scheduler import Scheduler
from omp_services.scheduler.servicer import SchedulerServicer
from omp_services.scheduler.settings import SECTIONS, SchedulerSettings, scheduler_id

SERVICE = scheduler_pb2.DESCRIPTOR.services_by_name["SchedulerService"]
log = logging.getLogger("omp.scheduler")
WAKE_COALESCE_S = 0.1
HANDOFF_POLL_S = 5.0


class SchedulerApp:
    sections = SECTIONS

    def __init__(self, settings: settings_mod.Settings, miner_target: str | None = None,
                 watchdog_target: str | None = None, promoter_target: str | None = None):
        self.settings = settings
        self.cfg: SchedulerSettings = settings.section("scheduler")
        # first: a security setting that is set but unusable stops start-up before anything is touched
        self.security = security_mod.load(settings, "scheduler", self.cfg.host)
        self.db = Database(settings.database_url, settings.database.pool_size)
        migrate(self.db)
        self.registry = CollectorRegistry()
        self.metrics = SchedulerMetrics(self.registry)
        clock = SystemClock()
        self.miner_gateway = GrpcMinerGateway(self.cfg.rpc_timeout_s, self.security)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
        # the database and the run folders may be on different filesystems: the fuller one counts
        probe = BudgetProbe(ResourceSampler([settings.data_dir, settings.runs_dir], clock), settings.resources)
        self.promoter_gateway = GrpcPromoterGateway(promoter_target or settings.endpoint("promoter").address,
                                                    self.cfg.rpc_timeout_s, self.security)
        self.scheduler = Scheduler(SchedulerStore(self.db), self.cfg, settings.configs_root, clock, probe,
                                   self.miner_gateway, self.promoter_gateway, metrics=self.metrics,
                                   miner_address=miner_target or settings.endpoint("miner").address,
                                   scheduler_id=scheduler_id(self.cfg))
        self.reporter = IncidentReporter(watchdog_target or settings.endpoint("watchdog").address, "scheduler",
                                         security=self.security)
        self.scheduler.ctx.report = self.reporter.report
        # its database out of reach: nothing is admitted (a tick needs it), and the watchdog hears
        self.database = DatabaseWatch("scheduler", settings.database.unreachable_s, clock, self.reporter.report)
        self.metrics.watch_database(self.database)
        self.audit = AuditLog(self.db, "scheduler")
        self.scheduler.queue.rerank()
        self.metrics.watch(self.scheduler)
        self.stop_loop = threading.Event()
        # a round of the main loop that takes this long means it hangs: systemd's watchdog hears no more
        self.heartbeat = Heartbeat(stale_after=300.0)
        self.service = None
        self.metrics_server = None

    def start(self) -> None:
        cfg = self.cfg
        stopping = threading.Event()
        servicer = SchedulerServicer(self.scheduler, stopping, self.settings.environment, self.audit)

        # every queue method is one short database transaction: run them on the server's loop; an
        # import (up to 5,000 campaigns in one transaction) on the pool, where it holds up nothing
        # but the writes that wait for it (and they wait at most LOOP_WAIT_S, then UNAVAILABLE)
        registration = Registration(servicer, SERVICE, on_loop=True, on_pool=frozenset({"ImportQueue"}))
        self.service = build_server(cfg.host, cfg.port, [registration], GrpcMetrics(self.registry, "scheduler"),
                                    stopping=stopping, durable=self.db.pending, loop_io=not self.db.sqlite,
                                    security=self.security, audit=self.audit)
        # on SQLite the writes of one turn of the loop share one COMMIT (see GroupCommitter); on
        # PostgreSQL a call waiting for the database gives the loop to the others (Database.tx)
        self.db.serve_on_loop(self.service.loop, self.service.thread.ident, self.metrics.group_committed)
        self.service.closing.append(self.db.close_loop)
        self.metrics_server, _, self.metrics_port = serve_metrics(self.registry, cfg.host, cfg.metrics_port)
        self.loop = threading.Thread(target=self._loop, name="scheduler-loop", daemon=True)
        self.loop.start()
        self.handoffs = threading.Thread(target=self._handoff_loop, name="promotion-handoffs", daemon=True)
        self.handoffs.start()
        log.info("scheduler serving", extra={"port": self.service.port, "metrics_port": self.metrics_port,
                                            "database": redact_url(self.settings.database_url)})

    def _loop(self) -> None:
        delay = 0.0
        while True:
            due = time.monotonic() + delay
            woken = False
            # between ticks, come round every third of the lease to renew it (or, standing by, to
            # see whether it expired): becoming the leader is worth a tick at once
            while not woken and not self.stop_loop.is_set() and time.monotonic() < due:
                lease = self.scheduler.leadership
                woken = self.heartbeat.wait(self.scheduler.wake, min(due - time.monotonic(), lease.renew_every))
                if not woken and time.monotonic() < due:
                    was = lease.leading
                    if self._guarded(lease.renew) and not was:
                        break
            if woken and not self.stop_loop.is_set():
                # woken early by a change: let a burst of changes settle into one tick
                self.stop_loop.wait(WAKE_COALESCE_S)
            self.scheduler.wake.clear()
            if self.stop_loop.is_set():
                return
            outcome = self._guarded(self.scheduler.tick)
            delay = outcome.delay if outcome is not None else self.cfg.loop_interval_s

    def _guarded(self, step):
        """One step of the loop (a tick, a renewal); None if it failed: the loop outlives it."""
        try:
            out = step()
        except DatabaseBusy as exc:
            if not self.database.failed(exc):
                log.warning("scheduler loop: the database is busy", extra={"error": str(exc)})
            return None
        except Exception:  # noqa: BLE001 - the loop must outlive one bad round; it is logged
            log.exception("scheduler loop round failed")
            return None
        self.database.ok()
        return out

    def _handoff_loop(self) -> None:
        """Completed runs to the promoter: at once when one completes, and every HANDOFF_POLL_S for
        those waiting on a retry (the outbox is in the database: a restart picks them up)."""
        wake = self.scheduler.attempts.handoff_wake
        while not self.stop_loop.is_set():
            wake.wait(HANDOFF_POLL_S)
            wake.clear()
            if self.stop_loop.is_set():
                return
            if not self.scheduler.leadership.leading:
                continue                # the leader delivers them (PromoteRun is idempotent anyway)
            try:
                self.scheduler.attempts.deliver_handoffs()
            except Exception:  # noqa: BLE001 - the sender must outlive one failure; it is logged
                log.exception("promotion hand-off round failed")

    def stop(self, grace: float = 5.0) -> None:
        self.stop_loop.set()
        self.scheduler.wake.set()
        if getattr(self, "loop", None) is not None:
            self.loop.join(timeout=30.0)        # no tick admits after the lease is given up
        try:
            self.scheduler.leadership.release()
        except Exception:  # noqa: BLE001 - best effort at exit: the lease then expires by itself
            log.exception("could not give up the leader's lease")
        self.scheduler.attempts.handoff_wake.set()
        close_all(self.service, self.metrics_server, grace, self.miner_gateway, self.promoter_gateway, self.reporter,
                  self.db)


def main(argv: list[str] | None = None) -> int:
    return run_service("scheduler", ("miner", "watchdog", "promoter"), SchedulerApp, argv)


if __name__ == "__main__":
    sys.exit(main())
