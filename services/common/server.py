"""One way to build and run a gRPC server: health and reflection on every server, the error table
and request metrics applied by an interceptor, a port clash that fails loudly, SIGTERM that drains.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from typing import Callable, Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.errors import to_status
from services.common.metrics import GrpcMetrics

log = logging.getLogger(__name__)


class PortInUse(RuntimeError):
    pass


def _abort(exc: Exception, method: str, metrics: GrpcMetrics, t0: float, context) -> None:
    code, msg = to_status(exc)
    metrics.observe(method, code, time.perf_counter() - t0)
    if code == grpc.StatusCode.INTERNAL:
        log.exception("unhandled error in %s", method)
    context.abort(code, msg)


def _wrap_unary(behavior, method, metrics):
    def handler(request, context):
        t0 = time.perf_counter()
        try:
            resp = behavior(request, context)
        except Exception as exc:  # noqa: BLE001 - every exception becomes a status, by the table
            _abort(exc, method, metrics, t0, context)
        # servicers never abort themselves: they raise, and the table picks the code
        metrics.observe(method, grpc.StatusCode.OK, time.perf_counter() - t0)
        return resp
    return handler


def _wrap_stream(behavior, method, metrics):
    def handler(request, context):
        t0 = time.perf_counter()
        try:
            yield from behavior(request, context)
        except Exception as exc:  # noqa: BLE001 - every exception becomes a status, by the table
            _abort(exc, method, metrics, t0, context)
        metrics.observe(method, grpc.StatusCode.OK, time.perf_counter() - t0)
    return handler


class _Interceptor(grpc.ServerInterceptor):
    """Maps domain exceptions to status codes (services/common/errors.py) and counts requests."""

    def __init__(self, metrics: GrpcMetrics):
        self.metrics = metrics

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith("/omp."):
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(_wrap_unary(handler.unary_unary, method, self.metrics),
                                                       handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(_wrap_stream(handler.unary_stream, method, self.metrics),
                                                        handler.request_deserializer, handler.response_serializer)
        return handler


class Service:
    """A running gRPC server with its health service; ``stopping`` tells streams to end."""

    def __init__(self, server: grpc.Server, port: int, health_servicer: health.HealthServicer,
                 service_names: list[str], stopping: threading.Event):
        self.server, self.port, self.health, self.service_names = server, port, health_servicer, service_names
        self.stopping = stopping

    def stop(self, grace: float = 5.0) -> None:
        """Mark NOT_SERVING, end the streams, let in-flight calls finish within ``grace`` seconds."""
        self.stopping.set()
        for name in self.service_names + [""]:
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.stop(grace).wait()

    def wait(self) -> None:
        self.server.wait_for_termination()


def build_server(host: str, port: int, register: Iterable[Callable[[grpc.Server], str]], metrics: GrpcMetrics,
                 *, stopping: threading.Event | None = None, max_workers: int = 32) -> Service:
    """Build, bind and start a server. Each ``register(server)`` adds a servicer and returns its full
    service name (for health and reflection). ``port=0`` picks a free port; a taken port raises.
    ``stopping`` is set when the server begins to drain: streaming servicers watch it."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
                         interceptors=[_Interceptor(metrics)],
                         # never share a port silently with another process
                         options=[("grpc.so_reuseport", 0)])
    names = [reg(server) for reg in register]
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(names + [health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:
        raise PortInUse(f"cannot bind {host}:{port}: {exc}") from None
    if bound == 0:
        raise PortInUse(f"cannot bind {host}:{port}: address in use")
    server.start()
    for name in names + [""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Service(server, bound, health_servicer, names, stopping or threading.Event())
