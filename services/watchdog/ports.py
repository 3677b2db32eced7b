"""What the watchdog needs of the scheduler and the miner, as its policy sees it; the gRPC
implementations are the gateways beside this file."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SchedulerEvent:
    seq: int
    at: float
    kind: str
    campaign_id: str
    message: str
    error: str = ""             # a failed run's error, as the miner reported it
    detail_from: str = ""       # a daemon transition's former state
    outcome: str = ""           # a judged run's promotion outcome (promoted, rejected, blocked, incomplete)


@dataclass(frozen=True)
class RunView:
    """A run as the watchdog watches it: what moves while it makes progress."""
    run_id: str
    campaign_id: str
    attempt: int
    pid: int
    generation: int
    evaluations: int
    seed: int


@dataclass(frozen=True)
class RunFolder:
    """A run folder as the miner knows it: whose it is, and whether a running run uses it."""
    run_dir: str
    campaign_id: str
    running: bool


class SchedulerPort(Protocol):
    def daemon_state(self) -> str: ...
    def stop(self, reason: str) -> None: ...
    def pause(self, reason: str) -> None: ...
    def resume(self, reason: str) -> None: ...
    def throttle(self, factor: float, seconds: float, reason: str) -> None: ...
    def data_not_ready(self, reason: str) -> None: ...
    def events_after(self, seq: int) -> list[SchedulerEvent]: ...


class MinerPort(Protocol):
    def running_runs(self) -> list[RunView]: ...
    def kill(self, run_id: str, reason: str) -> None:
        """End the run as failed (its campaign is re-queued, not disabled)."""
    def run_folders(self) -> list[RunFolder]: ...
