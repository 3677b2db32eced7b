"""Clients of the services over the generated stubs: a deadline on every call, and a status turned
back into the domain exception of services/common/errors.py."""
from __future__ import annotations

import grpc

from omp.v1 import common_pb2, miner_pb2, miner_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc
from services.common.errors import from_rpc_error


class _Client:
    stub_class = None

    def __init__(self, target: str, timeout: float = 10.0, channel: grpc.Channel | None = None):
        self.target, self.timeout = target, timeout
        self.channel = channel or grpc.insecure_channel(target)
        self.stub = self.stub_class(self.channel)

    def call(self, method: str, request, timeout: float | None = None):
        try:
            return getattr(self.stub, method)(request, timeout=timeout or self.timeout)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def stream(self, method: str, request, timeout: float | None = None):
        """Iterate a server stream; ``timeout`` None means no deadline (a watch)."""
        try:
            yield from getattr(self.stub, method)(request, timeout=timeout)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def close(self) -> None:
        self.channel.close()


class SchedulerClient(_Client):
    stub_class = scheduler_pb2_grpc.SchedulerServiceStub
    pb = scheduler_pb2


class MinerClient(_Client):
    stub_class = miner_pb2_grpc.MinerServiceStub
    pb = miner_pb2


__all__ = ["SchedulerClient", "MinerClient", "common_pb2"]
