"""The scheduler's view of its miners, over the generated stubs (protobuf stays here): one client
per miner address, made when first needed."""
from __future__ import annotations

import threading

from omp.v1 import common_pb2 as pb, miner_pb2, miner_pb2_grpc
from omp_services.common.clients import Client
from omp_services.common.convert import enum_from_pb
from omp_services.common.errors import InvalidArgument, NotFound
from omp_services.common.vocabulary import RunStatus
from omp_services.scheduler.entities import RunState


class GrpcMinerGateway:
    def __init__(self, timeout: float, security=None):
        self.timeout, self.security = timeout, security
        self._lock = threading.Lock()
        self._clients: dict[str, Client] = {}

    def _client(self, address: str) -> Client:
        with self._lock:
            client = self._clients.get(address)
            if client is None:
                client = self._clients[address] = Client(miner_pb2_grpc.MinerServiceStub, address,
                                                         timeout=self.timeout, security=self.security)
            return client

    def forget(self, address: str) -> None:
        """A miner moved away from ``address``: its channel is closed."""
        with self._lock:
            client = self._clients.pop(address, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    def start_run(self, address: str, campaign_id: str, attempt: int, config_path: str, config_hash: str) -> str:
        run = self._client(address).call("StartRun", miner_pb2.StartRunRequest(
            campaign_id=campaign_id, attempt=attempt, config_path=config_path, config_hash=config_hash)).run
        return run.run_id

    def get_run(self, address: str, campaign_id: str, attempt: int) -> RunState | None:
        try:
            run = self._client(address).call("GetRun", miner_pb2.GetRunRequest(campaign_id=campaign_id,
                                                                               attempt=attempt)).run
        except NotFound:
            return None
        try:
            status = enum_from_pb(pb.RunStatus, run.status, RunStatus, "run.status")
        except InvalidArgument:     # a status this scheduler does not know: the run is not usable
            return RunState(run.run_id, RunStatus.FAILED, f"the miner reports an unknown status {run.status}")
        return RunState(run.run_id, status, run.error)
