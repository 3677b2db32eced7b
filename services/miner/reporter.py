"""The miner's reports to the scheduler, over the generated stubs."""
from __future__ import annotations

from omp.v1 import common_pb2 as pb, scheduler_pb2 as spb, scheduler_pb2_grpc
from omp_services.common.clients import Client
from omp_services.common.convert import enum_pb, progress_pb
from omp_services.common.vocabulary import RunStatus


class GrpcSchedulerReporter:
    def __init__(self, target: str, timeout: float, security=None):
        self.client = Client(scheduler_pb2_grpc.SchedulerServiceStub, target, timeout=timeout, security=security)

    def close(self) -> None:
        self.client.close()

    def register(self, address: str, miner_id: str = "", slots: int = 0) -> None:
        self.client.call("RegisterMiner", spb.RegisterMinerRequest(address=address, miner_id=miner_id, slots=slots))

    def progress(self, campaign_id: str, attempt: int, run_id: str, progress: dict) -> None:
        self.client.call("ReportProgress", spb.ReportProgressRequest(
            campaign_id=campaign_id, attempt=attempt, run_id=run_id, progress=progress_pb(progress)))

    def result(self, campaign_id: str, attempt: int, run_id: str, status: RunStatus, error: str,
               run_dir: str, ended_by: str = "") -> None:
        self.client.call("ReportRunResult", spb.ReportRunResultRequest(
            campaign_id=campaign_id, attempt=attempt, run_id=run_id, status=enum_pb(pb.RunStatus, status),
            error=error, run_dir=run_dir, ended_by=ended_by))
