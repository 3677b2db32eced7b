"""A client of any OMP service over its generated stub: a deadline on every call, and a status
turned back into the domain exception of services/common/errors.py. Each caller names the stub of
the service it talks to (``Client(scheduler_pb2_grpc.SchedulerServiceStub, target)``)."""
from __future__ import annotations

import grpc

from omp_services.common.errors import from_rpc_error

#: the largest message a server or client of OMP sends or accepts (gRPC's usual 4 MiB, said out loud):
#: every answer that grows with the queue is paged or streamed to stay well under it
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
CHANNEL_OPTIONS = (("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES))


class Client:
    def __init__(self, stub_class, target: str, timeout: float = 10.0, channel: grpc.Channel | None = None,
                 security=None):
        """``security`` (services/common/security.py's Security) gives the channel its TLS and this
        process's identity; without it the channel is plaintext and anonymous."""
        self.target, self.timeout = target, timeout
        self.channel = channel or (security.channel(target) if security is not None
                                   else grpc.insecure_channel(target, options=CHANNEL_OPTIONS))
        self.stub = stub_class(self.channel)

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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
