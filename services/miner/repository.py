"""The miner's storage of runs; rows leave as the domain's ``Run``."""
from __future__ import annotations

import functools

from sqlalchemy import bindparam, func, insert, select, update

from omp_services.common.storage.db import Database, Statement
from omp_services.common.vocabulary import RunStatus
from omp_services.miner.entities import RUN_FIELDS, Run
from omp_services.miner.tables import RunRow

FIELDS = RUN_FIELDS
RUNS = RunRow.__table__
_COLS = [RUNS.c[f] for f in FIELDS]
_INSERT = Statement(insert(RUNS).values({f: bindparam(f) for f in FIELDS}))
_GET = Statement(select(*_COLS).where(RUNS.c.run_id == bindparam("key")))
_BY_ATTEMPT = Statement(select(*_COLS).where(RUNS.c.campaign_id == bindparam("key"),
                                             RUNS.c.attempt == bindparam("attempt")))
# "its own": a miner's runs, and those from before several miners ("")
_OWN = RUNS.c.miner_id.in_([bindparam("miner_id"), ""])
_RUNNING_OF = Statement(select(*_COLS).where(RUNS.c.campaign_id == bindparam("key"),
                                             RUNS.c.status == str(RunStatus.RUNNING), _OWN))
_LATEST_ATTEMPT = Statement(select(func.max(RUNS.c.attempt)).where(RUNS.c.campaign_id == bindparam("key")))
_LATEST_FOLDER = Statement(select(RUNS.c.run_dir, RUNS.c.status).where(RUNS.c.campaign_id == bindparam("key"))
                           .order_by(RUNS.c.attempt.desc(), RUNS.c.started_at.desc()).limit(1))
# never a running run's folder: another miner may still be writing it (one whose attempt was
# superseded and has not heard yet)
_UNFINISHED_FOLDERS = Statement(select(RUNS.c.run_dir).where(
    RUNS.c.campaign_id == bindparam("key"), RUNS.c.run_dir != "",
    RUNS.c.status != str(RunStatus.COMPLETED), RUNS.c.status != str(RunStatus.RUNNING))
    .order_by(RUNS.c.attempt.desc(), RUNS.c.started_at.desc()).limit(10))
_UNREPORTED = Statement(select(*_COLS).where(RUNS.c.reported.is_(False), RUNS.c.status != str(RunStatus.RUNNING),
                                             _OWN))


@functools.lru_cache(maxsize=None)
def _update(cols: tuple[str, ...]) -> Statement:
    return Statement(update(RUNS).where(RUNS.c.run_id == bindparam("key")).values({c: bindparam(c) for c in cols}))


@functools.lru_cache(maxsize=None)
def _listed(count: bool, campaign: bool, status: bool, own: bool = False) -> Statement:
    """Newest first, with the filters asked for, or their number."""
    q = select(func.count()).select_from(RUNS) if count else select(*_COLS)
    if own:
        q = q.where(_OWN)
    if campaign:
        q = q.where(RUNS.c.campaign_id == bindparam("campaign_id"))
    if status:
        q = q.where(RUNS.c.status == bindparam("status"))
    if not count:
        q = q.order_by(RUNS.c.started_at.desc(), RUNS.c.run_id).limit(bindparam("limit")).offset(bindparam("offset"))
    return Statement(q)


class MinerStore:
    """``miner_id``: the miner using it; several may share one database, each with its own runs."""

    def __init__(self, db: Database, miner_id: str = ""):
        self.db, self.miner_id = db, miner_id

    def insert(self, run: Run) -> Run:
        with self.db.tx() as tx:
            tx.run(_INSERT, **{f: getattr(run, f) for f in FIELDS})
        return run

    def get(self, run_id: str) -> Run | None:
        with self.db.tx(write=False) as tx:
            row = tx.first(_GET, key=run_id)
        return Run(*row) if row is not None else None

    def by_attempt(self, campaign_id: str, attempt: int) -> Run | None:
        with self.db.tx(write=False) as tx:
            row = tx.first(_BY_ATTEMPT, key=campaign_id, attempt=attempt)
        return Run(*row) if row is not None else None

    def update(self, run_id: str, **values) -> Run:
        with self.db.tx() as tx:
            tx.run(_update(tuple(sorted(values))), key=run_id, **values)
            return Run(*tx.first(_GET, key=run_id))

    def list(self, campaign_id: str = "", status: str = "", offset: int = 0, limit: int = 50,
             own: bool = False) -> tuple[list[Run], int]:
        """``own``: only this miner's runs (and those from before several miners)."""
        flags = (bool(campaign_id), bool(status), own)
        args = dict(campaign_id=campaign_id, status=status, miner_id=self.miner_id)
        with self.db.tx(write=False) as tx:
            total = tx.scalar(_listed(True, *flags), **args)
            rows = tx.all(_listed(False, *flags), **args, offset=offset, limit=limit)
        return [Run(*r) for r in rows], total

    def own_with_status(self, status: str) -> list[Run]:
        return self.list(status=status, limit=10**9, own=True)[0]

    def running_of(self, campaign_id: str) -> list[Run]:
        """The campaign's running runs on this miner."""
        with self.db.tx(write=False) as tx:
            return [Run(*r) for r in tx.all(_RUNNING_OF, key=campaign_id, miner_id=self.miner_id)]

    def latest_attempt(self, campaign_id: str) -> int:
        """The highest attempt of the campaign this miner has a run of; 0 if none."""
        with self.db.tx(write=False) as tx:
            return tx.scalar(_LATEST_ATTEMPT, key=campaign_id) or 0

    def unfinished_folders(self, campaign_id: str) -> list[str]:
        """The folders of the campaign's unfinished runs, newest first; none when its latest run
        completed (a new search starts then)."""
        with self.db.tx(write=False) as tx:
            row = tx.first(_LATEST_FOLDER, key=campaign_id)
            if row is None or row[1] == str(RunStatus.COMPLETED):
                return []
            return [r[0] for r in tx.all(_UNFINISHED_FOLDERS, key=campaign_id)]

    def unreported(self) -> list[Run]:
        """This miner's ended runs whose result has not reached the scheduler."""
        with self.db.tx(write=False) as tx:
            return [Run(*r) for r in tx.all(_UNREPORTED, miner_id=self.miner_id)]
