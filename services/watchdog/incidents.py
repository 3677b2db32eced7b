"""Incidents: one per ongoing condition, a timeline every action appends to, resolved only with a
root cause and a resolution (playbook rule 12: no fix without a postmortem), and the playbook's
Incident Report."""
from __future__ import annotations

import re

from omp_services.common.clock import Clock, iso
from omp_services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from omp_services.watchdog.entities import Incident, Report, Severity

KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ID_RE = re.compile(r"^INC-(\d{1,18})$")
MAX_TEXT = 2000
MAX_ITEMS = 50


def parse_id(value: str) -> int:
    m = ID_RE.match(value.strip())
    if not m:
        raise InvalidArgument(f"id must look like INC-<number>, got {value[:100]!r}")
    return int(m.group(1))


def _check_texts(field: str, items, maximum: int = MAX_TEXT) -> tuple[str, ...]:
    items = tuple(items)
    if len(items) > MAX_ITEMS:
        raise InvalidArgument(f"{field} must have at most {MAX_ITEMS} entries, got {len(items)}")
    for x in items:
        if len(x) > maximum:
            raise InvalidArgument(f"{field} entries must be at most {maximum} characters, got {len(x)}")
    return items


class IncidentBook:
    def __init__(self, store, clock: Clock, metrics=None):
        self.store, self.clock, self.metrics = store, clock, metrics

    def open(self, r: Report) -> tuple[Incident, bool]:
        """Open an incident for ``r``, or add to the open one of the same condition (kind and
        key): its severity rises to the worst reported, its symptoms, campaigns and runs gather,
        its timeline says so. Returns the incident and whether it is new."""
        if not KIND_RE.match(r.kind):
            raise InvalidArgument(f"kind must be lower_snake_case (1..64), got {r.kind[:100]!r}")
        if not r.summary.strip() or len(r.summary) > MAX_TEXT:
            raise InvalidArgument(f"summary must be 1..{MAX_TEXT} characters, got {len(r.summary)}")
        if len(r.key) > 256:
            raise InvalidArgument(f"key must be at most 256 characters, got {len(r.key)}")
        symptoms = _check_texts("symptoms", r.symptoms)
        campaigns, runs = _check_texts("campaigns", r.campaigns, 64), _check_texts("runs", r.runs, 64)
        handoffs = _check_texts("handoffs", r.handoffs, 64)
        now = self.clock.now()
        with self.store.tx() as tx:
            cur = tx.open_of(r.kind, r.key)
            if cur is None:
                inc = Incident(0, r.severity, r.kind, r.key, True, now, now, None, r.summary, symptoms, campaigns, runs,
                               handoffs=handoffs, opened_by=r.actor)
                new_id = tx.insert(inc)
                tx.append(new_id, now, r.actor, f"opened ({r.severity.label}): {r.summary}")
                created = True
            else:
                new_id = cur.id
                worse = min(cur.severity, r.severity)
                tx.update(cur.id, severity=worse, updated_at=now, occurrences=cur.occurrences + 1,
                          symptoms=_merge(cur.symptoms, symptoms), campaigns=_merge(cur.campaigns, campaigns),
                          runs=_merge(cur.runs, runs), handoffs=_merge(cur.handoffs, handoffs))
                n = cur.occurrences + 1
                # the timeline notes a repeat when it matters (worse) and otherwise at 2, 4, 8, ...
                # occurrences: a condition that lasts a week at one report per 10 s adds 16 lines
                if worse < cur.severity or n & (n - 1) == 0:
                    tx.append(cur.id, now, r.actor, f"seen again ({r.severity.label}, {n} reports): {r.summary}"
                              + (f"; severity raised to {Severity(worse).label}" if worse < cur.severity else ""))
                created = False
            got = tx.get(new_id)
        if created and self.metrics:
            self.metrics.incident_opened(got)
        return got, created

    def note(self, incident_id: int, actor: str, event: str) -> None:
        """Append an action to an incident's timeline."""
        with self.store.tx() as tx:
            tx.append(incident_id, self.clock.now(), actor, event[:MAX_TEXT])
            tx.update(incident_id, updated_at=self.clock.now())

    def get(self, incident_id: int) -> Incident:
        with self.store.read() as tx:
            inc = tx.get(incident_id)
        if inc is None:
            raise NotFound(f"id: no incident INC-{incident_id}")
        return inc

    def list(self, open_only: bool, offset: int, limit: int) -> list[Incident]:
        with self.store.read() as tx:
            return tx.list(open_only, offset, limit)

    def resolve(self, incident_id: int, actor: str, root_cause: str, resolution: str,
                prevention=()) -> Incident:
        if not root_cause.strip():
            raise InvalidArgument("root_cause is required to resolve an incident (no fix without a postmortem)")
        if not resolution.strip():
            raise InvalidArgument("resolution is required to resolve an incident")
        for field, value in (("root_cause", root_cause), ("resolution", resolution)):
            if len(value) > MAX_TEXT:
                raise InvalidArgument(f"{field} must be at most {MAX_TEXT} characters, got {len(value)}")
        prevention = _check_texts("prevention", prevention)
        now = self.clock.now()
        with self.store.tx() as tx:
            inc = tx.get(incident_id, with_timeline=False)
            if inc is None:
                raise NotFound(f"id: no incident INC-{incident_id}")
            if not inc.open:
                raise FailedPrecondition(f"INC-{incident_id} is already resolved")
            tx.update(incident_id, open=False, resolved_at=now, updated_at=now, root_cause=root_cause,
                      resolution=resolution, prevention=prevention)
            tx.append(incident_id, now, actor, f"resolved: {resolution}")
            got = tx.get(incident_id)
        if self.metrics:
            self.metrics.incident_resolved(got)
        return got

    def render(self, incident_id: int) -> str:
        """The playbook's Incident Report, filled in."""
        i = self.get(incident_id)
        now = self.clock.now()
        lines = ["## OMP Incident Report", "",
                 f"**Incident ID:** {i.label}", f"**Severity:** {i.severity.label}",
                 f"**Detected:** {_when(i.detected_at)}",
                 f"**Resolved:** {_when(i.resolved_at) if i.resolved_at is not None else 'OPEN'}", "",
                 "### Summary", i.summary, "", "### Symptoms", *([f"- {s}" for s in i.symptoms] or ["- (none recorded)"]),
                 "", "### Affected", f"- Campaign(s): {', '.join(i.campaigns) or 'none'}",
                 f"- Run(s): {', '.join(i.runs) or 'none'}", f"- Duration: {i.duration(now) / 60:.0f} minutes", "",
                 "### Root Cause", i.root_cause or "(open: not yet known)", "", "### Timeline",
                 "| Time | Event |", "|------|-------|",
                 *[f"| {_when(t.at)} | {t.actor}: {t.event} |" for t in i.timeline], "",
                 "### Resolution", i.resolution or "(open)", "", "### Prevention",
                 *([f"- [ ] {p}" for p in i.prevention] or ["- [ ] (to be decided at resolution)"]), "",
                 "### Handoffs", *([f"- {h}" for h in i.handoffs] or ["- none"])]
        return "\n".join(lines) + "\n"


def _merge(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    out = list(old)
    for x in new:
        if x not in out:
            out.append(x)
    return tuple(out[-MAX_ITEMS:])


def _when(t: float) -> str:
    return iso(t)[:16].replace("T", " ")
