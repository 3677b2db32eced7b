"""Group commit on SQLite: the write transactions of one turn of an event loop share one COMMIT.

SQLite pays one fsync per COMMIT; with many short write transactions arriving together (the
scheduler's queue calls), sharing the fsync is most of the throughput there is to have. PostgreSQL
is left alone: each transaction commits on its own connection, and the server groups WAL flushes
of concurrent commits itself.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from typing import Callable

from omp_services.common.errors import CommitFailed, DatabaseBusy
from omp_services.common.storage.statements import Tx

log = logging.getLogger(__name__)


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


class GroupCommitter:
    """The write transactions run on ``loop`` (its thread is ``thread_id``) during one turn of the
    loop share one database transaction, each inside a savepoint of its own, and one COMMIT with
    its fsync at the start of the next turn.

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
    against 1,300-1,700.

    ``observe(calls, seconds, failed)`` hears of each group COMMIT (metrics: the disk's fsync
    time is the first sign of a failing or overloaded disk)."""

    def __init__(self, connect: Callable, dialect, write_lock: threading.Lock, loop: asyncio.AbstractEventLoop,
                 thread_id: int, observe: Callable[[int, float, bool], None] | None = None, wait_s: float = 0.25):
        self._connect, self._dialect, self._write_lock = connect, dialect, write_lock
        self._wait_s = wait_s
        self._loop, self.thread_id, self._observe = loop, thread_id, observe
        self._group: _Group | None = None

    def owns_thread(self) -> bool:
        return self.thread_id == threading.get_ident()

    def joined(self) -> bool:
        """The running task has written into the open group."""
        return self._group is not None and _JOINED.get() is self._group

    @staticmethod
    def pending() -> "asyncio.Future | None":
        """The commit the running task's writes wait for, or None when it wrote nothing in a group."""
        group = _JOINED.get()
        if group is None:
            return None
        _JOINED.set(None)
        return group.done

    def on_commit(self, callback: Callable[[], None]) -> bool:
        """Keep ``callback`` for after the open group's COMMIT if the running task joined it;
        False when it did not (the caller runs it at once)."""
        if not self.joined():
            return False
        self._group.after.append(callback)
        return True

    @contextlib.contextmanager
    def transaction(self):
        group = self._group or self._open_group()
        if _JOINED.get() is not group:
            _JOINED.set(group)
            group.size += 1         # calls, not transactions: what one fsync answers
        cur = group.cur
        if group.broken is not None:
            raise CommitFailed(f"the group transaction is broken: {group.broken}")
        cur.execute("SAVEPOINT omp_tx")
        try:
            yield Tx(cur, self._dialect)
        except BaseException:
            try:
                cur.execute("ROLLBACK TO omp_tx")
                cur.execute("RELEASE omp_tx")
            except Exception as undo:   # noqa: BLE001 - SQLite dropped the whole transaction (I/O, full disk)
                group.broken = undo
            raise
        cur.execute("RELEASE omp_tx")

    def _open_group(self) -> _Group:
        # behind a writer on another thread (the main loop's tick), but never for long: the loop
        # serves every other call, health included, while this one waits
        if not self._write_lock.acquire(timeout=self._wait_s):
            raise DatabaseBusy(f"the database is busy: another writer of this process held it over "
                               f"{self._wait_s:g} s; try again")
        try:
            conn = self._connect()      # its busy timeout is the same short wait (another process)
            try:
                cur = conn.cursor()
                cur.execute("BEGIN IMMEDIATE")
            except self._dialect.loaded_dbapi.OperationalError as exc:
                conn.close()
                raise DatabaseBusy(f"the database is busy: {exc}; try again") from None
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


__all__ = ["CommitFailed", "DatabaseBusy", "GroupCommitter"]
