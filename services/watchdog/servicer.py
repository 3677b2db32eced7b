"""WatchdogService over gRPC: proto to domain, call, domain to proto."""
from __future__ import annotations

from omp.v1 import watchdog_pb2 as wpb, watchdog_pb2_grpc
from omp_services.common.convert import REASON_CHARS, actor, bounded, next_token, page, set_ts
from omp_services.common.errors import InvalidArgument
from omp_services.watchdog.entities import Incident, Report, Severity
from omp_services.watchdog.incidents import IncidentBook, parse_id

MAX_PAGE = 30
SEVERITIES = {wpb.SEVERITY_SEV0: Severity.SEV0, wpb.SEVERITY_SEV1: Severity.SEV1, wpb.SEVERITY_SEV2: Severity.SEV2}
SEVERITY_PB = {v: k for k, v in SEVERITIES.items()}


def incident_pb(i: Incident, now: float) -> wpb.Incident:
    out = wpb.Incident(id=i.label, severity=SEVERITY_PB[i.severity], kind=i.kind, key=i.key, open=i.open,
                       summary=i.summary, symptoms=i.symptoms, campaigns=i.campaigns, runs=i.runs,
                       root_cause=i.root_cause, resolution=i.resolution, prevention=i.prevention,
                       handoffs=i.handoffs, opened_by=i.opened_by, occurrences=i.occurrences,
                       duration_seconds=i.duration(now))
    set_ts(out.detected_at, i.detected_at)
    if i.resolved_at is not None:
        set_ts(out.resolved_at, i.resolved_at)
    for t in i.timeline:
        e = out.timeline.add(actor=t.actor, event=t.event)
        set_ts(e.at, t.at)
    return out


def sample_pb(taken_at, cpu, mem, disks, out: wpb.ResourceSample) -> wpb.ResourceSample:
    set_ts(out.taken_at, taken_at)
    out.cpu_util_pct, out.mem_available_mb = cpu, mem
    for path, gb in sorted(disks.items()):
        out.disks.add(path=path, free_gb=gb)
    return out



def action_pb(a, error: str = "") -> wpb.RetentionAction:
    return wpb.RetentionAction(kind=a.kind, path=a.path, campaign_id=a.campaign, bytes=a.bytes, age_days=a.age_days,
                               why=a.why, error=error)


class WatchdogServicer(watchdog_pb2_grpc.WatchdogServiceServicer):
    def __init__(self, book: IncidentBook, store, clock, housekeeping, ops_log):
        self.book, self.store, self.clock, self.housekeeping, self.ops_log = book, store, clock, housekeeping, ops_log

    def OpenIncident(self, request, context):
        severity = SEVERITIES.get(request.severity)
        if severity is None:
            raise InvalidArgument(f"severity must be SEVERITY_SEV0, SEV1 or SEV2, got {request.severity}")
        inc, _ = self.book.open(Report(severity, request.kind, request.summary, key=request.key,
                                       symptoms=tuple(request.symptoms), campaigns=tuple(request.campaigns),
                                       runs=tuple(request.runs), handoffs=tuple(request.handoffs),
                                       actor=actor(request, context)))
        return wpb.OpenIncidentResponse(incident=incident_pb(inc, self.clock.now()))

    def GetIncident(self, request, context):
        return wpb.GetIncidentResponse(incident=incident_pb(self.book.get(parse_id(request.id)), self.clock.now()))

    def ListIncidents(self, request, context):
        # an incident may carry up to about 110 KB of text (50 symptoms of 2,000 characters and
        # its other lists): 30 of them stay well under the 4 MiB a message may hold
        offset, limit = page(request, default=20, maximum=MAX_PAGE)
        items = self.book.list(request.open_only, offset, limit + 1)
        now = self.clock.now()
        return wpb.ListIncidentsResponse(incidents=[incident_pb(i, now) for i in items[:limit]],
                                         next_page_token=next_token(request, offset, limit, offset + len(items)))

    def ResolveIncident(self, request, context):
        inc = self.book.resolve(parse_id(request.id), actor(request, context), bounded(request.root_cause, "root_cause",
                                                                               REASON_CHARS),
                                bounded(request.resolution, "resolution", REASON_CHARS), tuple(request.prevention))
        return wpb.ResolveIncidentResponse(incident=incident_pb(inc, self.clock.now()))

    def RenderIncident(self, request, context):
        return wpb.RenderIncidentResponse(markdown=self.book.render(parse_id(request.id)))

    def GetResources(self, request, context):
        if not 0 <= request.history <= 1000:
            raise InvalidArgument(f"history must be in 0..1000, got {request.history}")
        with self.store.read() as tx:
            samples = tx.recent_samples(request.history + 1)
        out = wpb.GetResourcesResponse()
        if samples:
            sample_pb(*samples[-1], out.latest)
            for s in samples[:-1]:
                sample_pb(*s, out.history.add())
        return out

    def Cleanup(self, request, context):
        plan, outcome = self.housekeeping.cleanup(request.dry_run, actor(request, context))
        failed = {a.path: why for a, why in (outcome.failed if outcome else ())}
        return wpb.CleanupResponse(actions=[action_pb(a, failed.get(a.path, "")) for a in plan],
                                   freed_bytes=outcome.freed_bytes if outcome else 0,
                                   compressed_bytes=outcome.compressed_bytes if outcome else 0,
                                   dry_run=request.dry_run)

    def ListArchives(self, request, context):
        return wpb.ListArchivesResponse(paths=[str(p) for p in self.housekeeping.retention.archives()])

    def RestoreRun(self, request, context):
        return wpb.RestoreRunResponse(path=str(self.housekeeping.restore(request.run_folder, actor(request, context))))

    def GetOpsLog(self, request, context):
        d = self.ops_log.build(bounded(request.date, "date", 10))
        out = wpb.GetOpsLogResponse(date=d.date, daemon_state=d.daemon_state, campaigns_completed=d.completed,
                                    campaigns_failed=d.failed, promotions=d.promotions, cpu_avg_pct=d.cpu_avg_pct,
                                    memory_used_avg_pct=d.memory_used_avg_pct, incidents=d.incidents,
                                    queue_changes=d.queue_changes, samples=d.samples, markdown=d.markdown())
        for path, gb in sorted(d.disk_free.items()):
            out.disk_free.add(path=path, free_gb=gb)
        return out
