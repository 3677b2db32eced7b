"""The miner's section of ``omp.toml``: ``[miner]``."""
from __future__ import annotations

import socket
from dataclasses import dataclass

from omp_core.binding import require
from omp_services.common.settings import ADDRESS_BOOK, Endpoint, check_host_port, check_instance_id

_HOME = ADDRESS_BOOK["miner"]


@dataclass(frozen=True)
class MinerSettings(Endpoint):
    port: int = _HOME.port
    metrics_port: int = _HOME.metrics_port
    threads: int = 0                          # evaluation threads per run; 0 = all cores
    cancel_grace_s: float = 10.0
    rpc_timeout_s: float = 10.0
    # its name, the same across restarts (its runs are its own among several miners on one
    # database); "": this host's name and the port
    id: str = ""
    slots: int = 0                            # campaigns it runs at once; 0: only the scheduler's cap
    advertise_address: str = ""               # where the scheduler reaches it; "": host:port
    # where its runs score genomes: "local" (threads here) or "ray" (an actor per node of a Ray
    # cluster; docs/scaling.md), at ray_address ("": a local Ray per run)
    backend: str = "local"
    ray_address: str = ""
    # Ray's token authentication: the token's file (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN_PATH for the run)
    ray_auth_token_file: str = ""

    def check(self, p):
        super().check(p)
        check_instance_id(f"{p}.id", self.id)
        require(0 <= self.slots <= 1024, f"{p}.slots", "must be in 0..1024", self.slots)
        check_host_port(f"{p}.advertise_address", self.advertise_address)
        require(self.backend in ("local", "ray"), f"{p}.backend", "must be local or ray", self.backend)
        require(self.ray_address == "" or self.ray_address == "auto" or ":" in self.ray_address,
                f"{p}.ray_address", "must be host:port or auto", self.ray_address)
        require(0 <= self.threads <= 1024, f"{p}.threads", "must be in 0..1024", self.threads)
        require(0 < self.cancel_grace_s <= 600, f"{p}.cancel_grace_s", "must be in (0, 600]", self.cancel_grace_s)
        require(0 < self.rpc_timeout_s <= 300, f"{p}.rpc_timeout_s", "must be in (0, 300]", self.rpc_timeout_s)


def miner_id(cfg: MinerSettings) -> str:
    """The miner's id: as set, else this host's name and the configured port."""
    return cfg.id or f"{socket.gethostname()}:{cfg.port}"


SECTIONS = {"miner": MinerSettings}
