"""What the storage layer tells a caller when the database cannot serve it now: UNAVAILABLE, a
call that may be retried; nothing of it happened."""
from __future__ import annotations

from services.common.errors import Unavailable


class CommitFailed(Unavailable):
    """A group's COMMIT failed: none of its transactions happened, and the call may be retried."""


class DatabaseBusy(Unavailable):
    """The database did not serve the call in time (another writer holds it, a lock, a slow disk)
    or failed under it; nothing of the call happened."""
