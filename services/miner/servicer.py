"""MinerService over gRPC: proto to domain, call, domain to proto."""
from __future__ import annotations

from omp.v1 import common_pb2 as pb, miner_pb2 as mpb, miner_pb2_grpc
from omp_services.common.convert import (REASON_CHARS, actor, bounded, enum_from_pb, enum_pb, next_token, page,
                                         progress_pb, struct_pb, ts)
from omp_services.common.errors import InvalidArgument
from omp_services.common.vocabulary import RunStatus
from omp_services.miner.runs import RunManager


def run_pb(r) -> pb.Run:
    return pb.Run(run_id=r.run_id, campaign_id=r.campaign_id, attempt=r.attempt,
                  status=enum_pb(pb.RunStatus, r.status), config_path=r.config_path, config_hash=r.config_hash,
                  progress=progress_pb(r.progress), started_at=ts(r.started_at), ended_at=ts(r.ended_at),
                  error=r.error, run_dir=r.run_dir, pid=r.pid, miner_id=r.miner_id)


class MinerServicer(miner_pb2_grpc.MinerServiceServicer):
    def __init__(self, runs: RunManager, stopping):
        self.runs, self.stopping = runs, stopping

    def ValidateConfig(self, request, context):
        out = self.runs.validate(request.config_path, request.check_data)
        return mpb.ValidateConfigResponse(**out)

    def StartRun(self, request, context):
        run = self.runs.start(request.campaign_id, request.attempt, request.config_path, request.config_hash,
                              context.time_remaining)
        return mpb.StartRunResponse(run=run_pb(run))

    def GetRun(self, request, context):
        if not request.run_id and not request.campaign_id:
            raise InvalidArgument("give run_id, or campaign_id and attempt")
        return mpb.GetRunResponse(run=run_pb(self.runs.get(request.run_id, request.campaign_id, request.attempt)))

    def ListRuns(self, request, context):
        offset, limit = page(request)
        status = enum_from_pb(pb.RunStatus, request.status, RunStatus, "status") if request.status else ""
        runs, total = self.runs.list(campaign_id=request.campaign_id, status=status, offset=offset, limit=limit,
                                     own=request.this_miner_only)
        return mpb.ListRunsResponse(runs=[run_pb(r) for r in runs], next_page_token=next_token(request, offset, limit, total))

    def CancelRun(self, request, context):
        run = self.runs.cancel(request.run_id, bounded(request.reason, "reason", REASON_CHARS),
                               as_failure=request.as_failure, by=actor(request, context))
        return mpb.CancelRunResponse(run=run_pb(run))

    def WatchRun(self, request, context):
        for run in self.runs.watch(request.run_id, self.stopping, context):
            yield mpb.WatchRunResponse(run=run_pb(run))

    def ExportTopCandidates(self, request, context):
        return mpb.ExportTopCandidatesResponse(candidates=struct_pb(self.runs.export_top(request.run_id, request.top)))
