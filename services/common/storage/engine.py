"""The engine of each database kind, and schema migrations (Alembic) run one process at a time."""
from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, exc as sa_exc, text
from sqlalchemy.engine import Engine

from omp_core.binding import ConfigError
from omp_services.common.settings import redact_url


def _json_loads(text: str):
    """json.loads, with the empty array and object (most tags and details) answered without it:
    a page of 50 campaigns decodes 50 tag arrays."""
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text)


#: PostgreSQL ends a session idle inside a transaction this long (every transaction here is short)
IDLE_IN_TX_S = 30.0


def make_engine(url: str, pool_size: int = 5, wait_s: float | None = None) -> Engine:
    """SQLite gets WAL, FULL sync, a busy timeout and foreign keys; PostgreSQL goes through psycopg 3.

    ``wait_s``: how long a statement may wait for a lock before it fails (SQLite's busy timeout,
    PostgreSQL's lock_timeout, and a statement_timeout of ten times that): an engine for the
    thread that must never block for long. None: 30 s, and no statement timeout."""
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
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True,
                             connect_args=args)
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
