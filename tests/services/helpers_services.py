"""Helpers of the service tests: both databases, settings files, services as real child processes."""
from __future__ import annotations

import json
import os
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, bindparam, insert

from omp_services.common.storage.db import Statement

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "tests" / "fixtures" / "campaigns"
PG_ADMIN = os.environ.get("OMP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

# a child whose parent is checked at COMMIT (a deferred foreign key): how a test makes a real
# COMMIT fail on purpose; create with COMMIT_CHECKED.create_all(engine)
COMMIT_CHECKED = MetaData()
Table("gc_parent", COMMIT_CHECKED, Column("id", Integer, primary_key=True))
_CHILDREN = Table("gc_child", COMMIT_CHECKED, Column("id", Integer, primary_key=True),
                  Column("parent", Integer, ForeignKey("gc_parent.id", deferrable=True, initially="DEFERRED")))
ADD_CHILD = Statement(insert(_CHILDREN).values(id=bindparam("id"), parent=bindparam("parent")))


def long_campaign_root(tmp_path: Path, generations: int = 1000) -> Path:
    """A configs root holding ``long.toml``: the tiny test campaign with more generations."""
    root = tmp_path / "configs"
    root.mkdir(exist_ok=True)
    text = (CONFIGS / "tiny.toml").read_text().replace("generations = 4", f"generations = {generations}").replace(
        "../../../examples/data/us_stocks_2013_2018.csv", str(ROOT / "examples" / "data" / "us_stocks_2013_2018.csv"))
    (root / "long.toml").write_text(text)
    return root


def _pg_create() -> str:
    name = f"omp_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _pg_drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_settings(tmp_path: Path, database_url: str, name: str = "omp.toml", **sections) -> Path:
    """An omp.toml for a test (``name`` in ``tmp_path``): free ports, the test campaigns as configs
    root, a fast loop."""
    base = {
        "paths": {"data_dir": str(tmp_path / "var"), "configs_root": str(CONFIGS),
                  "runs_dir": str(tmp_path / "var" / "runs")},
        "database": {"url": database_url},
        # no drain period (services/common/settings.py, drain_s): a test stops services by the dozen
        "scheduler": {"port": 0, "metrics_port": 0, "loop_interval_s": 0.2, "lease_seconds": 30.0, "drain_s": 0.0},
        "miner": {"port": 0, "metrics_port": 0, "threads": 1, "cancel_grace_s": 3.0, "drain_s": 0.0},
        "watchdog": {"port": 0, "metrics_port": 0, "sample_interval_s": 0.5, "drain_s": 0.0},
        "promoter": {"port": 0, "metrics_port": 0, "drain_s": 0.0},
        # the test machine is shared: only the disk must really be there
        "resources": {"max_cpu_util_pct": 100.0, "min_mem_available_mb": 0.0, "min_disk_free_gb": 0.01},
    }
    for sec, vals in sections.items():
        base.setdefault(sec, {}).update(vals)
    def toml(v):
        return json.dumps(v) if isinstance(v, (str, bool)) else repr(v)
    lines = ['environment = "dev"']
    for sec, vals in base.items():
        lines.append(f"[{sec}]")
        lines += [f"{k} = {toml(v)}" for k, v in vals.items()]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


class ServiceProcess:
    """A service as a child process, started like systemd would, stopped by signals."""

    def __init__(self, module: str, config: Path, tmp_path: Path, *extra: str):
        self.module, self.config, self.extra = module, config, list(extra)
        self.ready = tmp_path / f"{module.split('.')[1]}-{secrets.token_hex(3)}.ready"
        self.log = tmp_path / f"{module.split('.')[1]}.log"
        self.proc: subprocess.Popen | None = None
        self.port = self.metrics_port = 0

    def start(self, timeout: float = 60.0) -> "ServiceProcess":
        self.ready.unlink(missing_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", self.module, "--config", str(self.config),
                                          "--ready-file", str(self.ready), *self.extra],
                                         stdout=log, stderr=log, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready.exists() and self.ready.read_text().strip():
                self.port, self.metrics_port = map(int, self.ready.read_text().split())
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.module} not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def terminate(self, timeout: float = 30.0) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=timeout)
        return self.proc.returncode if self.proc else 0

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def scheduler_client(address: str, timeout: float = 10.0, **kw):
    from omp.v1 import scheduler_pb2_grpc
    from omp_services.common.clients import Client
    return Client(scheduler_pb2_grpc.SchedulerServiceStub, address, timeout=timeout, **kw)


def miner_client(address: str, timeout: float = 10.0, **kw):
    from omp.v1 import miner_pb2_grpc
    from omp_services.common.clients import Client
    return Client(miner_pb2_grpc.MinerServiceStub, address, timeout=timeout, **kw)


def set_data_ready(client) -> None:
    """A fresh scheduler's data readiness is uncertain (it fails closed): say the data is ready."""
    from omp.v1 import common_pb2 as pb, scheduler_pb2 as spb
    client.call("SetDataReadiness", spb.SetDataReadinessRequest(readiness=pb.DATA_READINESS_READY, actor="test"))


def gone(pid: int) -> bool:
    """No live process has this pid (a zombie awaiting its parent counts as gone)."""
    import psutil
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def running_run(mclient, campaign_id: str, timeout: float = 60.0):
    """The campaign's run once it is running and has made progress (generation 2 or later)."""
    from omp.v1 import common_pb2 as pb, miner_pb2 as mpb

    def find():
        runs = mclient.call("ListRuns", mpb.ListRunsRequest(campaign_id=campaign_id)).runs
        return next((r for r in runs if r.status == pb.RUN_STATUS_RUNNING and r.progress.generation >= 2), None)
    return wait_for(find, timeout=timeout, what="a run making progress")


def free_port() -> int:
    """A port nothing listens on now (for a service others must know before it starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CuttableLink:
    """A TCP relay between a service and a real server (PostgreSQL) that a test can cut, as a
    network or a server going away would: ``cut()`` closes every connection through it and
    refuses new ones until ``restore()``. The server itself is real and is never touched."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._cut = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while not self._cut.is_set():
                for key, _ in sel.select(timeout=0.2):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            for s in (a, b):
                with self._lock:
                    self._open.discard(s)
                s.close()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            for s in list(self._open):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()
