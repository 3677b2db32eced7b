"""How long a service's main loop has not reached its database, and the one incident it makes.

The loop tells it of each pass: ``ok()`` after one that reached the database, ``failed(exc)``
after one that did not (DatabaseUnavailable: no connection could be made, or it broke). Past
``[database] unreachable_s`` of failures it reports one SEV-0 finding and calls ``on_down``; the
first pass that reaches the database again reports the recovery and calls ``on_back``. A busy
database (a lock held too long) is not unreachable: it is served again within seconds.
"""
from __future__ import annotations

import logging
from typing import Callable

from omp_services.common.clock import Clock
from omp_services.common.errors import DatabaseUnavailable
from omp_services.common.findings import Finding

log = logging.getLogger("omp.database")
KIND = "database_unreachable"


class DatabaseWatch:
    def __init__(self, service: str, unreachable_s: float, clock: Clock, report: Callable[[Finding], None],
                 on_down: Callable[[str], None] | None = None, on_back: Callable[[str], None] | None = None):
        self.service, self.unreachable_s, self.clock, self.report = service, unreachable_s, clock, report
        self.on_down, self.on_back = on_down, on_back
        self.down_since: float | None = None
        self.last_error = ""
        self.reported = False

    @property
    def up(self) -> bool:
        return self.down_since is None

    def ok(self) -> None:
        if self.down_since is None:
            return
        lasted = self.clock.now() - self.down_since
        self.down_since = None
        if not self.reported:
            return                          # a blip shorter than the limit: nothing to report
        self.reported = False
        why = f"the {self.service}'s database is reachable again after {lasted:.0f} s"
        log.warning(why)
        self.report(Finding(0, KIND, why, key=self.service, symptoms=(f"unreachable for {lasted:.0f} s",),
                            handoffs=("devops-infra",)))
        if self.on_back is not None:
            self.on_back(why)

    def failed(self, exc: Exception) -> bool:
        """Note a pass that did not reach the database; True when it counts as unreachable."""
        if not isinstance(exc, DatabaseUnavailable):
            return False
        now = self.clock.now()
        self.down_since = self.down_since if self.down_since is not None else now
        self.last_error = str(exc)[:500]
        lasted = now - self.down_since
        if lasted < self.unreachable_s or self.reported:
            return True
        self.reported = True
        why = (f"the {self.service} has not reached its database for {lasted:.0f} s: mining is paused until it "
               "is back")
        log.error(why, extra={"error": self.last_error})
        self.report(Finding(0, KIND, why, key=self.service, symptoms=(self.last_error,), handoffs=("devops-infra",)))
        if self.on_down is not None:
            self.on_down(why)
        return True
