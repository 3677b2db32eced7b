"""Wakes watchers (event streams, run watches) after a commit."""
from __future__ import annotations

import threading


class Notifier:
    """Wakes event watchers after a commit."""

    def __init__(self):
        self._cond = threading.Condition()
        self._version = 0

    def notify(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self._cond:
            self._cond.wait_for(lambda: self._version != seen, timeout)
            return self._version

    @property
    def version(self) -> int:
        return self._version
