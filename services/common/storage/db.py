"""The engine, the one session helper, and migrations at start-up."""
from __future__ import annotations

import contextlib
import fcntl
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """SQLite gets WAL, FULL sync, a busy timeout and foreign keys; PostgreSQL goes through psycopg 3."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # the SQLAlchemy recipe for pysqlite: we emit BEGIN ourselves (see below)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the caller hears "done" (nothing acknowledged is lost)
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # a write transaction takes the write lock up front (IMMEDIATE): read-then-write can then
        # never fail with "database is locked" halfway; a read-only one stays deferred and, in WAL
        # mode, never waits for a writer
        write = conn.get_execution_options().get("omp_write", True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Database:
    def __init__(self, url: str, pool_size: int = 5):
        self.url = url
        self.engine = make_engine(url, pool_size)
        self.sqlite = url.startswith("sqlite")
        self._write = sessionmaker(self.engine.execution_options(omp_write=True), expire_on_commit=False)
        self._read = sessionmaker(self.engine.execution_options(omp_write=False), expire_on_commit=False)
        # SQLite has one writer at a time: queue this process's writers on a lock rather than in
        # SQLite's busy handler, which sleeps in growing steps and ruins tail latency
        self._write_lock = threading.Lock() if self.sqlite else contextlib.nullcontext()

    @contextlib.contextmanager
    def session(self, write: bool = True):
        """One transaction: committed when the block ends, rolled back if it raises."""
        if not write:
            with self._read() as s, s.begin():
                yield s
            return
        with self._write_lock, self._write() as s, s.begin():
            yield s

    def migrate(self) -> None:
        """Bring the schema to the newest migration, one process at a time."""
        with self._migration_lock():
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")

    @contextlib.contextmanager
    def _migration_lock(self):
        if self.url.startswith("sqlite"):
            path = self.url.split("///", 1)[1]
            with open(f"{path}.migrate.lock", "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                yield
        else:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(815001)"))
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(815001)"))
                    conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["Database", "Session"]
