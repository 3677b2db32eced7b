"""The watchdog's storage: incidents with their timeline, resource samples. Rows leave as the
domain's types (``entities.py``)."""
from __future__ import annotations

import functools

from sqlalchemy import bindparam, delete, func, insert, select, update

from omp_services.common.storage.db import Statement, Store, Tx
from omp_services.watchdog.entities import INCIDENT_FIELDS, Incident, Severity, TimelineEntry
from omp_services.watchdog.tables import IncidentEventRow, IncidentRow, ResourceSampleRow, WatchdogStateRow

INCIDENTS = IncidentRow.__table__
EVENTS = IncidentEventRow.__table__
SAMPLES = ResourceSampleRow.__table__
STATE = WatchdogStateRow.__table__
_COLS = [INCIDENTS.c[f] for f in INCIDENT_FIELDS]
_LISTS = {"symptoms", "campaigns", "runs", "prevention", "handoffs"}
_KEY = bindparam("key")

_INSERT = Statement(insert(INCIDENTS).values({f: bindparam(f) for f in INCIDENT_FIELDS if f != "id"})
                    .returning(INCIDENTS.c.id))
_GET = Statement(select(*_COLS).where(INCIDENTS.c.id == _KEY))
_OPEN_OF = Statement(select(*_COLS).where(INCIDENTS.c.kind == bindparam("kind"), INCIDENTS.c.key == _KEY,
                                          INCIDENTS.c.open.is_(True)))
_TIMELINE = Statement(select(EVENTS.c.at, EVENTS.c.actor, EVENTS.c.event).where(EVENTS.c.incident_id == _KEY)
                      .order_by(EVENTS.c.id))
_APPEND = Statement(insert(EVENTS).values(incident_id=bindparam("incident_id"), at=bindparam("at"),
                                          actor=bindparam("actor"), event=bindparam("event")))
_INSERT_SAMPLE = Statement(insert(SAMPLES).values(taken_at=bindparam("taken_at"),
                                                  cpu_util_pct=bindparam("cpu_util_pct"),
                                                  mem_available_mb=bindparam("mem_available_mb"),
                                                  disks=bindparam("disks")))
_RECENT_SAMPLES = Statement(select(SAMPLES.c.taken_at, SAMPLES.c.cpu_util_pct, SAMPLES.c.mem_available_mb,
                                   SAMPLES.c.disks).order_by(SAMPLES.c.id.desc()).limit(bindparam("limit")))
_NTH_NEWEST_SAMPLE = Statement(select(SAMPLES.c.id).order_by(SAMPLES.c.id.desc()).offset(bindparam("keep"))
                               .limit(1))
_DROP_SAMPLES = Statement(delete(SAMPLES).where(SAMPLES.c.id <= _KEY))
_GET_STATE = Statement(select(STATE.c.value).where(STATE.c.name == _KEY))
_DROP_STATE = Statement(delete(STATE).where(STATE.c.name == _KEY))
_PUT_STATE = Statement(insert(STATE).values(name=_KEY, value=bindparam("value"), updated_at=bindparam("at")))


@functools.lru_cache(maxsize=None)
def _update(cols: tuple[str, ...]) -> Statement:
    return Statement(update(INCIDENTS).where(INCIDENTS.c.id == _KEY).values({c: bindparam(c) for c in cols}))


@functools.lru_cache(maxsize=None)
def _listed(open_only: bool) -> Statement:
    q = select(*_COLS)
    if open_only:
        q = q.where(INCIDENTS.c.open.is_(True))
    return Statement(q.order_by(INCIDENTS.c.id.desc()).limit(bindparam("limit")).offset(bindparam("offset")))


_SAMPLES_BETWEEN = Statement(select(SAMPLES.c.taken_at, SAMPLES.c.cpu_util_pct, SAMPLES.c.mem_available_mb,
                                     SAMPLES.c.disks).where(SAMPLES.c.taken_at >= bindparam("start"),
                                                            SAMPLES.c.taken_at < bindparam("end"))
                              .order_by(SAMPLES.c.id))
_DETECTED_BETWEEN = Statement(select(*_COLS).where(INCIDENTS.c.detected_at >= bindparam("start"),
                                                   INCIDENTS.c.detected_at < bindparam("end"))
                              .order_by(INCIDENTS.c.id))
_COUNT_OPEN = Statement(select(INCIDENTS.c.severity, func.count()).where(INCIDENTS.c.open.is_(True))
                        .group_by(INCIDENTS.c.severity))


def _incident(r, timeline=()) -> Incident:
    values = dict(zip(INCIDENT_FIELDS, r))
    values["severity"] = Severity(values["severity"])
    for k in _LISTS:
        values[k] = tuple(values[k] or ())
    return Incident(**values, timeline=tuple(timeline))


class WatchdogTx:
    def __init__(self, tx: Tx):
        self.tx = tx

    # ---- incidents
    def insert(self, inc: Incident) -> int:
        values = {f: getattr(inc, f) for f in INCIDENT_FIELDS if f != "id"}
        values["severity"] = int(inc.severity)
        for k in _LISTS:
            values[k] = list(values[k])
        return self.tx.scalar(_INSERT, **values)

    def update(self, incident_id: int, **values) -> None:
        for k in _LISTS & set(values):
            values[k] = list(values[k])
        if "severity" in values:
            values["severity"] = int(values["severity"])
        self.tx.run(_update(tuple(sorted(values))), key=incident_id, **values)

    def get(self, incident_id: int, with_timeline: bool = True) -> Incident | None:
        row = self.tx.first(_GET, key=incident_id)
        if row is None:
            return None
        timeline = [TimelineEntry(*t) for t in self.tx.all(_TIMELINE, key=incident_id)] if with_timeline else ()
        return _incident(row, timeline)

    def open_of(self, kind: str, key: str) -> Incident | None:
        row = self.tx.first(_OPEN_OF, kind=kind, key=key)
        return _incident(row) if row is not None else None

    def append(self, incident_id: int, at: float, actor: str, event: str) -> None:
        self.tx.run(_APPEND, incident_id=incident_id, at=at, actor=actor, event=event)

    def list(self, open_only: bool, offset: int, limit: int) -> list[Incident]:
        return [_incident(r) for r in self.tx.all(_listed(open_only), offset=offset, limit=limit)]

    def open_counts(self) -> dict[Severity, int]:
        return {Severity(s): n for s, n in self.tx.all(_COUNT_OPEN)}

    # ---- resource samples
    def add_sample(self, taken_at: float, cpu: float, mem_mb: float, disks: dict[str, float], keep: int) -> None:
        """Store a sample and drop all but the newest ``keep``."""
        self.tx.run(_INSERT_SAMPLE, taken_at=taken_at, cpu_util_pct=cpu, mem_available_mb=mem_mb, disks=disks)
        cut = self.tx.scalar(_NTH_NEWEST_SAMPLE, keep=keep)
        if cut is not None:
            self.tx.run(_DROP_SAMPLES, key=cut)

    def samples_between(self, start: float, end: float) -> list[tuple[float, float, float, dict]]:
        return [tuple(r) for r in self.tx.all(_SAMPLES_BETWEEN, start=start, end=end)]

    def incidents_detected_between(self, start: float, end: float) -> list[Incident]:
        return [_incident(r) for r in self.tx.all(_DETECTED_BETWEEN, start=start, end=end)]

    def recent_samples(self, limit: int) -> list[tuple[float, float, float, dict]]:
        """The newest ``limit`` samples, oldest first."""
        return [tuple(r) for r in reversed(self.tx.all(_RECENT_SAMPLES, limit=limit))]


    # ---- the loop's state
    def state(self, name: str) -> dict | None:
        return self.tx.scalar(_GET_STATE, key=name)

    def put_state(self, name: str, value: dict, at: float) -> None:
        self.tx.run(_DROP_STATE, key=name)
        self.tx.run(_PUT_STATE, key=name, value=value, at=at)


class WatchdogStore(Store):
    queries = WatchdogTx
