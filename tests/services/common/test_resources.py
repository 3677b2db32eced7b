"""The resource sampler reads the real machine (psutil)."""
from __future__ import annotations

from omp_services.common.clock import FakeClock
from omp_services.common.resources import ResourceSampler


def test_a_sample_reads_cpu_memory_and_the_free_disk_of_each_path(tmp_path):
    clock = FakeClock()
    sampler = ResourceSampler([tmp_path, "/"], clock)
    s = sampler.sample()
    assert s.taken_at == clock.now()
    assert 0.0 <= s.cpu_util_pct <= 100.0 and s.mem_available_mb > 0
    assert set(s.disk_free_gb) == {str(tmp_path), "/"} and all(v > 0 for v in s.disk_free_gb.values())
    assert s.min_disk_free_gb == min(s.disk_free_gb.values())
    clock.advance(10)
    assert sampler.sample().taken_at == s.taken_at + 10
