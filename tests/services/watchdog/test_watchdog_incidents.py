"""Incidents on both databases: one per ongoing condition, resolved only with a postmortem,
rendered as the playbook's Incident Report."""
from __future__ import annotations

import pytest

from omp_services.common.clock import FakeClock
from omp_services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from omp_services.watchdog.entities import Report, Severity
from omp_services.watchdog.incidents import IncidentBook, parse_id
from omp_services.watchdog.repository import WatchdogStore


@pytest.fixture
def book(db):
    clock = FakeClock()
    return IncidentBook(WatchdogStore(db), clock), clock


def test_the_same_condition_updates_its_open_incident_and_a_new_one_opens_after_resolution(book):
    book, clock = book
    a, new = book.open(Report(Severity.SEV2, "disk_pressure", "disk below 2 GB on /data", key="/data",
                              symptoms=("/data: 1.9 GB free",)))
    assert new and a.label == "INC-1" and a.open and a.occurrences == 1
    clock.advance(10)
    b, new = book.open(Report(Severity.SEV0, "disk_pressure", "worse", key="/data", symptoms=("/data: 0.8 GB free",),
                              runs=("run_1",)))
    assert not new and b.id == a.id and b.occurrences == 2 and b.severity is Severity.SEV0
    assert b.symptoms == ("/data: 1.9 GB free", "/data: 0.8 GB free") and b.runs == ("run_1",)
    assert [t.event.split(" ")[0] for t in b.timeline] == ["opened", "seen"] and "raised to SEV-0" in b.timeline[1].event
    other, new = book.open(Report(Severity.SEV2, "disk_pressure", "disk below 2 GB on /runs", key="/runs"))
    assert new and other.id != a.id
    with pytest.raises(InvalidArgument, match="root_cause is required"):
        book.resolve(a.id, "op", "", "freed space")
    with pytest.raises(InvalidArgument, match="resolution is required"):
        book.resolve(a.id, "op", "old runs piled up", " ")
    assert book.get(a.id).open                               # a refusal changes nothing
    clock.advance(50)
    done = book.resolve(a.id, "op", "old runs piled up", "cleanup freed 40 GB", ("retention on a timer",))
    assert not done.open and done.resolved_at == done.detected_at + 60 and done.duration(10**10) == 60
    with pytest.raises(FailedPrecondition, match="already resolved"):
        book.resolve(a.id, "op", "x", "y")
    again, new = book.open(Report(Severity.SEV2, "disk_pressure", "again", key="/data"))
    assert new and again.id not in (a.id, other.id)


def test_the_report_is_the_playbooks_with_the_actual_values(book):
    book, clock = book
    inc, _ = book.open(Report(Severity.SEV1, "stuck_run", "run run_x made no progress", key="run_x",
                              symptoms=("generation 10 for 600 s",), campaigns=("camp_a",), runs=("run_x",),
                              handoffs=("devops-infra",)))
    book.note(inc.id, "watchdog", "run run_x killed")
    clock.advance(300)
    book.resolve(inc.id, "alice", "a deadlock in the data loader", "fixed the loader", ("a test for it",))
    md = book.render(inc.id)
    for expected in ("## OMP Incident Report", "**Incident ID:** INC-1", "**Severity:** SEV-1",
                     "**Resolved:** 2026-01-01 00:05", "- generation 10 for 600 s", "- Campaign(s): camp_a",
                     "- Run(s): run_x", "- Duration: 5 minutes", "a deadlock in the data loader",
                     "| watchdog: run run_x killed |", "- [ ] a test for it", "- devops-infra"):
        assert expected in md, expected


@pytest.mark.parametrize("report, field", [
    (Report(Severity.SEV2, "Disk Pressure", "x"), "kind"),
    (Report(Severity.SEV2, "disk", ""), "summary"),
    (Report(Severity.SEV2, "disk", "x" * 2001), "summary"),
    (Report(Severity.SEV2, "disk", "x", key="k" * 257), "key"),
    (Report(Severity.SEV2, "disk", "x", symptoms=("s",) * 51), "symptoms"),
])
def test_bad_reports_name_the_field_and_open_nothing(book, report, field):
    book, _ = book
    with pytest.raises(InvalidArgument, match=field):
        book.open(report)
    assert book.list(False, 0, 10) == []


def test_ids_are_inc_numbers():
    assert parse_id("INC-42") == 42
    for bad in ("42", "INC-", "INC-x", "inc-1", "INC-" + "9" * 30):
        with pytest.raises(InvalidArgument, match="INC-<number>"):
            parse_id(bad)


def test_an_unknown_incident_is_not_found(book):
    book, _ = book
    with pytest.raises(NotFound, match="INC-7"):
        book.get(7)


def test_a_page_of_the_largest_incidents_fits_a_message(book):
    """Every list an incident carries at its bound: the largest page is still under 4 MiB."""
    from omp_services.common.clients import MAX_MESSAGE_BYTES
    from omp_services.watchdog.servicer import MAX_PAGE, WatchdogServicer
    from omp.v1 import watchdog_pb2 as wpb
    book, clock = book
    big = tuple("s" * 2000 for _ in range(50))
    ids = tuple("r" * 64 for _ in range(50))
    for k in range(MAX_PAGE + 2):
        book.open(Report(Severity.SEV2, "disk_pressure", "x" * 2000, key=f"/fs{k}" + "k" * 200, symptoms=big,
                         campaigns=ids, runs=ids, handoffs=ids))
    servicer = WatchdogServicer(book, book.store, clock, None, None)
    page = servicer.ListIncidents(wpb.ListIncidentsRequest(page_size=1000), None)
    assert len(page.incidents) == MAX_PAGE and page.next_page_token
    assert page.ByteSize() < MAX_MESSAGE_BYTES * 0.9
