"""The promoter's tables: every decision with its inputs, the Hall of Fame entries (one per
genome_hash, never deleted) and every change of their state. Only the promoter's repository
reads and writes them."""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, ForeignKey, Integer, MetaData, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from omp_services.common.storage.base import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class PromotionDecisionRow(Base):
    __tablename__ = "promotion_decisions"
    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)     # PromoteRun is idempotent by it
    campaign_id: Mapped[str] = mapped_column(String(128), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[float] = mapped_column(Float, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    decision: Mapped[dict] = mapped_column(JSON)        # every gate, value and threshold it used


class HofEntryRow(Base):
    __tablename__ = "hof_entries"
    genome_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    candidate_id: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[str] = mapped_column(String(128), index=True)
    campaign_id: Mapped[str] = mapped_column(String(128))
    config_hash: Mapped[str] = mapped_column(String(64))
    git_sha: Mapped[str] = mapped_column(String(64))
    snapshot_id: Mapped[str] = mapped_column(String(64))
    seeds: Mapped[list] = mapped_column(JSON)
    environment: Mapped[str] = mapped_column(String(16))
    promoted_at: Mapped[float] = mapped_column(Float)
    rule: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict] = mapped_column(JSON)
    artifact_dir: Mapped[str] = mapped_column(Text)
    evidence_runs: Mapped[list] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)


class HofHistoryRow(Base):
    """Every change of an entry's state, with who and why; the first is its promotion."""
    __tablename__ = "hof_history"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    genome_hash: Mapped[str] = mapped_column(ForeignKey("hof_entries.genome_hash"), index=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(200))
    from_state: Mapped[str] = mapped_column(String(32), default="")
    to_state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)


class HofMirrorQueueRow(Base):
    """Entries changed since the mirror last took them: written in the transaction of the change,
    removed once the mirror holds that version (the mirror converges whatever fails between)."""
    __tablename__ = "hof_mirror_queue"
    genome_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    queued_at: Mapped[float] = mapped_column(Float, index=True)


#: the mirror's own table, in the mirror's database (``[promotion] mirror_url``): not a table of this
#: service's database, so it stands apart from Base (the migrations never create it here)
MIRROR = MetaData()
MIRRORED = Table(
    "hof_entries_mirror", MIRROR,
    Column("genome_hash", String(64), primary_key=True), Column("state", String(32), nullable=False),
    Column("candidate_id", String(200), nullable=False), Column("run_id", String(128), nullable=False),
    Column("campaign_id", String(128), nullable=False), Column("config_hash", String(64), nullable=False),
    Column("git_sha", String(64), nullable=False), Column("snapshot_id", String(64), nullable=False),
    Column("seeds", JSON, nullable=False), Column("environment", String(16), nullable=False),
    Column("promoted_at", Float, nullable=False), Column("rule", Text, nullable=False),
    Column("metrics", JSON, nullable=False), Column("evidence_runs", JSON, nullable=False),
    Column("history", JSON, nullable=False), Column("synced_at", Float, nullable=False))


class SeedRow(Base):
    """The seeds a campaign may promote from: its config's seeds, registered with its first judged
    run, and any other an operator registered with a reason (a defence against seed fishing)."""
    __tablename__ = "seed_registry"
    campaign_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seed: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    registered_at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)


class PromoterStateRow(Base):
    """What the promoter must remember across its restarts (when it last revalidated), one JSON
    value per name."""
    __tablename__ = "promoter_state"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)
