"""Prometheus metrics: gRPC request counts and latencies for every server, an HTTP /metrics endpoint
on its own port. Metric names follow ``omp_<what>_<unit>``; labels are closed sets (never ids)."""
from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.exposition import _SilentHandler


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


class _Handler(_SilentHandler):
    #: a connection that says nothing for this long is closed: an idle client holds no worker
    timeout = 2.0


class BoundedMetricsServer(WSGIServer):
    """prometheus_client's endpoint, on a fixed pool of workers instead of a thread per connection
    (300 idle connections held 313 threads): ``workers`` connections are served at once, ``backlog``
    more wait, any further one is closed at once (Prometheus retries at its next scrape), and a
    connection idle for ``_Handler.timeout`` seconds is dropped."""

    daemon_threads = True
    request_queue_size = 128        # the kernel's accept queue: a burst of connections is taken, then sorted

    def __init__(self, address, workers: int = 4, backlog: int = 32):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metrics")
        self._slots = threading.BoundedSemaphore(workers + backlog)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        self._pool.submit(self._serve, request, client_address)

    def _serve(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - a broken connection is that client's problem
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def handle_error(self, request, client_address):
        pass            # a scraper that hung up or timed out: nothing to report

    def server_close(self):
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def serve_metrics(registry: CollectorRegistry, host: str, port: int):
    """Start the /metrics HTTP endpoint; returns (server, thread, bound port). ``server.shutdown()``
    stops it."""
    server = BoundedMetricsServer((host, port))
    server.set_app(make_wsgi_app(registry))
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server, thread, server.server_port
