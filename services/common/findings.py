"""What a service found wrong, as it tells the watchdog (which owns incidents): the domain makes
these; ``incident_reporter.py`` sends them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    severity: int                 # 0, 1, 2: SEV-0 is the worst
    kind: str
    summary: str
    key: str = ""
    symptoms: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    handoffs: tuple[str, ...] = ()
