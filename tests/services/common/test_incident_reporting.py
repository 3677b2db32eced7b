"""A service's own findings reach the watchdog: the reporter keeps them while the watchdog cannot be
reached and delivers them once it can (a real watchdog on loopback); the database watch turns a
database that stays out of reach into one SEV-0 and its recovery."""
from __future__ import annotations

import pytest

from helpers_services import free_port, wait_for, write_settings
from omp.v1 import watchdog_pb2 as wpb, watchdog_pb2_grpc
from omp_services.common import settings as settings_mod
from omp_services.common.clients import Client
from omp_services.common.clock import FakeClock
from omp_services.common.database_watch import DatabaseWatch
from omp_services.common.errors import DatabaseBusy, DatabaseUnavailable
from omp_services.common.findings import Finding
from omp_services.common.incident_reporter import IncidentReporter
from omp_services.watchdog.app import WatchdogApp


def test_findings_wait_for_the_watchdog_and_one_condition_is_sent_once(tmp_path):
    port = free_port()
    reporter = IncidentReporter(f"127.0.0.1:{port}", "scheduler", timeout=2.0)
    app = None
    try:
        reporter.report(Finding(1, "miner_unreachable", "no answer for 3 minutes"))
        reporter.report(Finding(1, "miner_unreachable", "no answer for 4 minutes"))     # the same condition
        reporter.report(Finding(2, "orphaned_runs", "2 runs orphaned", key="restart 1"))
        reporter.report(Finding(2, "Not A Kind", "refused by the watchdog: never retried"))
        assert reporter.pending() == 3 and reporter.sent == 0          # nobody listens yet
        config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", watchdog={"port": port})
        app = WatchdogApp(settings_mod.load(config, sections=WatchdogApp.sections))
        app.start()
        wait_for(lambda: reporter.pending() == 0, timeout=30, what="the findings to be delivered")
        client = Client(watchdog_pb2_grpc.WatchdogServiceStub, f"127.0.0.1:{port}")
        incidents = {i.kind: i for i in client.call("ListIncidents", wpb.ListIncidentsRequest()).incidents}
        client.close()
        assert set(incidents) == {"miner_unreachable", "orphaned_runs"}
        miner = incidents["miner_unreachable"]
        assert miner.occurrences == 1 and miner.summary == "no answer for 4 minutes" and miner.opened_by == "anonymous for scheduler"
        assert miner.severity == wpb.SEVERITY_SEV1 and incidents["orphaned_runs"].severity == wpb.SEVERITY_SEV2
    finally:
        reporter.close()
        if app is not None:
            app.stop(grace=0)


def test_a_database_out_of_reach_past_the_limit_is_one_sev0_and_its_recovery_is_reported():
    clock, found, calls = FakeClock(), [], []
    watch = DatabaseWatch("scheduler", 30.0, clock, found.append, on_down=lambda why: calls.append("down"),
                          on_back=lambda why: calls.append("back"))
    gone = DatabaseUnavailable("the database is unavailable: connection refused")
    assert watch.failed(gone) and not watch.up
    clock.advance(10)
    watch.ok()                                      # a 10 s blip: nothing to report
    assert watch.up and found == [] and calls == []
    assert not watch.failed(DatabaseBusy("the database is busy"))      # busy is not out of reach
    assert watch.up
    for _ in range(5):                              # 40 s down, reported once
        watch.failed(gone)
        clock.advance(10)
    assert [f.severity for f in found] == [0] and found[0].key == "scheduler" and calls == ["down"]
    assert "connection refused" in found[0].symptoms[0]
    watch.ok()
    assert len(found) == 2 and "reachable again after 50 s" in found[1].summary and calls == ["down", "back"]
    watch.ok()
    assert len(found) == 2


@pytest.mark.parametrize("limit", [0, -1, 3601])
def test_the_database_limit_is_checked(tmp_path, limit):
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", database={"unreachable_s": limit})
    with pytest.raises(ValueError, match="database.unreachable_s"):
        settings_mod.load(config, sections=WatchdogApp.sections)
