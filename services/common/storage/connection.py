"""A pooled connection as :meth:`Database.tx` drives one transaction on it, for each driver.

- SQLite (``sqlite3``): BEGIN IMMEDIATE for a write (the write lock up front), a deferred BEGIN
  for a read.
- PostgreSQL (psycopg 3): a read runs outside a transaction (at READ COMMITTED each statement sees
  its own snapshot anyway, and BEGIN and COMMIT are two round trips a read does not need); a write
  runs in pipeline mode: statements whose result nobody reads are sent without waiting for the
  server, so BEGIN, the change, its logs and its audit row cost one round trip or two, with
  COMMIT, instead of one each (psycopg "Pipeline mode support"; an error surfaces at the next
  read of a result or at COMMIT, and the transaction is rolled back whole as before).
- PostgreSQL on a server's event loop: the same on psycopg's asyncio connection, from inside the
  call's greenlet; each wait goes to the loop through SQLAlchemy's ``await_only``.
- A write on PostgreSQL asks for its transaction id first (``pg_current_xact_id()``, pipelined,
  read before COMMIT is sent): a connection lost during COMMIT leaves the outcome unknown to the
  client, and the server can still say it (``pg_xact_status``: see db.py's ``_settle``).
"""
from __future__ import annotations

import contextlib

from psycopg.pq import ConnStatus, PipelineStatus
from sqlalchemy.util.concurrency import await_only, greenlet_spawn

#: ``await in_greenlet(fn, *args)``: ``fn(*args)`` in a greenlet of the running loop, where a
#: transaction on the loop's PostgreSQL engine hands the loop back at each wait (what the server
#: runs each call on its loop in: services/common/server.py)
in_greenlet = greenlet_spawn


def session(conn, write: bool, sqlite: bool, green: bool):
    """The driver-level side of ``conn`` (a SQLAlchemy pool checkout) for one transaction."""
    if sqlite:
        return _SQLite(conn, write)
    return _Psycopg(conn.driver_connection, write, green)


class _SQLite:
    def __init__(self, conn, write: bool):
        self.conn = conn
        self.cursor = conn.cursor()
        self.cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def sync(self) -> None:
        """Every statement sent so far has its result (always so on SQLite)."""

    def sound(self) -> bool:
        """Whether the connection may go back to the pool."""
        return True

    def commit(self) -> None:
        self.conn.commit()
        self.cursor.close()

    def rollback(self) -> None:
        self.conn.rollback()

    def end(self) -> None:
        pass


def _blocking(value):
    return value


class _GreenCursor:
    """psycopg's AsyncCursor as the blocking cursor Tx uses, from inside a greenlet."""

    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, sql, params) -> None:
        await_only(self._cursor.execute(sql, params))

    def fetchall(self) -> list:
        return await_only(self._cursor.fetchall())

    @property
    def description(self):
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def connection(self):
        return self._cursor.connection


class _Psycopg:
    def __init__(self, driver, write: bool, green: bool):
        self.driver, self.write, self.green = driver, write, green     # green: an AsyncConnection
        self._wait = await_only if green else _blocking
        self._block = self._pipeline = self._xid_cursor = None
        #: the transaction's id (text), known once COMMIT is about to be sent (None: it was not)
        self.xid: str | None = None
        if not write:
            self._set_autocommit(True)
        else:
            self._block = driver.pipeline()         # a context manager that yields the pipeline
            self._pipeline = self._wait(self._block.__aenter__() if green else self._block.__enter__())
            # a cursor of its own: the writes' results are handed to the other one
            self._xid_cursor = driver.cursor()
            self._wait(self._xid_cursor.execute("SELECT pg_current_xact_id()::text"))
        cursor = driver.cursor()
        self.cursor = _GreenCursor(cursor) if green else cursor

    def _set_autocommit(self, on: bool) -> None:
        self._wait(self.driver.set_autocommit(on))

    def sync(self) -> None:
        """Every statement sent so far has its result (a pipeline is synced: a round trip)."""
        if self._pipeline is not None:
            self._wait(self._pipeline.sync())

    def commit(self) -> None:
        if self._xid_cursor is not None:
            # its result is in when a read of the transaction synced; else this waits for it (a
            # round trip): without it a COMMIT that loses its connection could not be settled
            self.xid = self._wait(self._xid_cursor.fetchone())[0]
        self._wait(self.driver.commit())    # psycopg commits only an open transaction

    def rollback(self) -> None:
        self._leave_pipeline(failed=True)
        self._wait(self.driver.rollback())

    def _leave_pipeline(self, failed: bool) -> None:
        block, self._block, self._pipeline = self._block, None, None
        if block is None:
            return
        leave = block.__aexit__ if self.green else block.__exit__
        if failed:      # the error already raised is the one to hear; the pipeline's own is noise
            with contextlib.suppress(Exception):
                self._wait(leave(None, None, None))
        else:
            self._wait(leave(None, None, None))

    def sound(self) -> bool:
        """Whether the connection may go back to the pool: not broken, and out of pipeline mode
        (a pipeline left while the server was still answering stays on, and the pool's reset on
        return would fail on it and log a traceback)."""
        d = self.driver
        return (not (d.closed or d.broken) and d.pgconn.status == ConnStatus.OK
                and d.pgconn.pipeline_status == PipelineStatus.OFF)

    def end(self) -> None:
        """Back to how the pool lent it: out of pipeline mode, not in autocommit."""
        with contextlib.suppress(Exception):       # a broken connection is dropped by the pool
            self._leave_pipeline(failed=False)
            if not self.write:
                self._set_autocommit(False)
