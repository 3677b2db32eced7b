"""The daemon's state (offline, running, paused) and the data-readiness flag."""
from __future__ import annotations

from omp_services.common.errors import Conflict, FailedPrecondition, InvalidArgument
from omp_services.common.vocabulary import DaemonState
from omp_services.scheduler.context import SchedulerContext
from omp_services.scheduler.entities import DaemonStatus

OFFLINE, RUNNING, PAUSED = DaemonState.OFFLINE, DaemonState.RUNNING, DaemonState.PAUSED
TRANSITIONS = {"start": ({OFFLINE}, RUNNING), "stop": ({RUNNING, PAUSED}, OFFLINE),
               "pause": ({RUNNING}, PAUSED), "resume": ({PAUSED}, RUNNING)}

#: why data is not ready before an operator has said anything
NEVER_CONFIRMED = "never confirmed: mark it ready (omp data-ready yes) once the market data is in place"


def first_start(now: float) -> DaemonStatus:
    """The daemon before anyone changed it: offline, and data readiness uncertain. Mining pauses
    while readiness is uncertain (DESIGN.md: fail closed), so a fresh installation mines nothing
    until an operator starts the daemon and says the data is ready."""
    return DaemonStatus(OFFLINE, False, NEVER_CONFIRMED, now)


def need_reason(reason: str, what: str) -> None:
    if not reason.strip():
        raise InvalidArgument(f"reason is required to {what}")


class Daemon:
    def __init__(self, ctx: SchedulerContext):
        self.ctx = ctx

    @staticmethod
    def read(tx, now: float, lock: bool = False) -> DaemonStatus:
        return tx.daemon(lock=lock) or first_start(now)

    def status(self) -> DaemonStatus:
        with self.ctx.store.read() as tx:
            d = self.read(tx, self.ctx.now())
        self.ctx.daemon_state = d.state
        return d

    def _changing(self, change):
        """``change()``, a transaction that reads the daemon's row locked and writes it back: two
        changes at once (calls on PostgreSQL run side by side) go one after the other, each from
        what the other left. The very first change inserts the row; two of those at once meet on
        its key, and the loser runs again, now behind the winner."""
        try:
            return change()
        except Conflict:
            return change()

    def transition(self, action: str, actor: str, reason: str = "") -> DaemonState:
        allowed, target = TRANSITIONS[action]

        def change():
            now = self.ctx.now()
            with self.ctx.store.tx() as tx:
                d = self.read(tx, now, lock=True)
                if d.state not in allowed:
                    raise FailedPrecondition(f"daemon.state: cannot {action} while {d.state} "
                                             f"(allowed from {sorted(allowed)})")
                tx.save_daemon(DaemonStatus(target, d.data_ready, d.data_reason, now))
                tx.log_event(now, f"daemon.{target}", actor, f"daemon {d.state} -> {target}"
                             + (f": {reason}" if reason else ""), detail={"from": d.state, "to": target})
        self._changing(change)
        self.ctx.daemon_state = target
        self.ctx.committed(wake=target is RUNNING)
        return target

    def set_data_ready(self, ready: bool, actor: str, reason: str) -> None:
        if not ready:
            need_reason(reason, "mark data not ready")

        def change():
            now = self.ctx.now()
            with self.ctx.store.tx() as tx:
                d = self.read(tx, now, lock=True)
                tx.save_daemon(DaemonStatus(d.state, ready, reason, now))
                tx.log_event(now, "data.ready" if ready else "data.not_ready", actor,
                             f"data readiness: {'ready' if ready else 'NOT ready'}" + (f" ({reason})" if reason else ""))
        self._changing(change)
        self.ctx.committed(wake=ready)
