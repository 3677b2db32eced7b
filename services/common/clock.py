"""Time comes from here, injected, so that policies can be tested with a fake clock.

One unit everywhere in the services: UTC epoch seconds as a float (what the tables store, what a
protobuf Timestamp is made from). ``monotonic()`` measures intervals that must not jump with the
wall clock.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """UTC epoch seconds."""
    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock tests move by hand; it starts at 2026-01-01 00:00 UTC unless told otherwise."""

    def __init__(self, start: float = 1767225600.0):
        self._now = float(start)
        self._mono = 0.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds


def iso(t: float, timespec: str = "seconds") -> str:
    """Epoch seconds as UTC ISO 8601: to the second in messages, in full (``auto``) in exports."""
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec=timespec)
