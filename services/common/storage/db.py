"""The one transaction helper every repository uses: :meth:`Database.tx`.

What it stands on lives beside it: ``statements.py`` (Core statements compiled once per dialect,
run on the DB-API cursor), ``group_commit.py`` (SQLite's writes of one loop turn share a COMMIT),
``engine.py`` (engines and migrations).
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Callable

from services.common.storage.engine import make_engine, upgrade
from services.common.storage.group_commit import CommitFailed, GroupCommitter
from services.common.storage.statements import Statement, Tx


class Database:
    def __init__(self, url: str, pool_size: int = 5):
        self.url = url
        self.engine = make_engine(url, pool_size)
        self.dialect = self.engine.dialect
        self.sqlite = url.startswith("sqlite")
        # SQLite has one writer at a time: queue this process's writers on a lock rather than in
        # SQLite's busy handler, which sleeps in growing steps and ruins tail latency
        self._write_lock = threading.Lock() if self.sqlite else contextlib.nullcontext()
        self._groups: GroupCommitter | None = None

    def tx(self, write: bool = True):
        """One transaction: committed when the block ends, rolled back if it raises.

        On SQLite a write transaction takes the write lock up front (BEGIN IMMEDIATE), so a
        read-then-write never fails with "database is locked" halfway; a read-only one stays
        deferred and, in WAL mode, never waits for a writer. On the thread of a loop given to
        :meth:`group_commits`, see GroupCommitter."""
        g = self._groups
        if g is not None and g.owns_thread() and (write or g.joined()):
            return g.transaction()
        return self._single(write)

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

    def group_commits(self, loop: asyncio.AbstractEventLoop, thread_id: int,
                      observe: Callable[[int, float, bool], None] | None = None) -> None:
        """SQLite: the write transactions run on ``loop`` share one COMMIT per turn of the loop
        (GroupCommitter). PostgreSQL: nothing changes."""
        if self.sqlite:
            self._groups = GroupCommitter(self.engine.raw_connection, self.dialect, self._write_lock, loop,
                                          thread_id, observe)

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

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["CommitFailed", "Database", "Statement", "Tx"]
