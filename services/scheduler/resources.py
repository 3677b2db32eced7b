"""The machine's resource reading, judged against the budget (psutil)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Reading:
    cpu_util_pct: float = 0.0
    mem_available_mb: float = 0.0
    disk_free_gb: float = 0.0
    violations: tuple[str, ...] = ()
    error: str = ""

    @property
    def within_budget(self) -> bool:
        return not self.violations and not self.error

    def describe(self) -> str:
        if self.error:
            return f"no resource reading ({self.error})"
        return (f"cpu {self.cpu_util_pct:.1f}%, memory available {self.mem_available_mb:.0f} MB, "
                f"disk free {self.disk_free_gb:.2f} GB")


@dataclass
class ResourceProbe:
    """Reads CPU (since the previous reading), available memory and free disk of ``disk_path``."""
    disk_path: Path
    max_cpu_util_pct: float
    min_mem_available_mb: float
    min_disk_free_gb: float
    _primed: bool = field(default=False, repr=False)

    def read(self) -> Reading:
        try:
            if not self._primed:
                psutil.cpu_percent(interval=0.1)
                self._primed = True
            cpu = psutil.cpu_percent(interval=None)
            mem = psutil.virtual_memory().available / 2**20
            disk = psutil.disk_usage(str(self.disk_path)).free / 2**30
        except Exception as exc:  # noqa: BLE001 - any failure to read means "not within budget"
            return Reading(error=f"{type(exc).__name__}: {exc}")
        return judge(cpu, mem, disk, self.max_cpu_util_pct, self.min_mem_available_mb, self.min_disk_free_gb)


def judge(cpu, mem, disk, max_cpu, min_mem, min_disk) -> Reading:
    v = []
    if cpu > max_cpu:
        v.append(f"cpu {cpu:.1f}% > {max_cpu:g}%")
    if mem < min_mem:
        v.append(f"memory available {mem:.0f} MB < {min_mem:g} MB")
    if disk < min_disk:
        v.append(f"disk free {disk:.2f} GB < {min_disk:g} GB")
    return Reading(cpu, mem, disk, tuple(v))
