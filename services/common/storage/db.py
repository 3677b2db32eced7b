"""The one transaction helper every repository uses: :meth:`Database.tx`.

What it stands on lives beside it: ``statements.py`` (Core statements compiled once per dialect,
run on the DB-API cursor), ``group_commit.py`` (SQLite's writes of one loop turn share a COMMIT),
``engine.py`` (engines and migrations), ``connection.py`` (one transaction on each driver).

On a server's event loop (:meth:`Database.serve_on_loop`) a PostgreSQL transaction goes through
psycopg's asyncio connection from inside the greenlet the server runs each call in
(services/common/server.py): the repositories stay plain synchronous code, and while one call
waits for the database the loop serves the others. What a caller hears when the database cannot
serve it now (DatabaseBusy, CommitFailed: UNAVAILABLE) is in services/common/errors.py.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from sqlalchemy import exc as sa_exc, text
from sqlalchemy.util.concurrency import await_only, in_greenlet

from omp_services.common.storage.connection import session
from omp_services.common.storage.engine import make_engine, upgrade
from omp_services.common.errors import CommitFailed, CommitUnknown, Conflict, DatabaseBusy, DatabaseUnavailable
from omp_services.common.storage.group_commit import GroupCommitter
from omp_services.common.storage.statements import Statement, Tx

log = logging.getLogger("omp.storage")

#: how long a transaction on a server's event loop may wait for the database: the loop serves
#: every other call (health included) and must not stand still behind a lock
LOOP_WAIT_S = 0.25

#: connections for the calls on a loop on PostgreSQL, as a multiple of the pool size (4 x 5: more
#: than the 16 clients of bench/scheduler_queue.py); a call past them waits for one (asynchronously,
#: at most LOOP_WAIT_S, then DatabaseBusy). With the pool's own 5 + 10, a scheduler holds
#: at most 35 of PostgreSQL's default 100.
LOOP_CALLS = 4

#: how long, and how often, a COMMIT that lost its connection is asked after (``_settle``)
SETTLE_S, SETTLE_PAUSE_S = 2.0, 0.05
_XACT_STATUS = Statement(text("SELECT pg_xact_status(CAST(:xid AS xid8))"))

#: a row the running call's first write transaction must also write (its audit row: see
#: services/common/storage/audit.py), so that the change and the record of it commit together
_RIDER: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("omp_rider", default=None)


@contextlib.contextmanager
def riding(db: "Database", write: Callable[[Tx], None]):
    """Within the block, the first write transaction of this context on ``db`` runs ``write`` in
    it; yields a callable that says whether one did (else the caller writes it on its own)."""
    token = _RIDER.set((db, write))
    try:
        yield lambda: _RIDER.get() is None
    finally:
        _RIDER.reset(token)


@contextlib.contextmanager
def _with_rider(transaction, write: Callable[[Tx], None]):
    with transaction as tx:
        write(tx)
        yield tx
    _RIDER.set(None)            # only once it is in: a transaction that raised took the row with it


class Database:
    def __init__(self, url: str, pool_size: int = 5):
        self.url = url
        self.pool_size = pool_size
        self.engine = make_engine(url, pool_size)
        self.dialect = self.engine.dialect
        self.sqlite = url.startswith("sqlite")
        # SQLite has one writer at a time: queue this process's writers on a lock rather than in
        # SQLite's busy handler, which sleeps in growing steps and ruins tail latency
        self._write_lock = threading.Lock() if self.sqlite else contextlib.nullcontext()
        self._loop_thread: int | None = None
        self._loop_engine = None
        self._loop: asyncio.AbstractEventLoop | None = None     # its thread's id may be reused once it ends
        self._groups: GroupCommitter | None = None

    def tx(self, write: bool = True):
        """One transaction: committed when the block ends, rolled back if it raises.

        On SQLite a write transaction takes the write lock up front (BEGIN IMMEDIATE), so a
        read-then-write never fails with "database is locked" halfway; a read-only one stays
        deferred and, in WAL mode, never waits for a writer. On the thread of a loop given to
        :meth:`serve_on_loop`, see there. A database that cannot serve the transaction (locked
        past the wait, gone) raises DatabaseBusy: UNAVAILABLE, nothing happened."""
        on_loop = self._loop_thread == threading.get_ident() and not self._loop.is_closed()
        if on_loop and not self.sqlite and not in_greenlet():
            # the loop's connections are asyncio ones: a transaction outside a call's greenlet
            # would have nothing to hand the loop back to (services/common/server.py runs each call in one)
            raise RuntimeError("a PostgreSQL transaction on the server's event loop must run in the call's greenlet")
        g = self._groups
        if on_loop and g is not None and (write or g.joined()):
            transaction = g.transaction()
        else:
            transaction = self._single(write, on_loop)
        rider = _RIDER.get() if write else None
        if rider is not None and rider[0] is self:
            transaction = _with_rider(transaction, rider[1])
        return self._conflicts(transaction) if write else transaction

    @contextlib.contextmanager
    def _conflicts(self, transaction):
        """A unique key another transaction wrote first becomes Conflict (ALREADY_EXISTS), not a
        driver error: with calls served side by side (PostgreSQL on the loop, a pool, several
        schedulers) a check-then-insert can lose that race, and its caller may look again."""
        try:
            with transaction as tx:
                yield tx
        except self.dialect.loaded_dbapi.IntegrityError as exc:
            # psycopg names the SQLSTATE (23505 unique_violation); sqlite3 only says it in words
            if getattr(exc, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(exc):
                raise Conflict(f"already taken by another change: {str(exc).strip().splitlines()[0][:300]}") \
                    from None
            raise

    @contextlib.contextmanager
    def _single(self, write: bool, on_loop: bool = False):
        engine = self._loop_engine if on_loop else self.engine
        lock = self._write_lock if write else contextlib.nullcontext()
        if on_loop and write and self.sqlite:
            if not lock.acquire(timeout=LOOP_WAIT_S):
                raise DatabaseBusy(f"the database is busy: another writer of this process held it over "
                                   f"{LOOP_WAIT_S:g} s; try again")
            lock = _Held(lock)
        with lock:
            try:
                conn = engine.raw_connection()
            except (self.dialect.loaded_dbapi.Error, sa_exc.DBAPIError) as exc:
                raise DatabaseUnavailable(f"the database is unavailable: {str(exc).strip()[:300]}") from None
            except sa_exc.TimeoutError:         # every pooled connection busy past the loop engine's wait
                raise DatabaseBusy("the database is busy: every pooled connection of this process stayed in "
                                   "use past the wait; try again") from None
            side = None
            try:
                # BEGIN (SQLite's write lock) or entering the pipeline may already meet a busy or gone database
                side = session(conn, write, self.sqlite, green=on_loop and not self.sqlite)
                yield Tx(side.cursor, self.dialect, side.sync)
                side.commit()
            except self.dialect.loaded_dbapi.OperationalError as exc:
                with contextlib.suppress(Exception):
                    (side or conn).rollback()
                broken = getattr(conn.driver_connection, "broken", False)     # psycopg: the server went away
                if broken and getattr(side, "xid", None) is not None:     # COMMIT was sent
                    # the server may have committed before the connection went: it says which
                    if self._settle(engine, side.xid, on_loop, exc):
                        return          # it did: the caller's change stands, as if COMMIT had answered
                if broken:
                    raise DatabaseUnavailable(f"the database is unavailable: {str(exc).strip()[:300]}") from None
                raise DatabaseBusy(f"the database is busy or failing: {str(exc).strip()[:300]}; try again") from None
            except BaseException:
                if side is not None:
                    side.rollback()
                raise
            finally:
                _release(conn, side)

    def _settle(self, engine, xid: str, on_loop: bool, lost: Exception) -> bool:
        """Whether transaction ``xid``, whose connection was lost during its COMMIT, committed:
        PostgreSQL's ``pg_xact_status`` on another connection (its documented use). Asked again
        while the server still has it in progress or cannot be asked, for SETTLE_S; after that the
        outcome is unknown (CommitUnknown)."""
        deadline = time.monotonic() + SETTLE_S
        why = ""
        while True:
            status = None
            try:
                conn, side = engine.raw_connection(), None
                try:
                    side = session(conn, False, False, green=on_loop)
                    status = Tx(side.cursor, self.dialect).scalar(_XACT_STATUS, xid=xid)
                finally:
                    _release(conn, side)
            except (self.dialect.loaded_dbapi.Error, sa_exc.SQLAlchemyError) as exc:
                why = f"could not be asked ({str(exc).strip()[:150]})"
            else:
                why = "still in progress" if status == "in progress" else "not known to the server"
            if status is not None and status != "in progress":
                log.warning("a COMMIT lost its connection; the server says the transaction %s", status,
                            extra={"xid": xid, "error": str(lost).strip()[:300]})
                return status == "committed"
            if time.monotonic() + SETTLE_PAUSE_S > deadline:
                break
            if on_loop:
                await_only(asyncio.sleep(SETTLE_PAUSE_S))
            else:
                time.sleep(SETTLE_PAUSE_S)
        raise CommitUnknown(f"the database connection was lost during COMMIT ({str(lost).strip()[:150]}), and "
                            f"whether transaction {xid} committed is unknown (the server: {why}): the change may "
                            "have been made; look before making it again")

    def serve_on_loop(self, loop: asyncio.AbstractEventLoop, thread_id: int,
                      observe: Callable[[int, float, bool], None] | None = None) -> None:
        """Transactions on ``loop``'s thread (``thread_id``) wait at most LOOP_WAIT_S for a lock
        held by another writer (inside or outside this process) and then fail with DatabaseBusy.

        On PostgreSQL they run on psycopg's asyncio connections, inside the greenlet of their
        call: a round trip hands the loop to the other calls, so the loop never stands still
        behind the network or the server (the queue's calls overlap, one connection each).
        On SQLite the work is in this process and the writes of one turn of the loop share one
        COMMIT (GroupCommitter); ``observe`` hears of each."""
        # PostgreSQL: one connection per call in flight, kept open (a connection opened per call
        # would cost more than the call)
        self._loop_engine = make_engine(self.url, self.pool_size if self.sqlite else self.pool_size * LOOP_CALLS,
                                        wait_s=LOOP_WAIT_S, asynchronous=not self.sqlite)
        self._loop = loop
        if self.sqlite:
            self._groups = GroupCommitter(self._loop_engine.raw_connection, self.dialect, self._write_lock, loop,
                                          thread_id, observe, wait_s=LOOP_WAIT_S)
        self._loop_thread = thread_id       # last: a call on the loop sees all of the above or none

    def pending(self) -> "asyncio.Future | None":
        """The commit the running task's writes wait for, or None when it wrote nothing in a group."""
        return GroupCommitter.pending() if self._groups is not None else None

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once what the caller wrote is committed: at once outside a group, after
        the group's COMMIT inside one, never if that COMMIT fails."""
        if self._groups is None or not self._groups.on_commit(callback):
            callback()

    def migrate(self, location: Path, revision: str = "head") -> None:
        """Bring the schema to the newest migration of the history at ``location`` (or to
        ``revision``), one process at a time."""
        upgrade(self.engine, self.url, location, revision)

    def close_loop(self) -> None:
        """Close the connections of the loop given to :meth:`serve_on_loop`: on that loop, in a
        greenlet (PostgreSQL's are asyncio ones), once no call is served there any more
        (services/common/server.py's ``Service.closing``)."""
        if self._loop_engine is not None:
            self._loop_engine.dispose()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._loop_engine is not None and self.sqlite:
            self._loop_engine.dispose()


def _release(conn, side) -> None:
    """A connection back to its pool once its transaction ended (``side``: its session, None if
    none began), or dropped when it is not fit to be lent again: the pool's reset of a broken one
    would fail and be logged as a traceback."""
    if side is not None:
        side.end()
    if not (side.sound() if side is not None else not getattr(conn.driver_connection, "broken", False)):
        conn.invalidate()
    conn.close()


class Store:
    """A service's storage: each transaction hands out the service's own queries (``queries``,
    a class taking the Tx). Queries with a ``before_commit()`` have it run as the last thing of
    each write transaction that did not raise."""
    queries: type

    def __init__(self, db: Database):
        self.db = db

    @contextlib.contextmanager
    def tx(self):
        """A read-write transaction."""
        with self.db.tx() as tx:
            queries = self.queries(tx)
            yield queries
            if (last := getattr(queries, "before_commit", None)) is not None:
                last()

    @contextlib.contextmanager
    def read(self):
        """A read-only transaction: on SQLite it does not take the write lock."""
        with self.db.tx(write=False) as tx:
            yield self.queries(tx)

    def on_commit(self, callback) -> None:
        """``callback`` once what the caller wrote is committed (see Database.serve_on_loop)."""
        self.db.on_commit(callback)


class _Held:
    """A lock already acquired (with a timeout), released when the block ends."""

    def __init__(self, lock):
        self.lock = lock

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.lock.release()


__all__ = ["CommitFailed", "CommitUnknown", "Conflict", "Database", "DatabaseBusy", "DatabaseUnavailable", "Statement", "Store", "Tx"]
