"""What the scheduler needs of the other services, as the domain sees it. The gRPC
implementations live at the edge (``miner_gateway.py``); tests may hand in their own."""
from __future__ import annotations

import logging
from typing import Protocol

from services.scheduler.entities import RunState

log = logging.getLogger("omp.scheduler")


class MinerGateway(Protocol):
    target: str

    def register(self, address: str) -> None: ...
    def start_run(self, campaign_id: str, attempt: int, config_path: str, config_hash: str) -> str:
        """The run id of the attempt's run (the same one if asked again)."""
    def get_run(self, campaign_id: str, attempt: int) -> RunState | None:
        """None when the miner does not know the attempt."""


class PromoterGateway(Protocol):
    """Where a completed run goes to be judged. The scheduler records the hand-off in the same
    transaction that completes the attempt (the ``promotion.pending`` event) and then hands the
    run over; ``configured`` says whether anyone is there to take it."""
    configured: bool

    def hand_off(self, campaign_id: str, run_id: str) -> None: ...


class NoPromoter:
    """No promoter service yet: completed runs wait, and their ``promotion.pending`` event says so."""
    configured = False

    def hand_off(self, campaign_id: str, run_id: str) -> None:
        log.info("run awaits promotion (no promoter configured)", extra={"run_id": run_id,
                                                                        "campaign_id": campaign_id})
