"""The scheduler's domain, assembled: the daemon (``daemon.py``), the campaign queue
(``campaign_queue.py``), the queue file (``queue_file.py``), attempts and the miner's reports
(``attempts.py``) and the main loop's admission pass (``admission.py``). Nothing here knows gRPC
or SQL: the store and the gateways to the other services are handed in."""
from __future__ import annotations

from dataclasses import dataclass

from omp_services.common.clock import Clock, iso
from omp_services.common.errors import FailedPrecondition, InvalidArgument
from omp_services.common.vocabulary import CampaignState
from omp_services.scheduler.admission import Admission, Reading
from omp_services.scheduler.attempts import Attempts
from omp_services.scheduler.campaign_queue import CampaignQueue
from omp_services.scheduler.context import SchedulerContext
from omp_services.scheduler.daemon import Daemon
from omp_services.scheduler.entities import DaemonStatus, Event, TickOutcome
from omp_services.scheduler.leadership import Leadership
from omp_services.scheduler.miners import Miners, MinerView
from omp_services.scheduler.ports import MinerGateway, NoPromoter, PromoterGateway
from omp_services.scheduler.queue_file import QueueFile
from omp_services.scheduler.settings import SchedulerSettings


@dataclass(frozen=True)
class Status:
    daemon: DaemonStatus
    queued: int                 # waiting to run: enabled (the disabled ones are counted apart)
    running: int
    disabled: int               # queued but disabled: they wait for an operator, not for a slot
    reading: Reading | None
    last_tick_at: float | None
    last_tick: TickOutcome | None
    throttled_until: float | None = None
    throttle_factor: float = 1.0
    tick_interval_s: float = 0.0      # the loop's interval now (a throttle stretches it)
    miners: tuple[MinerView, ...] = ()
    leader: str = ""                  # the scheduler that holds the lease ("": none as last seen)
    leading: bool = False             # this one


class Scheduler:
    def __init__(self, store, cfg: SchedulerSettings, configs_root, clock: Clock, probe, miner: MinerGateway,
                 promoter: PromoterGateway | None = None, metrics=None, miner_address: str = "127.0.0.1:50052",
                 scheduler_id: str = "scheduler"):
        """``miner_address``: where the miner is while none has registered (``[miner]`` host:port);
        ``scheduler_id``: this scheduler's name among several on one database (the lease's holder)."""
        self.ctx = SchedulerContext(store, cfg, configs_root, clock, metrics)
        self.daemon = Daemon(self.ctx)
        self.queue = CampaignQueue(self.ctx)
        self.queue_file = QueueFile(self.ctx, self.queue)
        self.miners = Miners(self.ctx, miner, miner_address)
        self.leadership = Leadership(self.ctx, scheduler_id)
        self.attempts = Attempts(self.ctx, self.queue, miner, self.miners, promoter or NoPromoter())
        self.admission = Admission(self.ctx, self.daemon, self.queue, self.attempts, self.miners,
                                   self.leadership, probe)

    @property
    def cfg(self) -> SchedulerSettings:
        return self.ctx.cfg

    @property
    def notifier(self):
        return self.ctx.notifier

    @property
    def wake(self):
        return self.ctx.wake

    def tick(self) -> TickOutcome:
        return self.admission.tick()

    def throttle(self, factor: float, seconds: float, actor: str, reason: str = "") -> None:
        """Admit at most once per ``factor`` loop intervals for ``seconds`` (it ends by itself),
        recorded in the activity log."""
        if not 1.0 <= factor <= 100.0:
            raise InvalidArgument(f"factor must be in [1, 100], got {factor}")
        if not 0.0 < seconds <= 86400.0:
            raise InvalidArgument(f"seconds must be in (0, 86400], got {seconds}")
        if self.leadership.standing_by:
            # a throttle lives in the leader's memory: one set on a standby would change nothing
            raise FailedPrecondition(f"this scheduler ({self.leadership.holder}) is a standby: throttle the "
                                     f"leader, {self.leadership.describe() or 'another scheduler'}")
        self.admission.throttle(factor, seconds)
        now = self.ctx.now()
        with self.ctx.store.tx() as tx:
            tx.log_event(now, "daemon.throttled", actor, f"admission throttled x{factor:g} until "
                         f"{iso(now + seconds)}" + (f": {reason}" if reason else ""),
                         detail={"factor": factor, "seconds": seconds})
        self.ctx.committed()

    def register_miner(self, address: str, miner_id: str = "", slots: int = 0) -> None:
        """A miner says who and where it is and how many campaigns it takes (at start, then every
        few seconds): one that did not answer before is back, so admission need not wait out its
        backoff."""
        if self.miners.register(miner_id, address, slots):
            self.ctx.wake.set()

    def status(self) -> Status:
        now = self.ctx.now()
        with self.ctx.store.read() as tx:
            d = self.daemon.read(tx, now)
            queued, running = tx.count(CampaignState.QUEUED), tx.count(CampaignState.RUNNING)
            disabled = tx.count_disabled()
            miners = tuple(self.miners.view(tx, now))
        a = self.admission
        throttled = now < a.throttled_until
        return Status(d, queued - disabled, running, disabled, a.last_reading, a.last_tick_at, a.last_outcome,
                      a.throttled_until if throttled else None, a.throttle_factor if throttled else 1.0,
                      self.ctx.cfg.loop_interval_s * (a.throttle_factor if throttled else 1.0), miners,
                      self.leadership.describe(), self.leadership.leading)

    def events_after(self, seq: int, limit: int = 500) -> list[Event]:
        """The activity log after ``seq``, oldest first."""
        with self.ctx.store.read() as tx:
            return tx.events_after(seq, limit)

    def seq_before_newest(self, n: int) -> int:
        """Where a look at the newest ``n`` events starts."""
        with self.ctx.store.read() as tx:
            return tx.seq_before_newest(n)
