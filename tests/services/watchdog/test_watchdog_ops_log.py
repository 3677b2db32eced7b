"""The daily ops log from real figures: the watchdog's samples and incidents of the day, the
scheduler's runs and queue changes of the day, written once a day for the day that ended."""
from __future__ import annotations

import pytest

from omp_services.common.clock import FakeClock
from omp_services.common.errors import InvalidArgument
from omp_services.watchdog.entities import Report, Severity
from omp_services.watchdog.incidents import IncidentBook
from omp_services.watchdog.ops_log import OpsLog
from omp_services.watchdog.ports import SchedulerEvent
from omp_services.watchdog.repository import WatchdogStore

DAY0 = 1767225600.0          # 2026-01-01 00:00 UTC


class Scheduler:
    def __init__(self, events):
        self.events = events

    def daemon_state(self):
        return "running"

    def events_after(self, seq):
        return [e for e in self.events if e.seq > seq][:2]         # small pages: the paging is used


def test_a_day_is_summed_from_its_own_figures_only(db, tmp_path):
    clock = FakeClock(DAY0 + 3600)
    store = WatchdogStore(db)
    with store.tx() as tx:
        tx.add_sample(DAY0 - 10, 99.0, 10.0, {"/d": 1.0}, 100)          # the day before: not counted
        tx.add_sample(DAY0 + 10, 20.0, 1000.0, {"/d": 50.0}, 100)
        tx.add_sample(DAY0 + 20, 40.0, 1000.0, {"/d": 49.5}, 100)
    IncidentBook(store, clock).open(Report(Severity.SEV2, "disk_pressure", "disk below 2 GB on /d", key="/d"))
    events = [SchedulerEvent(1, DAY0 - 5, "run.completed", "c", "run x completed"),
              SchedulerEvent(2, DAY0 + 5, "run.completed", "c", "run y completed"),
              SchedulerEvent(3, DAY0 + 6, "run.failed", "c", "run z failed", "exit code 1"),
              SchedulerEvent(4, DAY0 + 7, "campaign.added", "c", "campaign 'c' added at priority 1"),
              SchedulerEvent(5, DAY0 + 86400 + 1, "run.failed", "c", "tomorrow's"),
              SchedulerEvent(6, DAY0 + 8, "promotion.judged", "c", "run y judged: rejected", outcome="rejected")]
    ops = OpsLog(store, Scheduler(events), clock, tmp_path / "ops-log")
    d = ops.build("2026-01-01")
    assert (d.completed, d.failed, d.samples, d.cpu_avg_pct, d.disk_free) == (1, 1, 2, 30.0, {"/d": 49.5})
    assert d.incidents == ("INC-1 SEV-2 disk_pressure: disk below 2 GB on /d",)
    assert d.queue_changes == ("00:00 campaign 'c' added at priority 1",)
    assert d.promotions == "0 of 1 runs judged promoted (1 rejected)"
    md = d.markdown()
    for line in ("## Mining Daily Ops Log", "**Date:** 2026-01-01", "- OMP Status: running", "- Campaigns Completed: 1",
                 "- Campaigns Failed: 1", "- CPU Avg: 30%", "- Disk Free: /d 49.5 GB"):
        assert line in md, line
    with pytest.raises(InvalidArgument, match="YYYY-MM-DD"):
        ops.build("01/01/2026")


def test_the_log_of_the_day_that_ended_is_written_once(db, tmp_path):
    clock = FakeClock(DAY0 + 86400 + 60)            # 2026-01-02, just after midnight
    ops = OpsLog(WatchdogStore(db), Scheduler([]), clock, tmp_path / "ops-log")
    path = ops.write_due()
    assert path == tmp_path / "ops-log" / "2026-01-01.md" and "**Date:** 2026-01-01" in path.read_text()
    path.write_text("an operator's note\n")
    assert ops.write_due() is None                  # once a day
    ops.written = None                              # a restarted watchdog: the file is there, it stays
    ops.write_due()
    assert path.read_text() == "an operator's note\n"
