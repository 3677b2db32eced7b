"""The scheduler's view of the promoter, over the generated stubs (protobuf stays here)."""
from __future__ import annotations

from omp.v1 import promoter_pb2 as ppb, promoter_pb2_grpc
from omp_services.common.clients import Client
from omp_services.common.convert import enum_from_pb
from omp_services.common.vocabulary import PromotionOutcome


class GrpcPromoterGateway:
    configured = True

    def __init__(self, target: str, timeout: float, security=None):
        # judging a run reads its folder and may write the Hall of Fame: give it time
        self.client = Client(promoter_pb2_grpc.PromoterServiceStub, target, timeout=max(timeout, 60.0),
                             security=security)

    def close(self) -> None:
        self.client.close()

    def promote(self, campaign_id: str, run_id: str) -> str:
        d = self.client.call("PromoteRun", ppb.PromoteRunRequest(run_id=run_id, campaign_id=campaign_id,
                                                                 actor="scheduler")).decision
        return str(enum_from_pb(ppb.PromotionOutcome, d.outcome, PromotionOutcome, "outcome"))
