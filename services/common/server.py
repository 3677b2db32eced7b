"""One way to build and run a gRPC server: health and reflection on every server, the error table
and request metrics applied to every method, a port clash that fails loudly, SIGTERM that drains.

The server is grpc.aio on an event loop of its own thread; the servicers stay plain synchronous
code (proto in, domain call, proto out). A service whose methods are short database transactions
(the scheduler's queue) runs them on the loop itself: one thread does the Python work, so no thread
waits for the GIL behind another at every SQLite step. Measured with 16 clients on 2 cores: the
thread-pool server made about 900 futex calls per queue operation and spent 1.6-2.1 ms of CPU on
it, this one 0.6-1.2 ms (bench/scheduler_queue.py). A service whose methods may block (the miner:
processes, files, cancel grace periods) and every server stream run on a thread pool instead.

Each call on the loop runs in a greenlet of its own (SQLAlchemy's ``greenlet_spawn``): where its
store waits for PostgreSQL (storage/db.py), the greenlet hands the loop back and the other calls
go on; the call itself reads as straight-line code. A method on the loop that wrote in a SQLite
group commit is answered once that group's COMMIT is on disk: the handler awaits it, and the loop
serves other calls meanwhile.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from grpc_reflection.v1alpha import _async as reflection_async, reflection, reflection_pb2, reflection_pb2_grpc

from omp_services.common.access import Principal, rule_of
from omp_services.common.clients import CHANNEL_OPTIONS
from omp_services.common.errors import InvalidArgument, ResourceExhausted, rich_status, to_status
from omp_services.common.metrics import GrpcMetrics, MethodMetrics
from omp_services.common.security import ANONYMOUS, PLAINTEXT, Security
from omp_services.common.storage.connection import in_greenlet

log = logging.getLogger(__name__)
_END = object()


class PortInUse(RuntimeError):
    pass


#: bounds on what one client may hold of a server beyond the message size (CHANNEL_OPTIONS): its
#: concurrent calls on one connection, the size of its headers, and a connection whose peer
#: vanished is found by keepalive pings within about a minute and a half (its streams end)
SERVER_OPTIONS = (("grpc.max_concurrent_streams", 100), ("grpc.max_metadata_size", 16 * 1024),
                  ("grpc.keepalive_time_ms", 60_000), ("grpc.keepalive_timeout_ms", 20_000),
                  ("grpc.http2.min_ping_interval_without_data_ms", 10_000))


@dataclass(frozen=True)
class Registration:
    """A servicer (a generated ``*Servicer`` subclass with synchronous methods) and the service's
    descriptor. ``on_loop``: its unary methods are short and never block for long, so they run on
    the event loop rather than on the pool."""
    servicer: Any
    service: ServiceDescriptor
    on_loop: bool = False
    #: with ``on_loop``, the methods that may still take long (a bulk import): on the pool
    on_pool: frozenset[str] = frozenset()


class _Context:
    """What a synchronous servicer may ask of its call. A stream's call ends when its client
    cancels or goes away, or the server stops it: ``is_active`` turns false at once and the
    callbacks given to ``on_end`` run (a Notifier's waiters wake), so the thread that served the
    stream is free again. grpc.aio cancels the handler's task then, but its context's ``done()``
    stays false: the flag here is what the servicer can trust."""

    def __init__(self, context: grpc.aio.ServicerContext, principal: Principal = ANONYMOUS):
        self._context = context
        self.principal = principal
        self._ended = threading.Event()
        self._on_end: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def is_active(self) -> bool:
        return not self._ended.is_set() and not self._context.done()

    def on_end(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once when the call ends (at once if it has)."""
        with self._lock:
            if not self._ended.is_set():
                if callback not in self._on_end:
                    self._on_end.append(callback)
                return
        callback()

    def end(self) -> None:
        with self._lock:
            if self._ended.is_set():
                return
            self._ended.set()
            callbacks, self._on_end = self._on_end, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - one waker must not keep the others from running
                log.exception("end-of-call callback failed")

    def time_remaining(self) -> float | None:
        return self._context.time_remaining()


async def _abort(exc: Exception, method: str, metrics: MethodMetrics, t0: float, context) -> None:
    status = rich_status(exc)
    metrics.handled(status.code, time.perf_counter() - t0)
    if status.code == grpc.StatusCode.INTERNAL:
        log.error("unhandled error in %s", method, exc_info=exc)
    await context.abort(status.code, status.details, status.trailing_metadata)


def _authorize(security: Security, full: str, context) -> Principal:
    return security.authorize(full, context.invocation_metadata() or (), context.auth_context())


REFUSALS = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
#: the request fields that name what a change is about, in the order they are looked for
TARGET_FIELDS = ("id", "campaign_id", "run_id", "genome_hash", "run_folder", "key")


class _Auditor:
    """The audit row of one call that changes something (``log``: an AuditLog, see
    services/common/storage/audit.py). A call that commits a change writes its row in the same
    transaction (the change and its record commit together or not at all); any other outcome is
    a row of its own. Written where nothing can cancel it: on the loop beside the call's own
    writes, on the pool in the same job as the servicer (a client that cancels or times out stops
    waiting, not the job), and a refusal's as a job of its own that nobody awaits."""

    def __init__(self, log, method: str, refusals_only: bool = False):
        self.log, self.method, self.refusals_only = log, method, refusals_only

    def _fields(self, request, principal: Principal | None) -> tuple:
        if principal is None:       # no one we know: keep none of the text a stranger sent
            return "unauthenticated", "", self.method, "", "", ""
        target = next((str(v) for f in TARGET_FIELDS if (v := getattr(request, f, None)) not in (None, "", 0)), "")
        campaign = getattr(request, "campaign", None)
        if not target and campaign is not None:
            target = campaign.id or campaign.name
        return (principal.name, principal.role, self.method, target, str(getattr(request, "reason", "")),
                str(getattr(request, "actor", "")))

    def __call__(self, request, principal: Principal | None, outcome: grpc.StatusCode, peer: str) -> None:
        self.log.record(*self._fields(request, principal), outcome.name, peer)

    def wants(self, outcome: grpc.StatusCode) -> bool:
        return not self.refusals_only or outcome in REFUSALS

    def audited(self, behavior, request, ctx: "_Context", peer: str):
        """``behavior`` with its audit row (on the loop, or as one job for the pool)."""
        if self.refusals_only:      # a servicer does not refuse by role: the wrapper did, before
            return behavior(request, ctx)
        failure = None
        with self.log.riding(*self._fields(request, ctx.principal), peer) as written:
            try:
                response = behavior(request, ctx)
            except Exception as exc:  # noqa: BLE001 - recorded below, then raised again unchanged
                failure = exc
            in_its_transaction = written()
        if failure is not None:
            self(request, ctx.principal, to_status(failure)[0], peer)
            raise failure
        if not in_its_transaction:  # it changed nothing after all (an idempotent repeat): a row of its own
            self(request, ctx.principal, grpc.StatusCode.OK, peer)
        return response


class _OnLoop:
    """How a unary call runs on the loop's thread (a Registration's ``on_loop``).

    ``durable`` (see build_server) is asked in the same task as the call ran in (it reads what
    the call's transactions left in their context), and the answer waits for what it gives.

    ``io``: the call may wait for I/O on the loop (the scheduler on PostgreSQL): it runs in a
    greenlet (storage/connection.py's ``in_greenlet``), and a transaction inside it gives the
    loop to the other calls at each round trip (storage/db.py). Such a call is a task of its own, shielded
    from its client's cancel: once started it runs to its end, as a plain synchronous call did, so
    a transaction is never cut between its statements (the task and the shield cost about 40 us,
    which a call that cannot wait does not pay: it runs as a plain function)."""

    def __init__(self, durable: Callable[[], Awaitable | None] | None, io: bool):
        self.durable, self.io = durable, io
        #: the calls running in greenlets, some perhaps no longer awaited by their handler (the
        #: client went away): a stop lets them end before it closes what they use
        self.running: set[asyncio.Task] = set()

    async def __call__(self, fn, *args):
        if not self.io:
            return await self._durably(fn(*args))
        work = asyncio.ensure_future(self._in_greenlet(fn, args))
        self.running.add(work)
        work.add_done_callback(self._ended)
        return await asyncio.shield(work)

    def _ended(self, work: asyncio.Task) -> None:
        self.running.discard(work)
        _seen(work)

    async def _in_greenlet(self, fn, args):
        return await self._durably(await in_greenlet(fn, *args))

    async def _durably(self, response):
        if self.durable is not None and (waiting := self.durable()) is not None:
            # shielded: a SQLite group's future is shared by every call in it, and a client that
            # cancels must cancel its own wait, never the others' (or the commit's result)
            await asyncio.shield(waiting)
        return response


def _seen(work: asyncio.Future) -> None:
    """Marks the outcome of a call whose client stopped waiting as retrieved (it was the client's to hear)."""
    if not work.cancelled():
        work.exception()


def _unary(behavior, method: str, full: str, security: Security, metrics: MethodMetrics,
           pool: futures.Executor | None, on_loop: _OnLoop | None = None, audit: _Auditor | None = None):
    async def handler(request, context):
        t0 = time.perf_counter()
        metrics.started.inc()
        metrics.received.inc()
        loop = asyncio.get_running_loop()
        peer = context.peer() or ""
        ran = False                 # the servicer ran: its audit row is written beside it
        try:
            principal = _authorize(security, full, context)
            _parsed(request, principal)
            ctx = _Context(context, principal)
            ran = True
            if pool is None:
                if audit is None:
                    response = await on_loop(behavior, request, ctx)
                else:       # on the loop: the row joins the call's transaction (or group commit)
                    response = await on_loop(audit.audited, behavior, request, ctx, peer)
            elif audit is None:
                response = await loop.run_in_executor(pool, behavior, request, ctx)
            else:
                response = await loop.run_in_executor(pool, audit.audited, behavior, request, ctx, peer)
        except asyncio.CancelledError:      # the client went away or its deadline passed: counted, not hidden
            metrics.handled(grpc.StatusCode.CANCELLED, time.perf_counter() - t0)
            raise
        except Exception as exc:  # noqa: BLE001 - every exception becomes a status, by the table
            if audit is not None and not ran and audit.wants(code := to_status(exc)[0]):
                who = getattr(exc, "principal", None)
                if pool is None:
                    await on_loop(audit, request, who, code, peer)
                else:               # not awaited: a client that goes away cannot cancel it
                    pool.submit(audit, request, who, code, peer)
            await _abort(exc, method, metrics, t0, context)
        # servicers never abort themselves: they raise, and the table picks the code
        metrics.sent.inc()
        metrics.handled(grpc.StatusCode.OK, time.perf_counter() - t0)
        return response
    return handler


class StreamLimits:
    """Bounds on the server streams a server holds: ``per_client`` for one client connection (its
    peer address), ``total`` for the server (each open stream may hold a thread of the stream
    pool, which is this size). Past either: RESOURCE_EXHAUSTED, and nothing else is held."""

    def __init__(self, total: int = 64, per_client: int = 16):
        self.total, self.per_client = total, per_client
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, peer: str) -> None:
        with self._lock:
            mine, everyone = self._open.get(peer, 0), sum(self._open.values())
            if mine >= self.per_client:
                raise ResourceExhausted(f"streams: at most {self.per_client} open per client, {peer} has {mine}")
            if everyone >= self.total:
                raise ResourceExhausted(f"streams: at most {self.total} open on this server; try again later")
            self._open[peer] = mine + 1

    def release(self, peer: str) -> None:
        with self._lock:
            left = self._open.get(peer, 0) - 1
            if left > 0:
                self._open[peer] = left
            else:
                self._open.pop(peer, None)

    @property
    def open(self) -> int:
        with self._lock:
            return sum(self._open.values())


def _stream(behavior, method: str, full: str, security: Security, metrics: MethodMetrics,
            pool: futures.Executor, limits: StreamLimits):
    async def handler(request, context):
        t0 = time.perf_counter()
        metrics.started.inc()
        metrics.received.inc()
        loop = asyncio.get_running_loop()
        ctx, peer = None, None
        try:
            ctx = _Context(context, _authorize(security, full, context))
            _parsed(request, ctx.principal)
            # a client is its principal when callers authenticate, else its connection
            client = ctx.principal.name if ctx.principal is not ANONYMOUS else (context.peer() or "unknown")
            limits.acquire(client)
            peer = client
            items = behavior(request, ctx)     # a generator: each step may block, so on the pool
            while (item := await loop.run_in_executor(pool, next, items, _END)) is not _END:
                metrics.sent.inc()
                yield item
        except asyncio.CancelledError:      # the client went away or its deadline passed: counted, not hidden
            metrics.handled(grpc.StatusCode.CANCELLED, time.perf_counter() - t0)
            raise
        except Exception as exc:  # noqa: BLE001 - every exception becomes a status, by the table
            await _abort(exc, method, metrics, t0, context)
        finally:
            # cancelled, gone, aborted or done: release the stream's thread and its slot at once
            if ctx is not None:
                ctx.end()
            if peer is not None:
                limits.release(peer)
        metrics.handled(grpc.StatusCode.OK, time.perf_counter() - t0)
    return handler


class _Unparsable:
    """A request whose bytes did not parse (nested deeper than protobuf's limit of 100 messages, which
    a google.protobuf.Struct reaches at about 25 levels of JSON, or not a message at all). The
    deserializer returns it instead of raising, which grpc would answer UNKNOWN and log as a server
    error: the handler refuses it as the caller's bad input."""

    def __init__(self, why: str):
        self.why = why


def _decoder(message_class):
    def decode(data: bytes):
        try:
            return message_class.FromString(data)
        except DecodeError as exc:
            return _Unparsable(str(exc))
    return decode


def _parsed(request, principal: Principal) -> None:
    if isinstance(request, _Unparsable):
        exc = InvalidArgument(f"request: cannot be parsed ({request.why})")
        exc.principal = principal      # the audit row names who sent it
        raise exc


def _add(server: grpc.aio.Server, service: ServiceDescriptor, wrapped) -> None:
    """What the generated ``add_*_to_server`` does, with a request decoder that never raises."""
    handlers = {}
    for m in service.methods:
        make = grpc.unary_stream_rpc_method_handler if m.server_streaming else grpc.unary_unary_rpc_method_handler
        handlers[m.name] = make(getattr(wrapped, m.name),
                                request_deserializer=_decoder(message_factory.GetMessageClass(m.input_type)),
                                response_serializer=message_factory.GetMessageClass(m.output_type).SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)


def _wrapped(reg: Registration, security: Security, metrics: GrpcMetrics, pool: futures.Executor,
             stream_pool: futures.Executor, limits: StreamLimits, on_loop: _OnLoop, audit=None):
    """The servicer the aio server sees: every method async, authorized, audited when it changes
    something, with the error table and metrics."""
    out = type(f"Async{type(reg.servicer).__name__}", (), {})()
    for m in reg.service.methods:
        behavior = getattr(reg.servicer, m.name)
        full = f"/{reg.service.full_name}/{m.name}"
        if m.client_streaming:
            raise ValueError(f"{reg.service.full_name}.{m.name}: client streaming is not supported here")
        rule = rule_of(full)
        auditor = (_Auditor(audit, m.name, rule.heartbeat) if audit is not None and rule is not None and rule.changes
                   else None)
        if m.server_streaming:
            mm = metrics.method(full, "server_stream")
            setattr(out, m.name, _stream(behavior, m.name, full, security, mm, stream_pool, limits))
        else:
            mm = metrics.method(full, "unary")
            here = reg.on_loop and m.name not in reg.on_pool
            setattr(out, m.name, _unary(behavior, m.name, full, security, mm, None, on_loop, auditor) if here
                    else _unary(behavior, m.name, full, security, mm, pool, None, auditor))
    return out


class _Health(health.aio.HealthServicer):
    """grpcio-health-checking's servicer, with the List its base leaves unimplemented: every
    service this server knows, with its status (the statuses it keeps for Check and Watch)."""

    async def List(self, request, context):
        return health_pb2.HealthListResponse(statuses={
            name: health_pb2.HealthCheckResponse(status=status) for name, status in self._server_status.items()})


#: gRPC reflection v1: the same messages as v1alpha under the package clients try first (grpcurl,
#: buf curl, Postman); grpcio-reflection serves v1alpha alone
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _describe_reflection_v1() -> None:
    """Put reflection v1's descriptor in the default pool, so that the service a listing names can
    be described too: v1alpha's, under the package v1 (the messages are the same)."""
    pool = descriptor_pool.Default()
    try:
        pool.FindServiceByName(REFLECTION_V1)
        return
    except KeyError:
        pass
    fdp = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(fdp)
    old, new = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."

    def rename(messages):
        for m in messages:
            for f in m.field:
                if f.type_name.startswith(old):
                    f.type_name = new + f.type_name[len(old):]
            rename(m.nested_type)
    rename(fdp.message_type)
    for method in (m for svc in fdp.service for m in svc.method):
        method.input_type, method.output_type = (t.replace(old, new) for t in (method.input_type, method.output_type))
    fdp.name, fdp.package = "grpc/reflection/v1/reflection.proto", "grpc.reflection.v1"
    pool.AddSerializedFile(fdp.SerializeToString())


def _serve_reflection(server, names: list[str]) -> None:
    """Reflection under v1 and v1alpha, one servicer answering both (the wire is the same)."""
    _describe_reflection_v1()
    servicer = reflection_async.ReflectionServicer([*names, reflection.SERVICE_NAME, REFLECTION_V1])
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(REFLECTION_V1, {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo, request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)}),))


class Service:
    """A running gRPC server with its health service; ``stopping`` tells streams to end."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread, server: grpc.aio.Server,
                 port: int, health_servicer, service_names: list[str], stopping: threading.Event,
                 pools: tuple[futures.ThreadPoolExecutor, ...], limits: StreamLimits, on_loop: "_OnLoop"):
        self.loop, self.thread, self.server, self.port = loop, thread, server, port
        self.health, self.service_names, self.stopping, self.pools = health_servicer, service_names, stopping, pools
        self.streams = limits
        self.on_loop = on_loop
        #: run on the loop (each in a greenlet) once the server has stopped serving calls, before
        #: the loop ends: what lives on the loop closes there (Database.close_loop)
        self.closing: list[Callable[[], None]] = []
        self._stopped = threading.Lock()
        self._draining = threading.Event()

    def responsive(self, timeout: float) -> bool:
        """The server's event loop runs a step within ``timeout`` seconds (else it hangs)."""
        async def step():
            return True
        try:
            return asyncio.run_coroutine_threadsafe(step(), self.loop).result(timeout)
        except Exception:  # noqa: BLE001 - timed out, or the loop is closed: not responsive
            return False

    def drain(self, seconds: float) -> None:
        """The gRPC way to go: health says NOT_SERVING for ``seconds`` while every call is still
        served, so that health checks see it before the port closes (:meth:`stop` then)."""
        try:
            asyncio.run_coroutine_threadsafe(self._not_serving(), self.loop).result(timeout=5)
        except Exception:  # noqa: BLE001 - a loop that does not answer: stop() goes on without the drain
            log.warning("the server's loop did not take NOT_SERVING; stopping without the drain")
            return
        self._draining.wait(seconds)        # the drain period itself: nothing sets this event

    async def _not_serving(self) -> None:
        for name in self.service_names + [""]:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    def stop(self, grace: float = 5.0) -> None:
        """Mark NOT_SERVING, end the streams, let in-flight calls finish within ``grace`` seconds.
        A second call does nothing."""
        self.stopping.set()
        if not self._stopped.acquire(blocking=False):
            return
        asyncio.run_coroutine_threadsafe(self._stop(grace), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
        for pool in self.pools:
            pool.shutdown(wait=False, cancel_futures=True)

    async def _stop(self, grace: float) -> None:
        await self._not_serving()
        t0 = time.monotonic()
        await self.server.stop(grace)
        # calls whose handler the stop cancelled (or whose client went away) may still be in their
        # transaction: they end (commit or roll back) within what is left of the grace, or are
        # left to the database (a session that ends rolls back) when the loop stops
        if self.on_loop.running:
            await asyncio.wait(set(self.on_loop.running), timeout=max(0.1, grace - (time.monotonic() - t0)))
        for close in self.closing:
            try:
                await in_greenlet(close)
            except Exception:  # noqa: BLE001 - the others still close, and the stop goes on
                log.exception("closing on the server's loop failed")


def build_server(host: str, port: int, registrations: Iterable[Registration], metrics: GrpcMetrics,
                 *, stopping: threading.Event | None = None, max_workers: int = 32,
                 streams: StreamLimits | None = None,
                 durable: Callable[[], Awaitable | None] | None = None, loop_io: bool = False,
                 security: Security = PLAINTEXT, audit=None) -> Service:
    """Build, bind and start a server on its own event-loop thread. ``port=0`` picks a free port; a
    taken port raises PortInUse. ``stopping`` is set when the server begins to drain: streaming
    servicers watch it. ``durable``, asked after each method run on the loop, returns what its
    answer must wait for so that what it wrote is on disk (``Database.pending`` with group
    commits), or None. ``loop_io``: a method on the loop may wait for I/O there (a Database on
    PostgreSQL given this loop by ``serve_on_loop``): see _OnLoop.

    ``security`` (services/common/security.py) gives the port its TLS and checks every call of
    every method, unary or stream, before its servicer runs: who the caller is and whether
    services/common/access.py lets its role call the method (UNAUTHENTICATED, PERMISSION_DENIED).
    ``audit`` (an AuditLog) hears every call of a method that changes something,
    refused or not.

    Unary methods that may block run on a pool of ``max_workers`` threads; server streams on a
    pool of their own, as large as ``streams.total``, so that open streams never starve a unary
    call, and a stream past ``streams`` is refused with RESOURCE_EXHAUSTED."""
    registrations = list(registrations)
    limits = streams or StreamLimits()
    pool = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc")
    stream_pool = futures.ThreadPoolExecutor(max_workers=limits.total, thread_name_prefix="grpc-stream")
    on_loop = _OnLoop(durable, loop_io)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="grpc-loop", daemon=True)
    thread.start()

    async def start():
        # never share a port silently with another process
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0), *CHANNEL_OPTIONS, *SERVER_OPTIONS])
        for reg in registrations:
            _add(server, reg.service, _wrapped(reg, security, metrics, pool, stream_pool, limits, on_loop, audit))
        names = [reg.service.full_name for reg in registrations]
        health_servicer = _Health()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        _serve_reflection(server, names + [health.SERVICE_NAME])
        try:
            credentials = security.server_credentials()
            bound = (server.add_secure_port(f"{host}:{port}", credentials) if credentials is not None
                     else server.add_insecure_port(f"{host}:{port}"))
        except RuntimeError as exc:
            raise PortInUse(f"cannot bind {host}:{port}: {exc}") from None
        if bound == 0:
            raise PortInUse(f"cannot bind {host}:{port}: address in use")
        await server.start()
        for name in names + [""]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        return server, bound, health_servicer, names

    try:
        server, bound, health_servicer, names = asyncio.run_coroutine_threadsafe(start(), loop).result()
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        pool.shutdown(wait=False)
        stream_pool.shutdown(wait=False)
        raise
    return Service(loop, thread, server, bound, health_servicer, names, stopping or threading.Event(),
                   (pool, stream_pool), limits, on_loop)
