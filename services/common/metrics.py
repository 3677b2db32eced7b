"""Prometheus metrics: gRPC request counts and latencies for every server, an HTTP /metrics endpoint
on its own port. Metric names follow ``omp_<what>_<unit>``; labels are closed sets (never ids)."""
from __future__ import annotations

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server


class GrpcMetrics:
    def __init__(self, registry: CollectorRegistry, service: str):
        self.requests = Counter("omp_grpc_server_requests_total", "gRPC requests handled, by method and code",
                                ["service", "method", "code"], registry=registry)
        self.latency = Histogram("omp_grpc_server_request_duration_seconds", "gRPC request latency",
                                 ["service", "method"], registry=registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.service = service

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self.requests.labels(self.service, method, code.name).inc()
        self.latency.labels(self.service, method).observe(seconds)


def serve_metrics(registry: CollectorRegistry, host: str, port: int):
    """Start the /metrics HTTP endpoint; returns (server, thread, bound port)."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    return server, thread, server.server_port
