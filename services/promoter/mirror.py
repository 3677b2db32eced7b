"""The Hall of Fame's mirror in PostgreSQL (``[promotion] mirror_url``; the playbook's "sync to
Neon"): every change of an entry is queued in the change's own transaction, and :meth:`sync`
upserts the queued entries (keyed by genome_hash, so a retry changes nothing) and takes off the
queue only the versions the mirror now holds. Whatever fails in between (the server going away
mid-batch, a kill), the next sync sends them again: nothing is lost, nothing duplicated, and the
mirror converges."""
from __future__ import annotations

import threading

from omp_services.common.clock import Clock
from omp_services.common.errors import OmpError
from omp_services.promoter.entities import Entry

BATCH = 100


def mirror_row(e: Entry, now: float) -> dict:
    return {"genome_hash": e.genome_hash, "state": str(e.state), "candidate_id": e.candidate_id, "run_id": e.run_id,
            "campaign_id": e.campaign_id, "config_hash": e.config_hash, "git_sha": e.git_sha,
            "snapshot_id": e.snapshot_id, "seeds": list(e.seeds), "environment": e.environment,
            "promoted_at": e.promoted_at, "rule": e.rule, "metrics": e.metrics, "evidence_runs": list(e.evidence_runs),
            "history": [{"at": h.at, "actor": h.actor, "from": str(h.from_state or ""), "to": str(h.to_state),
                         "reason": h.reason} for h in e.history],
            "synced_at": now}


class Mirror:
    def __init__(self, store, target, clock: Clock):
        self.store, self.target, self.clock = store, target, clock
        self.last_sync: float | None = None      # when the mirror last held everything queued then
        self.wake = threading.Event()            # set after a change: sync at once

    def sync(self) -> int:
        """Send the queued entries; returns how many are still queued. Raises (DatabaseUnavailable)
        when the mirror cannot take them: they stay queued."""
        with self.store.read() as tx:
            queued = tx.queued(BATCH)
            entries = [(h, at, tx.entry(h)) for h, at in queued]
        now = self.clock.now()
        rows = [mirror_row(e, now) for _, _, e in entries if e is not None]
        if rows:
            self.target.upsert(rows)
        with self.store.tx() as tx:
            for h, at, _ in entries:
                tx.mirrored(h, at)
            left, _ = tx.queue_stats()
        if left == 0:
            self.last_sync = now
        return left

    def sync_now(self) -> tuple[int, float, float | None, str]:
        """Sync at once (an operator asked): (pending, lag seconds, last full sync, why it failed)."""
        error = ""
        try:
            self.sync()
        except OmpError as exc:
            error = str(exc)
        pending, lag = self.lag()
        return pending, lag, self.last_sync, error

    def lag(self) -> tuple[int, float]:
        """(entries waiting, seconds the oldest has waited)."""
        with self.store.read() as tx:
            n, oldest = tx.queue_stats()
        return n, (self.clock.now() - oldest) if oldest is not None else 0.0
