"""Statements and the transaction they run in.

Statements are written with SQLAlchemy Core against each service's tables and compiled once per
dialect: SQLAlchemy writes the SQL and converts the types (JSON, booleans), the DB-API driver runs
it inside a transaction handed out by ``Database.tx``. The execution layers in between (per-call
cache keys, execution contexts, Result objects, the ORM unit of work) are skipped on purpose: a
primary-key read in its own transaction costs about 400 us through an ORM Session and about 60 us
this way on SQLite (790 against 400 us on PostgreSQL, where the round trip dominates;
``bench/scheduler_queue.py`` prints both), and the queue's throughput target is set by exactly
that cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement


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

    def processors(self, cursor) -> tuple[tuple[int, Callable], ...]:
        if self.results is None:    # never asked again: psycopg builds a description anew (37 us a column)
            found = (t.result_processor(self.dialect, d[1]) for t, d in zip(self.types, cursor.description or ()))
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

    def __init__(self, cursor, dialect: Dialect, sync: Callable[[], None] = lambda: None):
        """``sync``: waits until every statement sent has its result (PostgreSQL's pipeline mode
        sends a write's statements without waiting: see storage/connection.py)."""
        self.cur, self.dialect, self._sync = cursor, dialect, sync

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
        # In a pipeline, the results of the writes sent before this read are handed to the same
        # cursor as they arrive, and psycopg's fetch waits only for a cursor that holds no result
        # yet: a write's result read in while the read was being sent was fetched in its place
        # ("the last operation didn't produce records"). A sync hands out every result in order,
        # this read's last: one round trip, as the fetch's own flush was.
        self._sync()
        rows = self.cur.fetchall()
        results = c.processors(self.cur)
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

    def run(self, stmt: Statement, **params) -> None:
        """An INSERT, UPDATE or DELETE whose outcome nobody reads: on PostgreSQL it is sent without
        waiting for the server, and an error in it is raised at the next result read or at COMMIT."""
        self._execute(stmt, params)

    def touched(self, stmt: Statement, **params) -> int:
        """An UPDATE or DELETE, and the number of rows it touched (waited for)."""
        self._execute(stmt, params)
        self._sync()
        return self.cur.rowcount


__all__ = ["Statement", "Tx"]
