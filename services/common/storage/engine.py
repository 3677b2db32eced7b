"""The engine of each database kind, and schema migrations (Alembic) run one process at a time."""
from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine


def _json_loads(text: str):
    """json.loads, with the empty array and object (most tags and details) answered without it:
    a page of 50 campaigns decodes 50 tag arrays."""
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text)


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """SQLite gets WAL, FULL sync, a busy timeout and foreign keys; PostgreSQL goes through psycopg 3."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, json_deserializer=_json_loads,
                           connect_args={"check_same_thread": False, "timeout": 30})

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
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def upgrade(engine: Engine, url: str, location: Path, revision: str = "head") -> None:
    """Bring the schema to ``revision`` of the migration history at ``location``, one process at a
    time (a file lock next to a SQLite database, an advisory lock on PostgreSQL)."""
    with _migration_lock(engine, url):
        cfg = Config()
        cfg.set_main_option("script_location", str(location))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)


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
