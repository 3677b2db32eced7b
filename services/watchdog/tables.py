"""The watchdog's tables: incidents with their timeline, and the bounded history of resource
samples. Only the watchdog's repository reads and writes them."""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from omp_services.common.storage.base import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class IncidentRow(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)     # INC-<id>
    severity: Mapped[int] = mapped_column(Integer)          # 0, 1, 2: SEV-0 is the worst
    kind: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(256), default="")
    open: Mapped[bool] = mapped_column(Boolean)
    detected_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    resolved_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    summary: Mapped[str] = mapped_column(Text)
    symptoms: Mapped[list] = mapped_column(JSON, default=list)
    campaigns: Mapped[list] = mapped_column(JSON, default=list)
    runs: Mapped[list] = mapped_column(JSON, default=list)
    root_cause: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str] = mapped_column(Text, default="")
    prevention: Mapped[list] = mapped_column(JSON, default=list)
    handoffs: Mapped[list] = mapped_column(JSON, default=list)
    opened_by: Mapped[str] = mapped_column(String(200))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    # one open incident per condition: a second report of it finds the first (also under races)
    __table_args__ = (Index("ux_incidents_open_condition", "kind", "key", unique=True,
                            sqlite_where=text("open = 1"), postgresql_where=text("open = true")),
                      Index("ix_incidents_open", "open", "id"))


class IncidentEventRow(Base):
    """An incident's timeline: every action on it, in order."""
    __tablename__ = "incident_events"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(Text)


class ResourceSampleRow(Base):
    """One reading of the machine; the oldest beyond the kept history are dropped as new ones come."""
    __tablename__ = "resource_samples"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    taken_at: Mapped[float] = mapped_column(Float, index=True)
    cpu_util_pct: Mapped[float] = mapped_column(Float)
    mem_available_mb: Mapped[float] = mapped_column(Float)
    disks: Mapped[dict] = mapped_column(JSON, default=dict)     # path -> free GB


class WatchdogStateRow(Base):
    """What the watchdog's loop must remember across its restarts (where it is in the scheduler's
    event log, and the windows it counts over), one JSON value per name."""
    __tablename__ = "watchdog_state"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[float] = mapped_column(Float)
