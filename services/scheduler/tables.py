"""The scheduler's tables: campaigns, attempts, the queue change log, the activity log, the daemon.
Only the scheduler's repository reads and writes them."""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from omp_services.common.storage.base import Base

# the partial-index predicate, spelled as each database renders the admission query's WHERE
QUEUED_SQLITE = "state = 'queued' AND enabled = 1 AND removed_at IS NULL"
QUEUED_POSTGRES = "state = 'queued' AND enabled = true AND removed_at IS NULL"
LISTED = "removed_at IS NULL"


class CampaignRow(Base):
    __tablename__ = "campaigns"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    config_path: Mapped[str] = mapped_column(String(1024))
    market: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean)
    repeat: Mapped[bool] = mapped_column(Boolean)
    tags: Mapped[list] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    queued_at: Mapped[float] = mapped_column(Float)
    # priority * aging step + queued_at: all queued campaigns age at one rate, so ordering by this
    # key is ordering by aged priority, and an index finds the next campaign without a scan
    rank_key: Mapped[float] = mapped_column(Float)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    config_hash: Mapped[str] = mapped_column(String(64), default="")
    last_run_id: Mapped[str] = mapped_column(String(64), default="")
    removed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    # a re-queued repeat campaign is not admitted before this time (its cooldown)
    not_before: Mapped[float | None] = mapped_column(Float, nullable=True)
    # the admission query reads this partial index from its start (SQLite is told to: INDEXED BY):
    # the first row not in a repeat cooldown is the next campaign, whatever has completed before it
    __table_args__ = (Index("ix_campaigns_queue", "rank_key", "queued_at", "id",
                            sqlite_where=text(QUEUED_SQLITE), postgresql_where=text(QUEUED_POSTGRES)),
                      # a page of the queue reads this one in order, whatever its filters: PostgreSQL
                      # does not take removed_at IS NULL as an equality that keeps an index on
                      # (removed_at, rank_key, ...) in rank order, and sorted the whole table instead
                      Index("ix_campaigns_listed", "rank_key", "queued_at", "id",
                            sqlite_where=text(LISTED), postgresql_where=text(LISTED)))


class AttemptRow(Base):
    __tablename__ = "attempts"
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))          # running, completed, failed, cancelled
    run_id: Mapped[str] = mapped_column(String(64), default="")
    config_hash: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[float] = mapped_column(Float)
    lease_expires_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    miner_id: Mapped[str] = mapped_column(String(200), server_default="")     # the miner it was sent to
    __table_args__ = (Index("ix_attempts_state", "state"),)


class QueueChangeRow(Base):
    __tablename__ = "queue_changes"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[float] = mapped_column(Float)
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")


class ActivityRow(Base):
    """The append-only audit trail; its ``seq`` orders the event stream."""
    __tablename__ = "activity"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    campaign_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class DaemonRow(Base):
    __tablename__ = "daemon"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)     # always 1
    state: Mapped[str] = mapped_column(String(16))
    data_ready: Mapped[bool] = mapped_column(Boolean)
    data_reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[float] = mapped_column(Float)


class CampaignCountRow(Base):
    """How many campaigns (not removed) are in each state, kept by the repository in the same
    transaction as every change of a campaign's state: the status reads it instead of counting a
    queue that may hold tens of thousands of campaigns."""
    __tablename__ = "campaign_counts"
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class PromotionHandoffRow(Base):
    """A completed run not yet acknowledged by the promoter: written in the transaction that
    completes its attempt, deleted when PromoteRun answers, tried again until then."""
    __tablename__ = "promotion_handoffs"
    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[float] = mapped_column(Float, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class MinerRow(Base):
    """A miner that registered: where it is and how many campaigns it takes at once. It registers
    every few seconds; one not heard of for a while is not chosen while others are."""
    __tablename__ = "miners"
    miner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    address: Mapped[str] = mapped_column(String(300))
    slots: Mapped[int] = mapped_column(Integer)
    registered_at: Mapped[float] = mapped_column(Float)
    seen_at: Mapped[float] = mapped_column(Float)


class LeaseRow(Base):
    """The scheduler leader's lease: one row per lease name. Whoever holds an unexpired lease admits;
    the epoch grows with every change of holder and fences a deposed leader's writes."""
    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    expires_at: Mapped[float] = mapped_column(Float)
