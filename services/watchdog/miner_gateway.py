"""The watchdog's view of the miner, over the generated stubs (protobuf stays here)."""
from __future__ import annotations

from omp.v1 import common_pb2 as pb, miner_pb2 as mpb, miner_pb2_grpc
from omp_services.common.clients import Client
from omp_services.watchdog.ports import RunFolder, RunView


class GrpcMinerGateway:
    def __init__(self, target: str, timeout: float, security=None):
        self.client = Client(miner_pb2_grpc.MinerServiceStub, target, timeout=timeout, security=security)

    def close(self) -> None:
        self.client.close()

    def running_runs(self) -> list[RunView]:
        out, token = [], ""
        while True:
            page = self.client.call("ListRuns", mpb.ListRunsRequest(status=pb.RUN_STATUS_RUNNING, page_size=1000,
                                                                    page_token=token, this_miner_only=True))
            out += [RunView(r.run_id, r.campaign_id, r.attempt, r.pid, r.progress.generation,
                            r.progress.evaluations, r.progress.seed) for r in page.runs]
            token = page.next_page_token
            if not token:
                return out

    def run_folders(self) -> list[RunFolder]:
        out, token = [], ""
        while True:
            page = self.client.call("ListRuns", mpb.ListRunsRequest(page_size=1000, page_token=token,
                                                                    this_miner_only=True))
            out += [RunFolder(r.run_dir, r.campaign_id, r.status == pb.RUN_STATUS_RUNNING) for r in page.runs]
            token = page.next_page_token
            if not token:
                return out

    def kill(self, run_id: str, reason: str) -> None:
        self.client.call("CancelRun", mpb.CancelRunRequest(run_id=run_id, reason=reason[:2000], as_failure=True,
                                                              actor="watchdog"))
