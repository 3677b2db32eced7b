"""Several schedulers on one database: one leads (it reconciles, admits and hands completed runs to
the promoter), the others serve every call and stand by. The leader holds a lease, a row in the
database that it renews every round of its loop (at least every third of ``leader_lease_s``); a
standby takes the lease once it has expired, with the next epoch.

Never two admitting at once: an admission writes its attempt in a transaction that first locks the
lease row and finds it still this scheduler's, with this epoch, unexpired (``holds``). A deposed
leader's admission therefore fails before it writes; one that committed first is an attempt like
any other, and the new leader reconciles it. A scheduler restarted under the same id takes its own
lease back at once (the epoch still changes, so its former self is fenced off); two running with
one id are told apart by the epoch, and the one that finds its epoch taken stands by and logs it.
On PostgreSQL the lease row is locked NOWAIT, and a session that froze inside a transaction is
ended by the server (services/common/storage/engine.py), so a frozen leader's lock does not hold
a standby off for longer than that."""
from __future__ import annotations

import logging

from omp_services.common.clock import iso
from omp_services.common.errors import DatabaseBusy
from omp_services.scheduler.context import SchedulerContext
from omp_services.scheduler.entities import Lease

log = logging.getLogger("omp.scheduler")
LEASE = "scheduler"


class Leadership:
    def __init__(self, ctx: SchedulerContext, holder: str):
        self.ctx, self.holder = ctx, holder
        self.epoch = 0                          # the lease's epoch while this scheduler holds it; 0: it does not
        self.leader: Lease | None = None        # the lease as last seen
        self.stopped = False                    # released at a clean stop: never again
        self.twin = False                       # another scheduler runs with this id: take only expired leases

    @property
    def lease_s(self) -> float:
        return self.ctx.cfg.leader_lease_s

    @property
    def leading(self) -> bool:
        return self.epoch != 0 and self.leader is not None and self.leader.expires_at > self.ctx.now()

    @property
    def standing_by(self) -> bool:
        """Another scheduler was seen to lead, and this one does not (before its first renewal
        this scheduler does not know yet)."""
        return self.leader is not None and not self.leading

    @property
    def renew_every(self) -> float:
        """How often the loop must come round: a third of the lease, so two renewals may fail."""
        return self.lease_s / 3

    def renew(self) -> bool:
        """Renew this scheduler's lease, or take it if it expired (or was its own before a restart).
        True while this scheduler leads. A lease row another transaction holds (a frozen
        scheduler's) changes nothing: this scheduler goes on as it was until its lease ends."""
        if self.stopped:
            return False
        now = self.ctx.now()
        try:
            with self.ctx.store.tx() as tx:
                cur = tx.lease(LEASE)
                mine = cur.holder == self.holder
                if mine and cur.epoch == self.epoch:
                    lease = Lease(LEASE, self.holder, cur.epoch, now + self.lease_s)
                elif mine and self.epoch != 0:
                    # another scheduler with this one's id took the lease: two ids alike would take
                    # it from each other at every renewal; this one stands by and says so
                    log.error("another scheduler runs with this scheduler's id: standing by; give each its own "
                              "[scheduler] id", extra={"holder": self.holder, "epoch": cur.epoch})
                    self.epoch, self.leader, self.twin = 0, cur, True
                    return False
                elif (mine and not self.twin) or cur.expires_at <= now:
                    lease = Lease(LEASE, self.holder, cur.epoch + 1, now + self.lease_s)
                    if cur.holder and not mine:     # a change of leader is worth an event (a restart is not)
                        tx.log_event(now, "scheduler.leader", "scheduler", f"scheduler {self.holder} leads (epoch "
                                     f"{lease.epoch}) after {cur.holder} (lease ended {iso(cur.expires_at)})",
                                     detail={"holder": self.holder, "epoch": lease.epoch, "previous": cur.holder})
                else:
                    lost = self.epoch != 0
                    self.epoch, self.leader = 0, cur
                    if lost:
                        log.warning("leadership lost", extra={"leader": cur.holder, "epoch": cur.epoch})
                    return False
                tx.save_lease(lease)
        except DatabaseBusy as exc:
            log.warning("the leader's lease could not be read", extra={"error": str(exc)})
            return self.leading
        took = lease.epoch != self.epoch
        self.epoch, self.leader = lease.epoch, lease
        if took:
            log.info("leading", extra={"holder": self.holder, "epoch": lease.epoch})
            self.ctx.committed()
        return True

    def holds(self, tx, now: float) -> bool:
        """Inside a write: the lease is still this scheduler's, at its epoch, unexpired (the row
        stays locked until the write commits, so no standby takes it meanwhile)."""
        if self.stopped or self.epoch == 0:
            return False
        cur = tx.lease(LEASE)
        return cur.holder == self.holder and cur.epoch == self.epoch and cur.expires_at > now

    def release(self) -> None:
        """At a clean stop: the lease expires now, so a standby need not wait it out; from here on
        this scheduler neither renews nor takes it."""
        self.stopped = True
        if not self.epoch:
            return
        now = self.ctx.now()
        with self.ctx.store.tx() as tx:
            cur = tx.lease(LEASE)
            if cur.holder == self.holder and cur.epoch == self.epoch:
                tx.save_lease(Lease(LEASE, self.holder, self.epoch, now))
        self.epoch = 0

    def describe(self) -> str:
        """Who leads, as last seen ("" when nobody holds an unexpired lease)."""
        lease = self.leader
        return lease.holder if lease is not None and lease.expires_at > self.ctx.now() else ""
