"""Retention as the watchdog runs it: on demand (``omp cleanup``), once a day, and at once when a
disk runs short; one at a time; what it did goes to the metrics and, on disk pressure, to the
incident's timeline."""
from __future__ import annotations

import logging
import threading

from omp_services.watchdog.retention import Outcome, Retention

log = logging.getLogger("omp.watchdog")
DAILY_S = 86400.0


class Housekeeping:
    def __init__(self, retention: Retention, clock, metrics=None):
        self.retention, self.clock, self.metrics = retention, clock, metrics
        self._lock = threading.Lock()
        self.next_due = clock.now() + 3600.0        # the first daily pass an hour after start

    def cleanup(self, dry_run: bool, actor: str):
        """(the plan, and its outcome unless ``dry_run``)."""
        with self._lock:
            plan = self.retention.plan()
            if dry_run:
                return plan, None
            outcome: Outcome = self.retention.apply(plan)
        log.info("retention cleanup", extra={"actor": actor, "done": len(outcome.done), "failed": len(outcome.failed),
                                             "freed_bytes": outcome.freed_bytes})
        if self.metrics:
            self.metrics.retention(outcome)
        return plan, outcome

    def due(self) -> bool:
        if self.clock.now() < self.next_due:
            return False
        self.next_due = self.clock.now() + DAILY_S
        return True

    def restore(self, run_folder: str, actor: str):
        with self._lock:
            path = self.retention.restore(run_folder)
        log.info("run folder restored", extra={"actor": actor, "path": str(path)})
        return path
