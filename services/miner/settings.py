"""The miner's section of ``omp.toml``: ``[miner]``."""
from __future__ import annotations

from dataclasses import dataclass

from omp_core.binding import require
from omp_services.common.settings import ADDRESS_BOOK, Endpoint

_HOME = ADDRESS_BOOK["miner"]


@dataclass(frozen=True)
class MinerSettings(Endpoint):
    port: int = _HOME.port
    metrics_port: int = _HOME.metrics_port
    threads: int = 0                          # evaluation threads per run; 0 = all cores
    cancel_grace_s: float = 10.0
    rpc_timeout_s: float = 10.0

    def check(self, p):
        super().check(p)
        require(0 <= self.threads <= 1024, f"{p}.threads", "must be in 0..1024", self.threads)
        require(0 < self.cancel_grace_s <= 600, f"{p}.cancel_grace_s", "must be in (0, 600]", self.cancel_grace_s)
        require(0 < self.rpc_timeout_s <= 300, f"{p}.rpc_timeout_s", "must be in (0, 300]", self.rpc_timeout_s)


SECTIONS = {"miner": MinerSettings}
