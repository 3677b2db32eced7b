"""The scheduler's view of the miner, over the generated stubs (protobuf stays here)."""
from __future__ import annotations

import threading

from omp.v1 import common_pb2 as pb, miner_pb2, miner_pb2_grpc
from omp_services.common.clients import Client
from omp_services.common.convert import enum_from_pb
from omp_services.common.errors import InvalidArgument, NotFound
from omp_services.common.vocabulary import RunStatus
from omp_services.scheduler.entities import RunState


class GrpcMinerGateway:
    """Talks to the miner that registered last (or the one in the settings)."""

    def __init__(self, target: str, timeout: float, security=None):
        self.timeout, self.security = timeout, security
        self._lock = threading.Lock()
        self.client = self._client(target)

    def _client(self, target: str) -> Client:
        return Client(miner_pb2_grpc.MinerServiceStub, target, timeout=self.timeout, security=self.security)

    @property
    def target(self) -> str:
        return self.client.target

    def register(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidArgument(f"address must be host:port, got {address!r}")
        with self._lock:
            if address != self.client.target:
                old, self.client = self.client, self._client(address)
                old.close()

    def close(self) -> None:
        self.client.close()

    def start_run(self, campaign_id: str, attempt: int, config_path: str, config_hash: str) -> str:
        run = self.client.call("StartRun", miner_pb2.StartRunRequest(
            campaign_id=campaign_id, attempt=attempt, config_path=config_path, config_hash=config_hash)).run
        return run.run_id

    def get_run(self, campaign_id: str, attempt: int) -> RunState | None:
        try:
            run = self.client.call("GetRun", miner_pb2.GetRunRequest(campaign_id=campaign_id, attempt=attempt)).run
        except NotFound:
            return None
        try:
            status = enum_from_pb(pb.RunStatus, run.status, RunStatus, "run.status")
        except InvalidArgument:     # a status this scheduler does not know: the run is not usable
            return RunState(run.run_id, RunStatus.FAILED, f"the miner reports an unknown status {run.status}")
        return RunState(run.run_id, status, run.error)
