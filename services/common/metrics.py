"""Prometheus metrics: every server's gRPC calls under the grpc-ecosystem's names and labels (the
ones go-grpc-prometheus and py-grpc-prometheus export, so existing dashboards and alerts apply),
the process and Python collectors, ``omp_build_info``, and an HTTP /metrics endpoint on its own
port. OMP's own metrics are named ``omp_<what>_<unit>``; labels are closed sets (never ids)."""
from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.exposition import _SilentHandler

from omp_services.common.version import build


def standard(registry: CollectorRegistry, service: str) -> CollectorRegistry:
    """The collectors every service's registry carries: the process's (CPU, memory, open files,
    start time), the Python platform's and garbage collector's, and ``omp_build_info``."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    version, code = build()
    Gauge("omp_build_info", "the running build: 1, with its version and the commit of its code as labels",
          ["service", "version", "commit", "dirty"], registry=registry).labels(
        service, version, code["commit"], str(bool(code["dirty"])).lower()).set(1)
    return registry


class MethodMetrics:
    """One method's children of the grpc-ecosystem metrics, bound once (labels are not looked up
    at every call)."""
    __slots__ = ("started", "_handled", "_handling", "received", "sent", "_labels", "_codes")

    def __init__(self, m: "GrpcMetrics", grpc_type: str, service: str, method: str):
        labels = (grpc_type, service, method)
        self.started = m.started.labels(*labels)
        self._handling = m.handling.labels(*labels)
        self.received = m.received.labels(*labels)
        self.sent = m.sent.labels(*labels)
        self._handled, self._labels, self._codes = m.handled, labels, {}

    def handled(self, code: grpc.StatusCode, seconds: float) -> None:
        child = self._codes.get(code)
        if child is None:
            child = self._codes[code] = self._handled.labels(*self._labels, code.name)
        child.inc()
        self._handling.observe(seconds)


class GrpcMetrics:
    """``grpc_server_started_total``, ``grpc_server_handled_total`` (by ``grpc_code``),
    ``grpc_server_handling_seconds``, ``grpc_server_msg_received_total`` and
    ``grpc_server_msg_sent_total``, labelled ``grpc_type`` (unary, server_stream),
    ``grpc_service`` (``omp.v1.SchedulerService``) and ``grpc_method``."""

    def __init__(self, registry: CollectorRegistry, service: str):
        standard(registry, service)
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter("grpc_server_started_total", "RPCs started on the server", labels, registry=registry)
        self.handled = Counter("grpc_server_handled_total", "RPCs completed on the server, whatever their status",
                               labels + ["grpc_code"], registry=registry)
        self.handling = Histogram("grpc_server_handling_seconds", "time from an RPC's start to its end on the server",
                                  labels, registry=registry,
                                  buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.received = Counter("grpc_server_msg_received_total", "messages received on the server", labels,
                                registry=registry)
        self.sent = Counter("grpc_server_msg_sent_total", "messages sent by the server", labels, registry=registry)
        self.service = service

    def method(self, full: str, grpc_type: str) -> MethodMetrics:
        """``full``: ``/omp.v1.SchedulerService/GetStatus``."""
        service, method = full.strip("/").split("/")
        return MethodMetrics(self, grpc_type, service, method)


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
