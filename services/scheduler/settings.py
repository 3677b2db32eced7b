"""The scheduler's section of ``omp.toml``: ``[scheduler]``."""
from __future__ import annotations

import socket
from dataclasses import dataclass

from omp_core.binding import require
from omp_services.common.settings import ADDRESS_BOOK, Endpoint, check_instance_id

_HOME = ADDRESS_BOOK["scheduler"]


@dataclass(frozen=True)
class SchedulerSettings(Endpoint):
    port: int = _HOME.port
    metrics_port: int = _HOME.metrics_port
    loop_interval_s: float = 30.0
    max_concurrent_campaigns: int = 1
    lease_seconds: float = 120.0
    aging_hours_per_step: float = 24.0        # a queued campaign gains one priority step per this many hours
    max_consecutive_failures: int = 3         # then the campaign is quarantined (disabled)
    rpc_timeout_s: float = 10.0
    # a completed repeat campaign is admitted again no sooner than this: the same config on the
    # same data and seeds gives the same run, so an immediate re-run would only spin
    repeat_cooldown_s: float = 3600.0
    miner_unreachable_minutes: float = 3.0    # StartRun unanswered this long: SEV-1 (through the watchdog)
    # a miner registers every few seconds; one not heard of for this long is not chosen while others are
    miner_seen_within_s: float = 30.0
    # several schedulers on one database: the one holding the leader's lease admits, the others
    # serve and stand by; "": this host's name and the port
    id: str = ""
    leader_lease_s: float = 15.0

    def check(self, p):
        super().check(p)
        require(0.05 <= self.loop_interval_s <= 3600, f"{p}.loop_interval_s", "must be in [0.05, 3600]",
                self.loop_interval_s)
        require(1 <= self.max_concurrent_campaigns <= 64, f"{p}.max_concurrent_campaigns", "must be in 1..64",
                self.max_concurrent_campaigns)
        require(1 <= self.lease_seconds <= 86400, f"{p}.lease_seconds", "must be in [1, 86400]", self.lease_seconds)
        require(self.aging_hours_per_step > 0, f"{p}.aging_hours_per_step", "must be > 0", self.aging_hours_per_step)
        require(self.max_consecutive_failures >= 1, f"{p}.max_consecutive_failures", "must be >= 1",
                self.max_consecutive_failures)
        require(0 < self.rpc_timeout_s <= 300, f"{p}.rpc_timeout_s", "must be in (0, 300]", self.rpc_timeout_s)
        require(self.miner_unreachable_minutes > 0, f"{p}.miner_unreachable_minutes", "must be > 0",
                self.miner_unreachable_minutes)
        # miners register every 2 s: a window shorter than a few of those would make them flicker
        require(5 <= self.miner_seen_within_s <= 3600, f"{p}.miner_seen_within_s", "must be in [5, 3600]",
                self.miner_seen_within_s)
        check_instance_id(f"{p}.id", self.id)
        require(1 <= self.leader_lease_s <= 600, f"{p}.leader_lease_s", "must be in [1, 600]", self.leader_lease_s)
        require(0 <= self.repeat_cooldown_s <= 30 * 86400, f"{p}.repeat_cooldown_s", "must be in [0, 2592000]",
                self.repeat_cooldown_s)


def scheduler_id(cfg: SchedulerSettings) -> str:
    """The scheduler's id: as set, else this host's name and the configured port."""
    return cfg.id or f"{socket.gethostname()}:{cfg.port}"


SECTIONS = {"scheduler": SchedulerSettings}
