"""PromoterService over gRPC: proto to domain, call, domain to proto."""
from __future__ import annotations

from omp.v1 import promoter_pb2 as ppb, promoter_pb2_grpc
from omp_services.common.errors import InvalidArgument
from omp_services.common.convert import REASON_CHARS, actor, bounded, enum_from_pb, enum_pb, next_token, page, set_ts
from omp_services.common.vocabulary import EntryState
from omp_services.promoter.entities import Decision, Entry, Gate
from omp_services.promoter.promoter import Promoter

MAX_PAGE = 500


def _gate_pb(g: Gate, out) -> None:
    out.add(gate=g.gate, passed=g.passed, value=g.value, threshold=g.threshold, detail=g.detail)


def decision_pb(d: Decision) -> ppb.PromotionDecision:
    out = ppb.PromotionDecision(run_id=d.run_id, campaign_id=d.campaign_id,
                                outcome=enum_pb(ppb.PromotionOutcome, d.outcome), stored=d.stored,
                                environment=d.environment)
    set_ts(out.decided_at, d.decided_at)
    for g in d.run_gates:
        _gate_pb(g, out.run_gates)
    for c in d.candidates:
        cd = out.candidates.add(candidate_id=c.candidate_id, genome_hash=c.genome_hash,
                                outcome=enum_pb(ppb.PromotionOutcome, c.outcome), already_in=c.already_in)
        if c.entry_state is not None:
            cd.entry_state = enum_pb(ppb.EntryState, c.entry_state)
        for g in c.gates:
            _gate_pb(g, cd.gates)
    return out


def entry_pb(e: Entry) -> ppb.HofEntry:
    m = e.metrics
    num = lambda k: float(m[k]) if isinstance(m.get(k), (int, float)) else float("nan")  # noqa: E731
    out = ppb.HofEntry(genome_hash=e.genome_hash, state=enum_pb(ppb.EntryState, e.state), candidate_id=e.candidate_id,
                       run_id=e.run_id, campaign_id=e.campaign_id, config_hash=e.config_hash, git_sha=e.git_sha,
                       snapshot_id=e.snapshot_id, seeds=list(e.seeds), environment=e.environment, rule=e.rule,
                       oos_sharpe=num("oos_sharpe"), pbo=num("pbo"), dsr=num("dsr"), max_drawdown=num("max_drawdown"),
                       turnover_per_year=num("turnover_per_year"), artifact_dir=e.artifact_dir,
                       evidence_runs=list(e.evidence_runs))
    set_ts(out.promoted_at, e.promoted_at)
    for h in e.history:
        ch = out.history.add(actor=h.actor, to_state=enum_pb(ppb.EntryState, h.to_state), reason=h.reason)
        if h.from_state is not None:
            ch.from_state = enum_pb(ppb.EntryState, h.from_state)
        set_ts(ch.at, h.at)
    return out



class PromoterServicer(promoter_pb2_grpc.PromoterServiceServicer):
    def __init__(self, promoter: Promoter, mirror=None):
        self.p, self.mirror = promoter, mirror

    def PromoteRun(self, request, context):
        decision = self.p.promote(bounded(request.run_id, "run_id", 128),
                                  bounded(request.campaign_id, "campaign_id", 128), actor(request, context))
        return ppb.PromoteRunResponse(decision=decision_pb(decision))

    def PromoteCheck(self, request, context):
        return ppb.PromoteCheckResponse(decision=decision_pb(self.p.check(bounded(request.run_id, "run_id", 128))))

    def GetDecision(self, request, context):
        return ppb.GetDecisionResponse(decision=decision_pb(self.p.decision(bounded(request.run_id, "run_id", 128))))

    def ListEntries(self, request, context):
        offset, limit = page(request, maximum=MAX_PAGE)
        state = enum_from_pb(ppb.EntryState, request.state, EntryState, "state") if request.state else None
        entries, total = self.p.entries(state, offset, limit)
        return ppb.ListEntriesResponse(entries=[entry_pb(e) for e in entries], total=total,
                                       next_page_token=next_token(request, offset, limit, total))

    def GetEntry(self, request, context):
        return ppb.GetEntryResponse(entry=entry_pb(self.p.entry(bounded(request.genome_hash, "genome_hash", 64))))

    def SetEntryState(self, request, context):
        state = enum_from_pb(ppb.EntryState, request.state, EntryState, "state")
        entry = self.p.set_state(bounded(request.genome_hash, "genome_hash", 64), state, actor(request, context),
                                 bounded(request.reason, "reason", REASON_CHARS))
        return ppb.SetEntryStateResponse(entry=entry_pb(entry))

    def RenderPacket(self, request, context):
        return ppb.RenderPacketResponse(markdown=self.p.packet(bounded(request.genome_hash, "genome_hash", 64)))


    def SyncMirror(self, request, context):
        if self.mirror is None:
            return ppb.SyncMirrorResponse(configured=False)
        pending, lag, last, error = self.mirror.sync_now()
        out = ppb.SyncMirrorResponse(configured=True, pending=pending, lag_seconds=lag, error=error)
        if last is not None:
            set_ts(out.last_sync, last)
        return out

    def CheckIntegrity(self, request, context):
        if request.samples < 0 or request.samples > 1000:
            raise InvalidArgument(f"samples must be in 0..1000, got {request.samples}")
        mirror = None
        if self.mirror is not None:
            pending, lag = self.mirror.lag()
            mirror = (True, pending, lag, self.mirror.last_sync)
        r = self.p.integrity(request.samples or 5, request.seed or None, mirror)
        return ppb.CheckIntegrityResponse(ok=r.ok, items=[ppb.IntegrityItem(section=i.section, name=i.name, ok=i.ok,
                                                                             detail=i.detail) for i in r.items],
                                          markdown=r.markdown(actor(request, context)))

    def ListSeeds(self, request, context):
        return ppb.ListSeedsResponse(seeds=[_seed_pb(r) for r in self.p.seeds(bounded(request.campaign_id,
                                                                                      "campaign_id", 128))])

    def RegisterSeed(self, request, context):
        seed = self.p.register_seed(request.campaign_id, request.seed, actor(request, context),
                                    bounded(request.reason, "reason", REASON_CHARS))
        return ppb.RegisterSeedResponse(seed=_seed_pb(seed))

    def Revalidate(self, request, context):
        verdicts = self.p.revalidate(bounded(request.genome_hash, "genome_hash", 64), actor(request, context))
        return ppb.RevalidateResponse(results=[ppb.RevalidationResult(genome_hash=v.genome_hash, ok=v.ok,
                                                                      detail=v.detail, oos_sharpe=v.oos_sharpe)
                                               for v in verdicts])


def _seed_pb(r) -> ppb.RegisteredSeed:
    campaign_id, seed, at, who, reason = r
    out = ppb.RegisteredSeed(campaign_id=campaign_id, seed=int(seed), actor=who, reason=reason)
    set_ts(out.registered_at, at)
    return out
