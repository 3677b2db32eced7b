"""One migration history for every service's tables (one database may hold them all; each service
writes only its own). The environment imports each service's tables module; this is the one place
outside a service that may, and it only reads their definitions."""
from __future__ import annotations

from pathlib import Path

LOCATION = Path(__file__).resolve().parent


def migrate(db, revision: str = "head") -> None:
    """Bring ``db`` (a omp_services.common.storage.db.Database) to ``revision`` of this history."""
    db.migrate(LOCATION, revision)
