"""Where admitted runs go. Miners register (at start, then every few seconds) with their id, their
address and their slots; admission sends the next campaign to a miner that registered lately, has a
free slot and is not backing off, the one with the most free slots first. A miner that does not
answer a StartRun backs off on its own (doubling, capped) while the others go on, and after
``miner_unreachable_minutes`` of that one SEV-1 goes to the watchdog. A miner that registers again
is chosen again at once. With no miner registered, the one in the settings (``[miner]`` host and
port) is the only one, under the id "" (so are the attempts of a database from before several
miners)."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from omp_services.common.clock import iso
from omp_services.common.errors import Conflict, InvalidArgument
from omp_services.common.findings import Finding
from omp_services.common.settings import INSTANCE_ID, INSTANCE_ID_RULE, is_host_port
from omp_services.scheduler.context import SchedulerContext
from omp_services.scheduler.entities import Miner
from omp_services.scheduler.ports import MinerGateway

#: the first wait after a miner did not answer a StartRun, and the longest (doubling in between)
MINER_BACKOFF_FIRST_S, MINER_BACKOFF_MAX_S = 1.0, 300.0
_UNBOUNDED = 1 << 30


@dataclass
class _Backoff:
    failures: int = 0              # StartRuns in a row it did not answer
    not_before: float = 0.0        # no StartRun to it before then
    down_since: float = 0.0
    reported: bool = False


@dataclass(frozen=True)
class MinerView:
    """A miner as the status shows it."""
    miner: Miner
    running: int
    fresh: bool
    backoff_until: float | None


@dataclass(frozen=True)
class Choice:
    """The miner the next campaign goes to, or why none (``wait``: seconds until one may be)."""
    miner: Miner | None
    why: str = ""
    full: bool = False             # every miner's slots are taken (not: they back off)
    wait: float | None = None


class Miners:
    def __init__(self, ctx: SchedulerContext, gateway: MinerGateway, default_address: str):
        self.ctx, self.gateway = ctx, gateway
        self.default = Miner("", default_address, 0, 0.0, 0.0)     # port 0: none configured
        self._backoff: dict[str, _Backoff] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ registration
    def _save(self, miner_id: str, address: str, slots: int, now: float):
        with self.ctx.store.tx() as tx:
            old = tx.miner(miner_id, lock=True)     # two registrations at once: each sees the other's
            changed = old is None or (old.address, old.slots) != (address, slots)
            back = old is not None and now - old.seen_at > self.ctx.cfg.miner_seen_within_s
            tx.save_miner(Miner(miner_id, address, slots, now if changed else old.registered_at, now), old is None)
            if changed:
                tx.log_event(now, "miner.registered", "miner",
                             f"miner {miner_id} at {address}, " + (f"{slots} slot(s)" if slots else "no slot limit"),
                             detail={"miner_id": miner_id, "address": address, "slots": slots})
        return old, changed, back

    def register(self, miner_id: str, address: str, slots: int) -> bool:
        """Record where a miner is and its slots (its id defaults to its address). True if that
        may let admission go on (the miner is new, moved, changed its slots, or was not heard of
        lately): the caller wakes it."""
        if not is_host_port(address):
            raise InvalidArgument(f"address must be host:port with a port in 1..65535, got {address!r}")
        if address.rpartition(":")[0].strip("[]") in ("0.0.0.0", "::", ""):
            raise InvalidArgument(f"address {address!r} is where the miner listens, not where it is reached: set "
                                  "[miner] advertise_address")
        miner_id = miner_id or address
        if not INSTANCE_ID.fullmatch(miner_id):
            raise InvalidArgument(f"miner_id {INSTANCE_ID_RULE}, got {miner_id!r}")
        if not 0 <= slots <= 1024:
            raise InvalidArgument(f"slots must be in 0..1024, got {slots}")
        now = self.ctx.now()
        try:
            old, changed, back = self._save(miner_id, address, slots, now)
        except Conflict:        # its first registration, twice at once (a retry beside the first try): once more
            old, changed, back = self._save(miner_id, address, slots, now)
        if changed:
            self.ctx.committed()
        if old is not None and old.address != address:
            self.gateway.forget(old.address)
        # a miner that keeps registering but does not answer StartRun stays backed off (and its
        # outage goes on counting towards the SEV-1); one that moved or was away starts afresh
        if changed or back:
            with self._lock:
                self._backoff.pop(miner_id, None)
        return changed or back

    # ------------------------------------------------------------------ choosing
    def address_of(self, tx, miner_id: str) -> str:
        """Where the miner of an attempt is: as it last registered; the configured one for ""."""
        m = tx.miner(miner_id) if miner_id else None
        return m.address if m is not None else (miner_id or self.default.address)

    def _pool(self, tx, now: float) -> tuple[list[Miner], dict[str, int]]:
        """The miners admission may choose from: those that registered lately; if none did, every
        one it knows (StartRun finds out), or the configured one when none ever registered."""
        known = tx.miners()
        fresh = [m for m in known if now - m.seen_at <= self.ctx.cfg.miner_seen_within_s]
        return fresh or known or [self.default], tx.running_per_miner()

    def _not_before(self, miner_id: str) -> float:
        with self._lock:
            b = self._backoff.get(miner_id)
            return b.not_before if b else 0.0

    def choose(self, tx, now: float) -> Choice:
        pool, running = self._pool(tx, now)
        free = [m for m in pool if not m.slots or running.get(m.miner_id, 0) < m.slots]
        if not free:
            taken = ", ".join(f"{m.miner_id} {running.get(m.miner_id, 0)}/{m.slots}" for m in pool)
            return Choice(None, f"every miner's slots are taken ({taken})", full=True)
        ready = [m for m in free if self._not_before(m.miner_id) <= now]
        if not ready:
            until = min(self._not_before(m.miner_id) for m in free)
            names = ", ".join(m.miner_id or m.address for m in free)
            return Choice(None, f"waiting for the miner(s) {names} until {iso(until)} (StartRun unanswered)",
                          wait=until - now)

        def spare(m: Miner) -> int:
            return m.slots - running.get(m.miner_id, 0) if m.slots else _UNBOUNDED
        return Choice(min(ready, key=lambda m: (-spare(m), running.get(m.miner_id, 0), m.miner_id)))

    def wait_after(self, now: float) -> float:
        """Seconds until some miner of the pool may be sent a StartRun (0: one may now)."""
        with self.ctx.store.read() as tx:
            pool, _ = self._pool(tx, now)
        return max(0.0, min(self._not_before(m.miner_id) for m in pool) - now)

    # ------------------------------------------------------------------ answers
    def answered(self, miner: Miner) -> None:
        with self._lock:
            self._backoff.pop(miner.miner_id, None)

    def others(self, miner: Miner, now: float) -> bool:
        """Admission has another miner to choose from (now or once it has a slot)."""
        with self.ctx.store.read() as tx:
            pool, _ = self._pool(tx, now)
        return any(m.miner_id != miner.miner_id for m in pool)

    def unanswered(self, miner: Miner, exc: Exception, refused: bool = False) -> float:
        """The miner did not answer a StartRun (or, ``refused``, refused one that others may take):
        it backs off; the wait before it is asked again."""
        now = self.ctx.now()
        with self._lock:
            b = self._backoff.setdefault(miner.miner_id, _Backoff(down_since=now))
            b.failures += 1
            wait = min(MINER_BACKOFF_FIRST_S * 2 ** (b.failures - 1), MINER_BACKOFF_MAX_S)
            b.not_before = now + wait
            lasted, report = now - b.down_since, False
            if not refused and not b.reported and lasted >= self.ctx.cfg.miner_unreachable_minutes * 60:
                b.reported = report = True
            failures = b.failures
        if report:      # one SEV-1 per outage of this miner, through the watchdog
            name = miner.miner_id or miner.address
            self.ctx.report(Finding(1, "miner_unreachable", f"the miner {name} at {miner.address} has not answered "
                                    f"StartRun for {lasted / 60:.1f} minutes ({failures} tries, backing off up "
                                    f"to {MINER_BACKOFF_MAX_S:g} s)", key=name,
                                    symptoms=(str(exc)[:500],), handoffs=("devops-infra",)))
        return wait

    # ------------------------------------------------------------------ status
    def view(self, tx, now: float) -> list[MinerView]:
        known, running = tx.miners() or [self.default], tx.running_per_miner()
        out = []
        for m in known:
            until = self._not_before(m.miner_id)
            fresh = m is self.default or now - m.seen_at <= self.ctx.cfg.miner_seen_within_s
            out.append(MinerView(m, running.get(m.miner_id, 0), fresh, until if until > now else None))
        return out
