"""The audit log: one row for every call that changes something (services/common/access.py marks
them), refusals included, written by the server wrapper of whichever service served it.

A row says who really called (the authenticated principal and its role, never a name the client
claims: that one is kept as ``on_behalf_of``), what (service, method, target), why (the request's
reason) and how it ended (the status code's name). On a server's event loop the row joins the
call's group commit, so the answer waits for it as for the change itself.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

from sqlalchemy import Float, Integer, String, Text, and_, bindparam, insert, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from omp_services.common.storage.base import Base
from omp_services.common.storage.db import riding
from omp_services.common.storage.statements import Statement

log = logging.getLogger(__name__)


class AuditRow(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    service: Mapped[str] = mapped_column(String(32))
    principal: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    on_behalf_of: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(32))
    peer: Mapped[str] = mapped_column(String(128))


AUDIT = AuditRow.__table__
FIELDS = ("id", "at", "service", "principal", "role", "method", "target", "reason", "on_behalf_of", "outcome", "peer")


@dataclass(frozen=True)
class AuditRecord:
    service: str
    principal: str
    role: str
    method: str
    target: str
    reason: str
    on_behalf_of: str
    outcome: str
    peer: str = ""
    at: float = 0.0
    id: int = 0


_INSERT = Statement(insert(AUDIT).values(**{f: bindparam(f) for f in FIELDS if f != "id"}))
_LIMIT = bindparam("limit")
_AFTER = bindparam("after")


def _list(principal: bool, refused: bool) -> Statement:
    cond = [AUDIT.c.id > _AFTER]
    if principal:
        cond.append(AUDIT.c.principal == bindparam("principal"))
    if refused:
        cond.append(or_(AUDIT.c.outcome == "PERMISSION_DENIED", AUDIT.c.outcome == "UNAUTHENTICATED"))
    return Statement(select(*(AUDIT.c[f] for f in FIELDS)).where(and_(*cond)).order_by(AUDIT.c.id).limit(_LIMIT))


_LISTS = {(p, r): _list(p, r) for p in (False, True) for r in (False, True)}


class AuditLog:
    """Writes the audit rows of one service into its database (a omp_services.common.storage.db.Database)."""

    def __init__(self, db, service: str):
        self.db, self.service = db, service

    @staticmethod
    def _row(service, principal, role, method, target, reason, on_behalf_of, outcome, peer) -> dict:
        return dict(at=time.time(), service=service, principal=principal[:64], role=role or "none",
                    method=method[:64], target=target[:200], reason=reason[:2000], on_behalf_of=on_behalf_of[:200],
                    outcome=outcome, peer=peer[:128])

    @contextlib.contextmanager
    def riding(self, principal: str, role: str, method: str, target: str, reason: str, on_behalf_of: str,
               peer: str = ""):
        """Within the block, the call's first write transaction also writes its row with outcome
        OK: the change and its record commit together, or neither does. Yields a callable saying
        whether that happened (else the caller records the outcome with :meth:`record`)."""
        row = self._row(self.service, principal, role, method, target, reason, on_behalf_of, "OK", peer)
        with riding(self.db, lambda tx: tx.run(_INSERT, **row)) as written:
            yield written

    def record(self, principal: str, role: str, method: str, target: str, reason: str, on_behalf_of: str,
               outcome: str, peer: str = "") -> None:
        """One row of its own; a database that cannot take it is logged (the call's own answer
        stands: the change it made, if any, is committed or not on its own)."""
        row = self._row(self.service, principal, role, method, target, reason, on_behalf_of, outcome, peer)
        try:
            with self.db.tx() as tx:
                tx.run(_INSERT, **row)
        except Exception:  # noqa: BLE001 - a lost audit row is reported loudly, never raised into the call
            log.exception("audit record not written", extra={k: v for k, v in row.items() if k != "reason"})

    def list(self, after_id: int = 0, limit: int = 100, principal: str = "", refused_only: bool = False
             ) -> list[AuditRecord]:
        with self.db.tx(write=False) as tx:
            params = {"after": after_id, "limit": limit}
            if principal:
                params["principal"] = principal
            rows = tx.all(_LISTS[(bool(principal), refused_only)], **params)
        return [AuditRecord(**dict(zip(FIELDS, r))) for r in rows]
