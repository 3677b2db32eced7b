"""The miner's reports to the scheduler, over the generated stubs."""
from __future__ import annotations

from omp.v1 import common_pb2 as pb, scheduler_pb2 as spb
from services.common.clients import SchedulerClient

STATUS = {"completed": pb.RUN_STATUS_COMPLETED, "failed": pb.RUN_STATUS_FAILED, "cancelled": pb.RUN_STATUS_CANCELLED}


class GrpcSchedulerReporter:
    def __init__(self, client: SchedulerClient):
        self.client = client

    def register(self, address: str) -> None:
        self.client.call("RegisterMiner", spb.RegisterMinerRequest(address=address))

    def progress(self, campaign_id: str, attempt: int, run_id: str, progress: dict) -> None:
        keys = ("seed", "generation", "generations", "best_sharpe", "evaluations", "evaluations_per_second",
                "seeds_done", "seeds_total")
        self.client.call("ReportProgress", spb.ReportProgressRequest(
            campaign_id=campaign_id, attempt=attempt, run_id=run_id,
            progress=pb.RunProgress(**{k: progress[k] for k in keys if k in progress})))

    def result(self, campaign_id: str, attempt: int, run_id: str, status: str, error: str, run_dir: str) -> None:
        self.client.call("ReportRunResult", spb.ReportRunResultRequest(
            campaign_id=campaign_id, attempt=attempt, run_id=run_id, status=STATUS[status], error=error,
            run_dir=run_dir))
