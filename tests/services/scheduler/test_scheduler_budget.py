"""The scheduler's admission budget over the real resource sampler."""
from __future__ import annotations

import pytest

from omp_services.common.clock import FakeClock
from omp_services.common.resources import ResourceSampler
from omp_services.common.settings import Resources
from omp_services.scheduler.admission import BudgetProbe


def test_a_path_that_cannot_be_read_raises_and_the_budget_fails_closed(tmp_path):
    sampler = ResourceSampler([tmp_path / "gone"], FakeClock())
    with pytest.raises(FileNotFoundError):
        sampler.sample()
    reading = BudgetProbe(sampler, Resources()).read()
    assert not reading.within_budget and "FileNotFoundError" in reading.error


def test_the_budget_names_what_is_over_it(tmp_path):
    reading = BudgetProbe(ResourceSampler([tmp_path], FakeClock()), Resources(min_disk_free_gb=10**9)).read()
    assert not reading.within_budget and any(v.startswith("disk free") and "< 1e+09 GB" in v
                                             for v in reading.violations)
