"""A service's own detections, sent to the watchdog (``OpenIncident``): the watchdog owns incidents,
and every other service reports through it.

A report is kept in memory and sent from a thread of its own, tried again with a growing wait
(1 s to 60 s) until the watchdog acknowledges it, so the caller (a main loop) never waits for the
watchdog. Reports of one condition (kind and key) not sent yet are folded into the newest: the
watchdog merges repeats anyway. In memory, not in the database, on purpose: the condition that
matters most, a database that cannot be reached, is exactly when nothing can be written there;
an ongoing condition is detected and reported again after a restart.
"""
from __future__ import annotations

import logging
import threading

from omp.v1 import watchdog_pb2 as wpb, watchdog_pb2_grpc
from omp_services.common.clients import Client
from omp_services.common.errors import InvalidArgument, OmpError
from omp_services.common.findings import Finding

log = logging.getLogger("omp.incidents")

#: the most conditions held while the watchdog cannot be reached; the oldest go first (logged)
MAX_PENDING = 100
FIRST_WAIT_S, MAX_WAIT_S = 1.0, 60.0


class IncidentReporter:
    def __init__(self, target: str, source: str, timeout: float = 5.0, security=None):
        self.client = Client(watchdog_pb2_grpc.WatchdogServiceStub, target, timeout=timeout, security=security)
        self.source = source
        self._pending: dict[tuple[str, str], Finding] = {}
        self._cond = threading.Condition()
        self._closed = False
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name=f"{source}-incidents", daemon=True)
        self._thread.start()

    def report(self, f: Finding) -> None:
        """Queue ``f`` for the watchdog; returns at once."""
        with self._cond:
            key = (f.kind, f.key)
            self._pending.pop(key, None)            # the newest report of a condition stands for it
            self._pending[key] = f
            while len(self._pending) > MAX_PENDING:
                dropped = next(iter(self._pending))
                del self._pending[dropped]
                log.error("incident report dropped: the watchdog has not answered and too many are waiting",
                          extra={"kind": dropped[0], "key": dropped[1]})
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def _run(self) -> None:
        wait = 0.0
        while True:
            with self._cond:
                if wait:            # backing off: a new report does not cut the wait short
                    self._cond.wait_for(lambda: self._closed, timeout=wait)
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                key, f = next(iter(self._pending.items()))
            try:
                self._send(f)
            except InvalidArgument as exc:          # the report itself is wrong: sending it again will not help
                log.error("incident report refused by the watchdog", extra={"kind": f.kind, "error": str(exc)})
            except Exception as exc:  # noqa: BLE001 - kept and tried again; the thread must not die
                wait = min(max(FIRST_WAIT_S, wait * 2), MAX_WAIT_S)
                log.warning("watchdog did not take an incident report; kept", extra={
                    "kind": f.kind, "error": str(exc) if isinstance(exc, OmpError) else repr(exc), "retry_in_s": wait})
                with self._cond:    # to the back of the line: one stuck report does not hold the others
                    if self._pending.get(key) is f:
                        del self._pending[key]
                        self._pending[key] = f
                continue
            wait = 0.0
            with self._cond:
                if self._pending.get(key) is f:     # not replaced by a newer one while it was sent
                    del self._pending[key]
                self.sent += 1

    def _send(self, f: Finding) -> None:
        self.client.call("OpenIncident", wpb.OpenIncidentRequest(
            severity=f.severity + 1, kind=f.kind, key=f.key, summary=f.summary[:2000],
            symptoms=[s[:2000] for s in f.symptoms[:50]], campaigns=list(f.campaigns[:50]), runs=list(f.runs[:50]),
            handoffs=list(f.handoffs), actor=self.source))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self.client.close()
