"""What every part of the scheduler's domain shares: the store, its settings, the clock, and the
wake-ups after a commit (event watchers; the main loop when admission may have become possible)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from omp_services.common.clock import Clock
from omp_services.common.findings import Finding
from omp_services.common.notify import Notifier
from omp_services.common.vocabulary import DaemonState
from omp_services.scheduler.settings import SchedulerSettings

if TYPE_CHECKING:       # handed in by the composition root; the domain never builds one
    from omp_services.scheduler.repository import SchedulerStore


@dataclass
class SchedulerContext:
    store: "SchedulerStore"
    cfg: SchedulerSettings
    configs_root: Path
    clock: Clock
    metrics: object | None = None
    notifier: Notifier = field(default_factory=Notifier)
    #: set when admission may have become possible (daemon started, campaign added or enabled, a
    #: run ended): the main loop ticks at once instead of waiting out its interval
    wake: threading.Event = field(default_factory=threading.Event)
    #: the daemon's state as last seen; only a daemon that is not offline is worth waking
    daemon_state: DaemonState | None = None
    #: the scheduler's own detections go to the watchdog through this (it returns at once)
    report: Callable[[Finding], None] = lambda finding: None

    def now(self) -> float:
        return self.clock.now()

    def committed(self, wake: bool = False) -> None:
        """After a change: wake the event watchers (and the main loop, with ``wake``) once the
        change is committed, not before."""
        self.store.on_commit(self._wake_all if wake else self.notifier.notify)

    def _wake_all(self) -> None:
        self.notifier.notify()
        if self.daemon_state is not DaemonState.OFFLINE:
            self.wake.set()
