"""Reading the machine's resources (psutil): CPU since the previous sample, available memory, free
disk of the filesystems OMP writes to. A sampler only reads; what a reading means is each
service's policy (the scheduler's admission budget; the watchdog, later, samples continuously).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Sample:
    taken_at: float                     # epoch seconds
    cpu_util_pct: float
    mem_available_mb: float
    disk_free_gb: dict[str, float] = field(default_factory=dict)     # path -> free GB
    mem_used_ratio: float = 0.0                                      # 0..1
    disk_used_ratio: dict[str, float] = field(default_factory=dict)  # path -> 0..1

    @property
    def min_disk_free_gb(self) -> float:
        return min(self.disk_free_gb.values()) if self.disk_free_gb else float("inf")


class ResourceSampler:
    """Samples CPU, memory and the free disk of ``disk_paths``. The first CPU reading is primed
    with a short interval; later ones measure the time since the previous sample. Any failure to
    read raises (a caller that must fail closed treats it as "not within budget")."""

    def __init__(self, disk_paths, clock):
        self.disk_paths = tuple(Path(p) for p in disk_paths)
        if not self.disk_paths:     # no path means no disk reading: never "infinitely free"
            raise ValueError("a resource sampler needs at least one filesystem path to watch")
        self.clock = clock
        self._primed = False
        self._lock = threading.Lock()

    def sample(self) -> Sample:
        with self._lock:
            if not self._primed:
                psutil.cpu_percent(interval=0.1)
                self._primed = True
            cpu = psutil.cpu_percent(interval=None)
        vm = psutil.virtual_memory()
        usage = {str(p): psutil.disk_usage(str(p)) for p in self.disk_paths}
        return Sample(self.clock.now(), cpu, vm.available / 2**20, {p: u.free / 2**30 for p, u in usage.items()},
                      vm.percent / 100.0, {p: u.percent / 100.0 for p, u in usage.items()})


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, MB (0 when it is gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20
