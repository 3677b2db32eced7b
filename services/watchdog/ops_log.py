"""The playbook's Mining Daily Ops Log, from the real figures of one UTC day: the watchdog's
samples and incidents, the scheduler's activity log. Shown on demand (``omp ops-log``) and written
once a day, for the day that ended, to ``<data_dir>/ops-log/<date>.md``."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import psutil

from omp_core.atomic import write_text
from omp_services.common.errors import InvalidArgument

#: operators' changes of the queue, as the activity log names them
QUEUE_KINDS = ("campaign.added", "campaign.updated", "campaign.removed", "campaign.reorder", "campaign.disable",
               "campaign.enable", "queue.imported")


@dataclass(frozen=True)
class DailyLog:
    date: str
    daemon_state: str
    completed: int
    failed: int
    promotions: str
    cpu_avg_pct: float
    memory_used_avg_pct: float
    disk_free: dict
    incidents: tuple[str, ...]
    queue_changes: tuple[str, ...]
    samples: int

    def markdown(self) -> str:
        lines = ["## Mining Daily Ops Log", "", f"**Date:** {self.date}", "**Operator:** omp-watchdog", "",
                 "### Status Summary", f"- OMP Status: {self.daemon_state}",
                 f"- Campaigns Completed: {self.completed}", f"- Campaigns Failed: {self.failed}",
                 f"- Promotions: {self.promotions}", "", "### Resource Usage",
                 f"- CPU Avg: {self.cpu_avg_pct:.0f}%" if self.samples else "- CPU Avg: no samples",
                 f"- Memory Avg: {self.memory_used_avg_pct:.0f}%" if self.samples else "- Memory Avg: no samples",
                 "- Disk Free: " + (", ".join(f"{p} {gb:.1f} GB" for p, gb in sorted(self.disk_free.items()))
                                   or "no samples"), "", "### Incidents",
                 *([f"- {i}" for i in self.incidents] or ["- None"]), "", "### Queue Changes",
                 *([f"- {q}" for q in self.queue_changes] or ["- None"]), "", "### Notes",
                 f"{self.samples} resource samples that day."]
        return "\n".join(lines) + "\n"


def day_bounds(date: str) -> tuple[float, float]:
    try:
        d = dt.date.fromisoformat(date)
    except ValueError:
        raise InvalidArgument(f"date must be YYYY-MM-DD, got {date[:40]!r}") from None
    start = dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp()
    return start, start + 86400.0


def today(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.timezone.utc).date().isoformat()


def _promotions(judged: dict[str, int]) -> str:
    """"2 of 5 runs judged promoted (3 rejected)": the day's promotion decisions by outcome."""
    others = ", ".join(f"{n} {o}" for o, n in sorted(judged.items()) if o != "promoted")
    return f"{judged.get('promoted', 0)} of {sum(judged.values())} runs judged promoted" + (f" ({others})" if others
                                                                                            else "")


class OpsLog:
    def __init__(self, store, scheduler, clock, folder: Path):
        self.store, self.scheduler, self.clock, self.folder = store, scheduler, clock, Path(folder)
        self.written: str | None = None          # the last day written

    def build(self, date: str = "") -> DailyLog:
        date = date or today(self.clock.now())
        start, end = day_bounds(date)
        with self.store.read() as tx:
            samples = tx.samples_between(start, end)
            incidents = tx.incidents_detected_between(start, end)
        total_mb = psutil.virtual_memory().total / 2**20
        completed = failed = 0
        judged: dict[str, int] = {}
        changes = []
        seq = 0
        while True:                                 # the activity log, a page at a time
            events = self.scheduler.events_after(seq)
            if not events:
                break
            for e in events:
                seq = e.seq
                if not start <= e.at < end:
                    continue
                completed += e.kind == "run.completed"
                failed += e.kind == "run.failed"
                if e.kind == "promotion.judged" and e.outcome:
                    judged[e.outcome] = judged.get(e.outcome, 0) + 1
                if e.kind in QUEUE_KINDS:
                    changes.append(f"{dt.datetime.fromtimestamp(e.at, dt.timezone.utc):%H:%M} {e.message}")
            if events[-1].at >= end:
                break
        return DailyLog(
            date, self.scheduler.daemon_state(), completed, failed, _promotions(judged),
            sum(s[1] for s in samples) / len(samples) if samples else 0.0,
            100.0 * sum(1 - s[2] / total_mb for s in samples) / len(samples) if samples else 0.0,
            dict(samples[-1][3]) if samples else {},
            tuple(f"{i.label} {i.severity.label} {i.kind}: {i.summary}" + ("" if i.open else " (resolved)")
                  for i in incidents),
            tuple(changes[-200:]), len(samples))

    def write_due(self) -> Path | None:
        """Once a day: the log of the day that ended, written atomically; None when not due."""
        yesterday = today(self.clock.now() - 86400.0)
        if self.written == yesterday:
            return None
        path = self.folder / f"{yesterday}.md"
        if not path.exists():
            write_text(path, self.build(yesterday).markdown())
        self.written = yesterday
        return path
