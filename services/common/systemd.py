"""systemd's service protocol, spoken by every service (``Type=notify`` in deploy/systemd/).

- ``READY=1`` once the service serves, ``STOPPING=1`` when it starts to drain, ``STATUS=`` lines
  for ``systemctl status``: datagrams to ``$NOTIFY_SOCKET`` (sd_notify(3)), nothing without it.
- ``WATCHDOG=1`` every quarter of ``$WATCHDOG_USEC``, and only while the process is alive where
  it matters: its gRPC event loop answers and its main loop went round lately (:class:`Heartbeat`);
  two failed checks in a row withhold it.
  A hung loop stops the pings and systemd restarts the service (``WatchdogSec``,
  ``Restart=on-failure``), not only a dead one.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable, Mapping

log = logging.getLogger(__name__)


def notify(message: str, env: Mapping[str, str] = os.environ) -> bool:
    """Send ``message`` (``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``, ``STATUS=...``, newline
    separated) to the service manager; False when there is none to hear it."""
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):         # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            s.sendall(message.encode())
        return True
    except OSError as exc:
        log.warning("service manager notification failed", extra={"error": str(exc), "notify": message[:100]})
        return False


def watchdog_interval(env: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between pings: a quarter of ``WatchdogSec``, so that a ping withheld after two
    failed checks in a row still leaves the margin of one; None when systemd expects none (no
    ``$WATCHDOG_USEC``, or it is meant for another process)."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6 / 4


class Heartbeat:
    """A main loop's sign of life: it beats every round, and waits through :meth:`wait`, which
    beats at least every ``step`` seconds of a long wait. Stale when no beat came for
    ``stale_after`` seconds: a round took that long, so the loop hangs."""

    def __init__(self, stale_after: float, step: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.stale_after, self.step, self.clock = stale_after, step, clock
        self._last = clock()

    def beat(self) -> None:
        self._last = self.clock()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """``event.wait(seconds)``, beating meanwhile; True when the event was set."""
        deadline = self.clock() + seconds
        while True:
            self.beat()
            left = deadline - self.clock()
            if left <= 0:
                return event.is_set()
            if event.wait(min(left, self.step)):
                self.beat()
                return True

    def fresh(self) -> bool:
        return self.clock() - self._last < self.stale_after


class Watchdog:
    """Pings systemd's watchdog every ``interval`` seconds while ``alive()`` says so, from a
    thread of its own; a service whose checks fail stops being pinged (and says why, once)."""

    def __init__(self, interval: float, alive: Callable[[], str | None], env: Mapping[str, str] = os.environ):
        self.interval, self.alive, self.env = interval, alive, env
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="systemd-watchdog", daemon=True)

    def start(self) -> "Watchdog":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        said, failed = None, 0
        while not self._stop.wait(self.interval):
            try:
                why = self.alive()
            except Exception as exc:  # noqa: BLE001 - a check that fails is a service that is not well
                why = f"liveness check failed: {exc}"
            failed = 0 if why is None else failed + 1
            if failed < 2:              # one slow check (a stall at the wrong moment) is not a hang
                notify("WATCHDOG=1", self.env)
                said = None
            elif why != said:
                log.error("not pinging systemd's watchdog: the service hangs", extra={"why": why})
                notify(f"STATUS=hung: {why}", self.env)
                said = why
