"""The miner's table of runs. Only the miner's repository reads and writes it."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from omp_services.common.storage.base import Base


class RunRow(Base):
    __tablename__ = "runs"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))             # running, completed, failed, cancelled
    config_path: Mapped[str] = mapped_column(String(1024))
    config_hash: Mapped[str] = mapped_column(String(64))
    run_dir: Mapped[str] = mapped_column(String(1024))
    pid: Mapped[int] = mapped_column(Integer, default=0)
    proc_started: Mapped[float] = mapped_column(Float, default=0.0)   # process create time: pid reuse guard
    progress: Mapped[dict] = mapped_column(JSON, default=dict)
    started_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    reported: Mapped[bool] = mapped_column(Boolean, default=False)     # result delivered to the scheduler
    ended_by: Mapped[str] = mapped_column(String(200), server_default="")     # who cancelled or killed it
    miner_id: Mapped[str] = mapped_column(String(200), server_default="")     # the miner that runs it
    __table_args__ = (UniqueConstraint("campaign_id", "attempt", name="uq_runs_attempt"),
                      Index("ix_runs_status", "status"))
