"""The promoter's storage: decisions, Hall of Fame entries and their history. Rows leave as the
domain's types (``entities.py``); nothing is ever deleted."""
from __future__ import annotations

from sqlalchemy import bindparam, delete, exc as sa_exc, func, insert, select, update

from omp_services.common.errors import DatabaseUnavailable
from omp_services.common.storage.db import Statement, Store, Tx
from omp_services.common.storage.engine import make_engine
from omp_services.common.vocabulary import EntryState
from omp_services.promoter.entities import Decision, Entry, EntryChange
from omp_services.promoter.tables import (MIRROR, MIRRORED, HofEntryRow, HofHistoryRow, HofMirrorQueueRow,
                                     PromoterStateRow, PromotionDecisionRow, SeedRow)

DECISIONS = PromotionDecisionRow.__table__
ENTRIES = HofEntryRow.__table__
HISTORY = HofHistoryRow.__table__
QUEUE = HofMirrorQueueRow.__table__
SEEDS = SeedRow.__table__
STATE = PromoterStateRow.__table__
_KEY = bindparam("key")
_ENTRY_COLS = [c for c in ENTRIES.c if c.name != "updated_at"]

_GET_DECISION = Statement(select(DECISIONS.c.decision).where(DECISIONS.c.run_id == _KEY))
_PUT_DECISION = Statement(insert(DECISIONS).values(run_id=_KEY, campaign_id=bindparam("campaign_id"),
                                                   outcome=bindparam("outcome"), decided_at=bindparam("at"),
                                                   actor=bindparam("actor"), decision=bindparam("decision")))
_GET_ENTRY = Statement(select(*_ENTRY_COLS).where(ENTRIES.c.genome_hash == _KEY))
_PUT_ENTRY = Statement(insert(ENTRIES).values({c.name: bindparam(c.name) for c in ENTRIES.c}))
_SET_STATE = Statement(update(ENTRIES).where(ENTRIES.c.genome_hash == _KEY)
                       .values(state=bindparam("state"), updated_at=bindparam("at")))
_SET_EVIDENCE = Statement(update(ENTRIES).where(ENTRIES.c.genome_hash == _KEY)
                          .values(evidence_runs=bindparam("runs"), updated_at=bindparam("at")))
_HISTORY = Statement(select(HISTORY.c.at, HISTORY.c.actor, HISTORY.c.from_state, HISTORY.c.to_state,
                            HISTORY.c.reason).where(HISTORY.c.genome_hash == _KEY).order_by(HISTORY.c.id))
_ADD_HISTORY = Statement(insert(HISTORY).values(genome_hash=_KEY, at=bindparam("at"), actor=bindparam("actor"),
                                                from_state=bindparam("from_state"), to_state=bindparam("to_state"),
                                                reason=bindparam("reason")))
_COUNT_BY_STATE = Statement(select(ENTRIES.c.state, func.count()).group_by(ENTRIES.c.state))
_LAST_PROMOTED = Statement(select(func.max(ENTRIES.c.promoted_at)))
_FIRST_DECIDED = Statement(select(func.min(DECISIONS.c.decided_at)))
_UNQUEUE = Statement(delete(QUEUE).where(QUEUE.c.genome_hash == _KEY))
_QUEUE = Statement(insert(QUEUE).values(genome_hash=_KEY, queued_at=bindparam("at")))
_QUEUED = Statement(select(QUEUE.c.genome_hash, QUEUE.c.queued_at).order_by(QUEUE.c.queued_at, QUEUE.c.genome_hash)
                    .limit(bindparam("limit")))
_MIRRORED = Statement(delete(QUEUE).where(QUEUE.c.genome_hash == _KEY, QUEUE.c.queued_at == bindparam("at")))
_SEEDS_OF = Statement(select(SEEDS.c.campaign_id, SEEDS.c.seed, SEEDS.c.registered_at, SEEDS.c.actor, SEEDS.c.reason)
                      .where(SEEDS.c.campaign_id == _KEY).order_by(SEEDS.c.seed))
_ALL_SEEDS = Statement(select(SEEDS.c.campaign_id, SEEDS.c.seed, SEEDS.c.registered_at, SEEDS.c.actor, SEEDS.c.reason)
                       .order_by(SEEDS.c.campaign_id, SEEDS.c.seed).limit(bindparam("limit")))
_HAS_SEEDS = Statement(select(func.count()).select_from(SEEDS).where(SEEDS.c.campaign_id == _KEY))
_SEED = Statement(select(SEEDS.c.seed).where(SEEDS.c.campaign_id == _KEY, SEEDS.c.seed == bindparam("seed")))
_ADD_SEED = Statement(insert(SEEDS).values(campaign_id=_KEY, seed=bindparam("seed"), registered_at=bindparam("at"),
                                           actor=bindparam("actor"), reason=bindparam("reason")))
_GET_STATE = Statement(select(STATE.c.value).where(STATE.c.name == _KEY))
_DROP_STATE = Statement(delete(STATE).where(STATE.c.name == _KEY))
_PUT_STATE = Statement(insert(STATE).values(name=_KEY, value=bindparam("value"), updated_at=bindparam("at")))
_DECISIONS_OF = Statement(select(DECISIONS.c.decision).where(DECISIONS.c.campaign_id == _KEY))
_QUEUE_STATS = Statement(select(func.count(), func.min(QUEUE.c.queued_at)))


def _listed(by_state: bool, count: bool) -> Statement:
    q = select(func.count()).select_from(ENTRIES) if count else select(*_ENTRY_COLS)
    if by_state:
        q = q.where(ENTRIES.c.state == bindparam("state"))
    if not count:
        q = q.order_by(ENTRIES.c.promoted_at.desc(), ENTRIES.c.genome_hash).limit(bindparam("limit")) \
            .offset(bindparam("offset"))
    return Statement(q)


def _entry(row, history=()) -> Entry:
    d = dict(zip((c.name for c in _ENTRY_COLS), row))
    return Entry(d["genome_hash"], EntryState(d["state"]), d["candidate_id"], d["run_id"], d["campaign_id"],
                 d["config_hash"], d["git_sha"], d["snapshot_id"], tuple(d["seeds"] or ()), d["environment"],
                 d["promoted_at"], d["rule"], d["metrics"] or {}, d["artifact_dir"], tuple(d["evidence_runs"] or ()),
                 tuple(history))


class PromoterTx:
    def __init__(self, tx: Tx):
        self.tx = tx

    def decision(self, run_id: str) -> Decision | None:
        d = self.tx.scalar(_GET_DECISION, key=run_id)
        return Decision.from_dict(d) if d is not None else None

    def put_decision(self, d: Decision, actor: str) -> None:
        self.tx.run(_PUT_DECISION, key=d.run_id, campaign_id=d.campaign_id, outcome=str(d.outcome), at=d.decided_at,
                    actor=actor, decision=d.to_dict())

    def entry(self, genome_hash: str, with_history: bool = True) -> Entry | None:
        row = self.tx.first(_GET_ENTRY, key=genome_hash)
        if row is None:
            return None
        history = [EntryChange(at, actor, EntryState(f) if f else None, EntryState(t), reason)
                   for at, actor, f, t, reason in self.tx.all(_HISTORY, key=genome_hash)] if with_history else ()
        return _entry(row, history)

    def put_entry(self, e: Entry, actor: str, reason: str) -> None:
        self.tx.run(_PUT_ENTRY, genome_hash=e.genome_hash, state=str(e.state), candidate_id=e.candidate_id,
                    run_id=e.run_id, campaign_id=e.campaign_id, config_hash=e.config_hash, git_sha=e.git_sha,
                    snapshot_id=e.snapshot_id, seeds=list(e.seeds), environment=e.environment,
                    promoted_at=e.promoted_at, rule=e.rule, metrics=e.metrics, artifact_dir=e.artifact_dir,
                    evidence_runs=list(e.evidence_runs), updated_at=e.promoted_at)
        self.tx.run(_ADD_HISTORY, key=e.genome_hash, at=e.promoted_at, actor=actor, from_state="",
                    to_state=str(e.state), reason=reason)
        self._queue(e.genome_hash, e.promoted_at)

    def set_state(self, genome_hash: str, old: EntryState, new: EntryState, at: float, actor: str,
                  reason: str) -> None:
        self.tx.run(_SET_STATE, key=genome_hash, state=str(new), at=at)
        self.tx.run(_ADD_HISTORY, key=genome_hash, at=at, actor=actor, from_state=str(old), to_state=str(new),
                    reason=reason)
        self._queue(genome_hash, at)

    def add_evidence(self, genome_hash: str, run_id: str, at: float) -> None:
        e = self.entry(genome_hash, with_history=False)
        if e is not None and run_id != e.run_id and run_id not in e.evidence_runs:
            self.tx.run(_SET_EVIDENCE, key=genome_hash, runs=[*e.evidence_runs, run_id], at=at)
            self._queue(genome_hash, at)

    # ---- what the promoter remembers across restarts
    def state(self, name: str) -> dict | None:
        return self.tx.scalar(_GET_STATE, key=name)

    def put_state(self, name: str, value: dict, at: float) -> None:
        self.tx.run(_DROP_STATE, key=name)
        self.tx.run(_PUT_STATE, key=name, value=value, at=at)

    # ---- the seed registry
    def seeds(self, campaign_id: str = "", limit: int = 10_000) -> list[tuple]:
        return [tuple(r) for r in (self.tx.all(_SEEDS_OF, key=campaign_id) if campaign_id
                                   else self.tx.all(_ALL_SEEDS, limit=limit))]

    def has_seeds(self, campaign_id: str) -> bool:
        return bool(self.tx.scalar(_HAS_SEEDS, key=campaign_id))

    def register_seed(self, campaign_id: str, seed: int, at: float, actor: str, reason: str) -> bool:
        """False when the seed was registered already (the first registration stands)."""
        if self.tx.scalar(_SEED, key=campaign_id, seed=seed) is not None:
            return False
        self.tx.run(_ADD_SEED, key=campaign_id, seed=seed, at=at, actor=actor, reason=reason)
        return True

    def decisions_of(self, campaign_id: str) -> list[Decision]:
        return [Decision.from_dict(r[0]) for r in self.tx.all(_DECISIONS_OF, key=campaign_id)]

    # ---- the mirror's queue: every change of an entry, in the change's transaction
    def _queue(self, genome_hash: str, at: float) -> None:
        self.tx.run(_UNQUEUE, key=genome_hash)
        self.tx.run(_QUEUE, key=genome_hash, at=at)

    def queued(self, limit: int) -> list[tuple[str, float]]:
        return [tuple(r) for r in self.tx.all(_QUEUED, limit=limit)]

    def mirrored(self, genome_hash: str, queued_at: float) -> None:
        """The mirror holds the version queued at ``queued_at``: off the queue, unless changed since."""
        self.tx.run(_MIRRORED, key=genome_hash, at=queued_at)

    def queue_stats(self) -> tuple[int, float | None]:
        n, oldest = self.tx.first(_QUEUE_STATS)
        return int(n or 0), oldest

    def entries(self, state: EntryState | None, offset: int, limit: int) -> tuple[list[Entry], int]:
        by = state is not None
        args = {"state": str(state)} if by else {}
        total = self.tx.scalar(_listed(by, True), **args)
        rows = self.tx.all(_listed(by, False), offset=offset, limit=limit, **args)
        return [_entry(r) for r in rows], total

    def counts(self) -> dict[EntryState, int]:
        return {EntryState(s): n for s, n in self.tx.all(_COUNT_BY_STATE)}

    def last_promoted_at(self) -> float | None:
        return self.tx.scalar(_LAST_PROMOTED)

    def first_decided_at(self) -> float | None:
        """When the first run was judged: since when "no promotion" means something."""
        return self.tx.scalar(_FIRST_DECIDED)


class PromoterStore(Store):
    queries = PromoterTx


class MirrorTarget:
    """The PostgreSQL copy of the Hall of Fame (the playbook's "sync to Neon"): its own table in its
    own database, created if missing, written by idempotent upserts keyed by genome_hash."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url, pool_size=1)
        self._ready = False

    def upsert(self, rows: list[dict]) -> None:
        try:
            with self.engine.begin() as conn:
                if not self._ready:
                    MIRROR.create_all(conn, checkfirst=True)
                    self._ready = True
                for row in rows:
                    stmt = _dialect_insert(self.engine.dialect.name)(MIRRORED).values(**row)
                    conn.execute(stmt.on_conflict_do_update(index_elements=[MIRRORED.c.genome_hash],
                                                            set_={k: stmt.excluded[k] for k in row if k != "genome_hash"}))
        except sa_exc.SQLAlchemyError as exc:
            why = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
            raise DatabaseUnavailable(f"the Hall of Fame mirror is unavailable: {why}") from None

    def rows(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(MIRRORED).order_by(MIRRORED.c.genome_hash))]

    def close(self) -> None:
        self.engine.dispose()


def _dialect_insert(name: str):
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert
