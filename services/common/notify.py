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

    def wait(self, seen: int, timeout: float, call=None) -> int:
        """Wait until something was committed after version ``seen``, ``timeout`` passes, or
        ``call`` (a streaming call's context) ends: a cancelled stream's thread is free at once."""
        if call is None:
            with self._cond:
                self._cond.wait_for(lambda: self._version != seen, timeout)
                return self._version
        call.on_end(self._wake)
        with self._cond:
            self._cond.wait_for(lambda: self._version != seen or not call.is_active(), timeout)
            return self._version

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @property
    def version(self) -> int:
        return self._version
