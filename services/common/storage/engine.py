"""The engine of each database kind, and schema migrations (Alembic) run one process at a time."""
from __future__ import annotations

import contextlib
import fcntl
import json
import select
from pathlib import Path

from alembic import command
from psycopg.types.json import set_json_loads
from alembic.config import Config
from sqlalchemy import create_engine, event, exc as sa_exc, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import create_async_engine

from omp_core.binding import ConfigError
from omp_services.common.settings import redact_url


def _json_loads(text: str | bytes):
    """json.loads, with the empty array and object (most tags and details) answered without it:
    a page of 50 campaigns decodes 50 tag arrays (on PostgreSQL, json.loads was 45% of a page's
    CPU). psycopg hands in bytes, sqlite3 a str."""
    if text == "[]" or text == b"[]":
        return []
    if text == "{}" or text == b"{}":
        return {}
    return json.loads(text)


#: PostgreSQL ends a session idle inside a transaction this long (every transaction here is short)
IDLE_IN_TX_S = 30.0


def make_engine(url: str, pool_size: int = 5, wait_s: float | None = None, asynchronous: bool = False) -> Engine:
    """SQLite gets WAL, FULL sync, a busy timeout and foreign keys; PostgreSQL goes through psycopg 3.

    ``wait_s``: how long a statement may wait for a lock before it fails (SQLite's busy timeout,
    PostgreSQL's lock_timeout, and a statement_timeout of ten times that), and for a pooled
    connection: an engine for the thread that must never block for long. None: 30 s, and no
    statement timeout.

    ``asynchronous`` (PostgreSQL): the engine of psycopg's asyncio connections, for an event loop
    (storage/db.py's ``serve_on_loop``). What it returns is its synchronous face
    (``AsyncEngine.sync_engine``), whose connections must be used inside a greenlet that
    SQLAlchemy's ``greenlet_spawn`` started on that loop: each round trip hands the loop back."""
    if not url.startswith("sqlite"):
        # a server that does not answer is unreachable, not slow; a session of a process that froze
        # or lost the network in a transaction is ended by the server within IDLE_IN_TX_S, so its
        # locks (the scheduler leader's lease among them) do not outlive it by TCP's hours
        args = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                "keepalives_count": 3}
        options = f"-c idle_in_transaction_session_timeout={int(IDLE_IN_TX_S * 1000)}"
        if wait_s is not None:
            ms = max(1, int(wait_s * 1000))
            options += f" -c lock_timeout={ms} -c statement_timeout={ms * 10}"
        args["options"] = options
        # the loop's engine keeps every connection it opens (one per call in flight, an overflow
        # connection would be opened and closed per call) and opens no more than that
        kw = dict(pool_size=pool_size, max_overflow=0 if asynchronous else pool_size * 2, connect_args=args)
        if wait_s is not None:
            kw["pool_timeout"] = wait_s
        engine = create_async_engine(url, **kw).sync_engine if asynchronous else create_engine(url, **kw)
        event.listen(engine, "checkout", _hung_up)
        event.listen(engine, "connect", lambda _dbapi_conn, record: set_json_loads(_json_loads, record.driver_connection))
        return engine
    if asynchronous:
        raise ValueError("an asynchronous engine is for PostgreSQL; SQLite's loop shares a group commit")
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, json_deserializer=_json_loads,
                           connect_args={"check_same_thread": False, "timeout": 30 if wait_s is None else wait_s})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # the SQLAlchemy recipe for pysqlite: no implicit BEGIN from the driver; Database.tx (and
        # the begin hook below, for migrations) emit it
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the caller hears "done" (nothing acknowledged is lost)
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(1000 * (30 if wait_s is None else wait_s))}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _hung_up(dbapi_conn, record, proxy) -> None:
    """A pooled PostgreSQL connection whose server has gone (restarted, or ended the session) is
    refused at checkout, and the pool opens a new one (SQLAlchemy retries on DisconnectionError).

    An idle connection has nothing to read: a socket that is readable holds the server's goodbye
    (an error message, or end of file). Checked with a poll of the socket instead of SQLAlchemy's
    pre-ping, which is a round trip before every transaction (about 200 us of CPU each, a fifth of
    a queue call's; bench/scheduler_queue.py). What neither sees, a host gone without a word, is
    found by the TCP keepalives above."""
    conn = record.driver_connection
    if conn is None or conn.closed or conn.broken:
        raise sa_exc.DisconnectionError("the connection is closed")
    poll = select.poll()
    poll.register(conn.pgconn.socket, select.POLLIN)
    if poll.poll(0):
        raise sa_exc.DisconnectionError("the server hung up on this connection")


def upgrade(engine: Engine, url: str, location: Path, revision: str = "head") -> None:
    """Bring the schema to ``revision`` of the migration history at ``location``, one process at a
    time (a file lock next to a SQLite database, an advisory lock on PostgreSQL)."""
    try:
        with _migration_lock(engine, url):
            cfg = Config()
            cfg.set_main_option("script_location", str(location))
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        # the first connection of a starting service: one line naming the setting, no traceback
        why = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise ConfigError("database.url", f"cannot connect ({why})", redact_url(url)) from None
    except OSError as exc:          # the SQLite file's lock file cannot be made (a read-only folder)
        raise ConfigError("database.url", f"cannot open ({exc.strerror})", redact_url(url)) from None


@contextlib.contextmanager
def _migration_lock(engine: Engine, url: str):
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        with open(f"{path}.migrate.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield
    else:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(815001)"))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(815001)"))
                conn.commit()
