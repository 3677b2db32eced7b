"""What the scheduler needs of the other services, as the domain sees it. The gRPC
implementations live at the edge (``miner_gateway.py``); tests may hand in their own."""
from __future__ import annotations

from typing import Protocol

from omp_services.scheduler.entities import RunState


class MinerGateway(Protocol):
    """The miners, each reached at its address."""

    def forget(self, address: str) -> None:
        """No miner is at ``address`` any more (one moved): let go of what reaches it."""
    def start_run(self, address: str, campaign_id: str, attempt: int, config_path: str, config_hash: str) -> str:
        """The run id of the attempt's run (the same one if asked again)."""
    def get_run(self, address: str, campaign_id: str, attempt: int) -> RunState | None:
        """None when the miner does not know the attempt."""


class PromoterGateway(Protocol):
    """Where a completed run goes to be judged. The scheduler records the hand-off in the same
    transaction that completes the attempt (an outbox row) and delivers it until the promoter
    answers; ``configured`` says whether anyone is there to take it."""
    configured: bool

    def promote(self, campaign_id: str, run_id: str) -> str:
        """Judge the run (idempotent by run id); returns the outcome's word."""


class NoPromoter:
    """No promoter: completed runs wait in the outbox, and their ``promotion.pending`` event says so."""
    configured = False

    def promote(self, campaign_id: str, run_id: str) -> str:
        raise AssertionError("NoPromoter is never asked: it is not configured")
