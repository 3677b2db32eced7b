"""The engine, the one transaction helper, and migrations at start-up.

Statements are written with SQLAlchemy Core against the models (services/common/storage/models.py)
and compiled once per dialect: SQLAlchemy writes the SQL and converts the types (JSON, booleans),
the DB-API driver runs it inside a transaction handed out by :meth:`Database.tx`. The execution
layers in between (per-call cache keys, execution contexts, Result objects, the ORM unit of work)
are skipped on purpose: a primary-key read in its own transaction costs about 400 us through an
ORM Session and about 60 us this way on SQLite (790 against 400 us on PostgreSQL, where the round
trip dominates; ``bench/scheduler_queue.py`` prints both), and the queue's throughput target is
set by exactly that cost.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.sql import ClauseElement

from services.common.errors import Unavailable

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


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


@dataclass
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None      # bind names in order for qmark drivers; None: by name
    binds: dict[str, tuple[Any, Callable | None]]    # name -> (default value, SQLAlchemy bind processor)
    dialect: Dialect
    types: tuple                            # the dialect's type of each selected column
    # (column index, SQLAlchemy result processor) where one is needed; known after the first
    # execution, since a processor may depend on the driver's type code (numerics on psycopg)
    results: tuple[tuple[int, Callable], ...] | None = None

    def processors(self, description) -> tuple[tuple[int, Callable], ...]:
        if self.results is None:
            found = (t.result_processor(self.dialect, d[1]) for t, d in zip(self.types, description or ()))
            self.results = tuple((i, p) for i, p in enumerate(found) if p is not None)
        return self.results


class Statement:
    """A Core statement with named bind parameters, compiled once per dialect.

    ``sqlite_index=(table, index)``: on SQLite, read ``table`` through ``index`` (INDEXED BY). Its
    planner prefers an index with an equality term to a partial index that holds only the rows the
    query wants (seen on the admission query, with and without ANALYZE); PostgreSQL's picks the
    partial index by itself. SQLite refuses the statement if the index cannot answer it."""

    _NO_DEFAULT = object()

    def __init__(self, stmt: ClauseElement, *, sqlite_index: tuple[str, str] | None = None):
        self.stmt = stmt
        self.sqlite_index = sqlite_index
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        got = self._compiled.get(dialect.name)
        if got is None:
            c = self.stmt.compile(dialect=dialect)
            sql = str(c)
            if "POSTCOMPILE" in sql:
                raise ValueError(f"statement needs render-time parameters, which Statement does not do: {sql}")
            if self.sqlite_index and dialect.name == "sqlite":
                table, index = self.sqlite_index
                if f"FROM {table} " not in sql:
                    raise ValueError(f"no FROM {table} to read through {index}: {sql}")
                sql = sql.replace(f"FROM {table} ", f"FROM {table} INDEXED BY {index} ", 1)
            binds = {}
            for name, bp in c.binds.items():
                default = self._NO_DEFAULT if bp.required or bp.callable else bp.value
                binds[name] = (default, bp.type.dialect_impl(dialect).bind_processor(dialect))
            # what comes back: a SELECT's columns, or what an INSERT/UPDATE RETURNING names
            types = tuple(col.type.dialect_impl(dialect) for col in getattr(self.stmt, "exported_columns", ()))
            got = _Compiled(sql, tuple(c.positiontup) if c.positiontup else None, binds, dialect, types)
            self._compiled[dialect.name] = got
        return got


class Tx:
    """Statements run inside one transaction; rows come back as sequences, converted by SQLAlchemy's types."""

    def __init__(self, cursor, dialect: Dialect):
        self.cur, self.dialect = cursor, dialect

    def _execute(self, stmt: Statement, params: dict) -> _Compiled:
        c = stmt.compiled(self.dialect)
        values = {}
        for name, (default, proc) in c.binds.items():
            v = params.get(name, default)
            if v is Statement._NO_DEFAULT:
                raise KeyError(f"statement parameter {name!r} has no value")
            values[name] = proc(v) if proc is not None else v
        self.cur.execute(c.sql, tuple(values[n] for n in c.positional) if c.positional else values)
        return c

    def _fetch(self, c: _Compiled) -> list:
        rows = self.cur.fetchall()
        results = c.processors(self.cur.description)
        if not results or not rows:
            return rows
        out = []
        for row in rows:
            row = list(row)
            for i, process in results:
                row[i] = process(row[i])
            out.append(row)
        return out

    def all(self, stmt: Statement, **params) -> list:
        return self._fetch(self._execute(stmt, params))

    def first(self, stmt: Statement, **params):
        """The first row (a sequence), or None."""
        rows = self._fetch(self._execute(stmt, params))
        return rows[0] if rows else None

    def scalar(self, stmt: Statement, **params):
        row = self.first(stmt, **params)
        return row[0] if row is not None else None

    def run(self, stmt: Statement, **params) -> int:
        """An INSERT, UPDATE or DELETE; the number of rows it touched."""
        self._execute(stmt, params)
        return self.cur.rowcount


class CommitFailed(Unavailable):
    """A group's COMMIT failed: none of its transactions happened, and the call may be retried."""


class _Group:
    """One SQLite transaction shared by the write transactions of one turn of an event loop."""
    __slots__ = ("conn", "cur", "done", "after", "broken", "size")   # size: the calls that joined

    def __init__(self, conn, cur, done):
        self.conn, self.cur, self.done = conn, cur, done
        self.after: list[Callable[[], None]] = []
        self.broken: BaseException | None = None
        self.size = 0


#: the group the running asyncio task has written into (each gRPC call is a task of its own)
_JOINED: contextvars.ContextVar[_Group | None] = contextvars.ContextVar("omp_storage_group", default=None)


class Database:
    def __init__(self, url: str, pool_size: int = 5):
        self.url = url
        self.engine = make_engine(url, pool_size)
        self.dialect = self.engine.dialect
        self.sqlite = url.startswith("sqlite")
        # SQLite has one writer at a time: queue this process's writers on a lock rather than in
        # SQLite's busy handler, which sleeps in growing steps and ruins tail latency
        self._write_lock = threading.Lock() if self.sqlite else contextlib.nullcontext()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._group: _Group | None = None
        self._observe: Callable[[int, float, bool], None] | None = None

    def tx(self, write: bool = True):
        """One transaction: committed when the block ends, rolled back if it raises.

        On SQLite a write transaction takes the write lock up front (BEGIN IMMEDIATE), so a
        read-then-write never fails with "database is locked" halfway; a read-only one stays
        deferred and, in WAL mode, never waits for a writer. On the thread of a loop given to
        :meth:`group_commits`, see there."""
        if self._loop_thread == threading.get_ident() and (write or self._joined()):
            return self._grouped()
        return self._single(write)

    def _joined(self) -> bool:
        return self._group is not None and _JOINED.get() is self._group

    @contextlib.contextmanager
    def _single(self, write: bool):
        with (self._write_lock if write else contextlib.nullcontext()):
            conn = self.engine.raw_connection()
            try:
                cur = conn.cursor()
                if self.sqlite:
                    cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield Tx(cur, self.dialect)
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()       # sqlite3 and psycopg both commit only an open transaction
                cur.close()
            finally:
                conn.close()

    # ---------------------------------------------------------------------------- group commit
    def group_commits(self, loop: asyncio.AbstractEventLoop, thread_id: int,
                      observe: Callable[[int, float, bool], None] | None = None) -> None:
        """SQLite: the write transactions run on ``loop`` (its thread is ``thread_id``) during one
        turn of the loop share one database transaction, each inside a savepoint of its own, and
        one COMMIT with its fsync at the start of the next turn.

        - A transaction that raises is rolled back to its savepoint and leaves the others alone.
        - A call that wrote is answered only once :meth:`pending` resolves (the server awaits it):
          nothing acknowledged can be lost. A failed COMMIT fails every call of its group with
          CommitFailed (UNAVAILABLE; nothing of theirs happened).
        - A later transaction of the same call (a read after its own write) runs in the group and
          sees its writes; other calls read on their own connection and see what is committed.
        - Other threads (the main loop's tick) run their transactions as before, behind the same
          write lock: they wait for an open group's COMMIT, as for any writer.

        Measured with 16 clients (bench/scheduler_queue.py, five runs against five): about two
        transactions per fsync, p99 16-20 ms against 22-28 ms, 1,600-1,900 operations per second
        against 1,300-1,700. PostgreSQL is left alone: each transaction commits on its own
        connection, and the server groups WAL flushes of concurrent commits itself.

        ``observe(calls, seconds, failed)`` hears of each group COMMIT (metrics: the disk's fsync
        time is the first sign of a failing or overloaded disk)."""
        if self.sqlite:
            self._loop, self._loop_thread, self._observe = loop, thread_id, observe

    def pending(self) -> "asyncio.Future | None":
        """The commit the running task's writes wait for, or None when it wrote nothing in a group."""
        group = _JOINED.get()
        if group is None:
            return None
        _JOINED.set(None)
        return group.done

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once what the caller wrote is committed: at once outside a group, after
        the group's COMMIT inside one, never if that COMMIT fails."""
        if self._joined():
            self._group.after.append(callback)
        else:
            callback()

    @contextlib.contextmanager
    def _grouped(self):
        group = self._group or self._open_group()
        if _JOINED.get() is not group:
            _JOINED.set(group)
            group.size += 1         # calls, not transactions: what one fsync answers
        cur = group.cur
        if group.broken is not None:
            raise CommitFailed(f"the group transaction is broken: {group.broken}")
        cur.execute("SAVEPOINT omp_tx")
        try:
            yield Tx(cur, self.dialect)
        except BaseException:
            try:
                cur.execute("ROLLBACK TO omp_tx")
                cur.execute("RELEASE omp_tx")
            except Exception as undo:   # noqa: BLE001 - SQLite dropped the whole transaction (I/O, full disk)
                group.broken = undo
            raise
        cur.execute("RELEASE omp_tx")

    def _open_group(self) -> _Group:
        self._write_lock.acquire()      # behind a writer on another thread (the main loop's tick)
        try:
            conn = self.engine.raw_connection()
            try:
                cur = conn.cursor()
                cur.execute("BEGIN IMMEDIATE")
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._write_lock.release()
            raise
        self._group = _Group(conn, cur, self._loop.create_future())
        self._loop.call_soon(self._commit_group)
        return self._group

    def _commit_group(self) -> None:
        group, self._group = self._group, None
        t0 = time.perf_counter()
        failed: CommitFailed | None = None
        try:
            if group.broken is not None:
                raise CommitFailed(f"the group transaction is broken: {group.broken}")
            group.conn.commit()
        except BaseException as exc:  # noqa: BLE001 - every caller of the group hears of it
            with contextlib.suppress(Exception):
                group.conn.rollback()
            failed = exc if isinstance(exc, CommitFailed) else CommitFailed(f"COMMIT failed: {exc}")
        finally:
            group.cur.close()
            group.conn.close()
            self._write_lock.release()
        if self._observe is not None:
            self._observe(group.size, time.perf_counter() - t0, failed is not None)
        if failed is not None:
            log.error("group commit of %d calls failed: %s", group.size, failed)
            group.done.set_exception(failed)
            group.done.exception()      # retrieved here: a caller that went away must not warn
            return
        group.done.set_result(group.size)
        for callback in group.after:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a watcher's wake-up must not undo a commit
                log.exception("after-commit callback failed")

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to the newest migration (or to ``revision``), one process at a time."""
        with self._migration_lock():
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)

    @contextlib.contextmanager
    def _migration_lock(self):
        if self.sqlite:
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


__all__ = ["CommitFailed", "Database", "Statement", "Tx"]
