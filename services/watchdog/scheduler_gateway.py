"""The watchdog's view of the scheduler, over the generated stubs (protobuf stays here)."""
from __future__ import annotations

from omp.v1 import common_pb2 as pb, scheduler_pb2 as spb, scheduler_pb2_grpc
from omp_services.common.clients import Client
from omp_services.common.convert import enum_from_pb, struct_dict
from omp_services.common.errors import FailedPrecondition
from omp_services.common.vocabulary import DaemonState
from omp_services.watchdog.ports import SchedulerEvent

ACTOR = "watchdog"


class GrpcSchedulerGateway:
    def __init__(self, target: str, timeout: float, security=None):
        self.client = Client(scheduler_pb2_grpc.SchedulerServiceStub, target, timeout=timeout, security=security)

    def close(self) -> None:
        self.client.close()

    def daemon_state(self) -> str:
        st = self.client.call("GetStatus", spb.GetStatusRequest()).status
        return enum_from_pb(pb.DaemonState, st.state, DaemonState, "state")

    def _transition(self, method: str, request) -> None:
        try:
            self.client.call(method, request)
        except FailedPrecondition:
            pass            # already there (stopped, or paused): the same outcome

    def stop(self, reason: str) -> None:
        self._transition("StopDaemon", spb.StopDaemonRequest(actor=ACTOR, reason=reason[:2000]))

    def pause(self, reason: str) -> None:
        self._transition("PauseDaemon", spb.PauseDaemonRequest(actor=ACTOR, reason=reason[:2000]))

    def resume(self, reason: str) -> None:
        self._transition("ResumeDaemon", spb.ResumeDaemonRequest(actor=ACTOR, reason=reason[:2000]))

    def throttle(self, factor: float, seconds: float, reason: str) -> None:
        self.client.call("ThrottleDaemon", spb.ThrottleDaemonRequest(factor=factor, seconds=seconds, actor=ACTOR,
                                                                     reason=reason[:2000]))

    def data_not_ready(self, reason: str) -> None:
        self.client.call("SetDataReadiness", spb.SetDataReadinessRequest(
            readiness=pb.DATA_READINESS_NOT_READY, actor=ACTOR, reason=reason[:2000]))

    def events_after(self, seq: int) -> list[SchedulerEvent]:
        out = []
        for r in self.client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=seq, follow=False),
                                    timeout=self.client.timeout):
            e = r.event
            d = struct_dict(e.detail)
            out.append(SchedulerEvent(e.seq, e.at.seconds + e.at.nanos / 1e9, e.kind, e.campaign_id, e.message,
                                      str(d.get("error", "")), str(d.get("from", "")), str(d.get("outcome", ""))))
            if len(out) >= 500:     # a page at a time: the caller asks again after the last
                break
        return out

