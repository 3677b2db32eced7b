"""The miner's table of runs."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from sqlalchemy import select

from services.common.storage.db import Database
from services.common.storage.models import RunRow

FIELDS = ("run_id", "campaign_id", "attempt", "status", "config_path", "config_hash", "run_dir", "pid",
          "proc_started", "progress", "started_at", "updated_at", "ended_at", "error", "reported")


@dataclass(frozen=True)
class Run:
    run_id: str
    campaign_id: str
    attempt: int
    status: str
    config_path: str
    config_hash: str
    run_dir: str
    pid: int
    proc_started: float
    progress: dict = field(default_factory=dict)
    started_at: float = 0.0
    updated_at: float = 0.0
    ended_at: float | None = None
    error: str = ""
    reported: bool = False


def _run(r: RunRow) -> Run:
    return Run(**{f: getattr(r, f) for f in FIELDS})


class MinerStore:
    def __init__(self, db: Database):
        self.db = db

    @contextlib.contextmanager
    def _s(self):
        with self.db.session() as s:
            yield s

    def insert(self, run: Run) -> Run:
        with self._s() as s:
            s.add(RunRow(**{f: getattr(run, f) for f in FIELDS}))
        return run

    def get(self, run_id: str) -> Run | None:
        with self._s() as s:
            r = s.get(RunRow, run_id)
            return _run(r) if r is not None else None

    def by_attempt(self, campaign_id: str, attempt: int) -> Run | None:
        with self._s() as s:
            r = s.scalars(select(RunRow).where(RunRow.campaign_id == campaign_id, RunRow.attempt == attempt)).first()
            return _run(r) if r is not None else None

    def update(self, run_id: str, **values) -> Run:
        with self._s() as s:
            r = s.get(RunRow, run_id)
            for k, v in values.items():
                setattr(r, k, v)
            s.flush()
            return _run(r)

    def list(self, campaign_id: str = "", status: str = "", offset: int = 0, limit: int = 50) -> tuple[list[Run], int]:
        with self._s() as s:
            q = select(RunRow).order_by(RunRow.started_at.desc(), RunRow.run_id)
            if campaign_id:
                q = q.where(RunRow.campaign_id == campaign_id)
            if status:
                q = q.where(RunRow.status == status)
            rows = [_run(r) for r in s.scalars(q)]
        return rows[offset:offset + limit], len(rows)

    def with_status(self, status: str) -> list[Run]:
        return self.list(status=status, limit=10**9)[0]

    def unreported(self) -> list[Run]:
        with self._s() as s:
            q = select(RunRow).where(RunRow.reported.is_(False), RunRow.status != "running")
            return [_run(r) for r in s.scalars(q)]
