import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PromotionOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROMOTION_OUTCOME_UNSPECIFIED: _ClassVar[PromotionOutcome]
    PROMOTION_OUTCOME_PROMOTED: _ClassVar[PromotionOutcome]
    PROMOTION_OUTCOME_REJECTED: _ClassVar[PromotionOutcome]
    PROMOTION_OUTCOME_BLOCKED: _ClassVar[PromotionOutcome]
    PROMOTION_OUTCOME_INCOMPLETE: _ClassVar[PromotionOutcome]

class EntryState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTRY_STATE_UNSPECIFIED: _ClassVar[EntryState]
    ENTRY_STATE_ACTIVE: _ClassVar[EntryState]
    ENTRY_STATE_PENDING_EXECUTION_REVIEW: _ClassVar[EntryState]
    ENTRY_STATE_FLAGGED: _ClassVar[EntryState]
    ENTRY_STATE_RESEARCH: _ClassVar[EntryState]
    ENTRY_STATE_QUARANTINED: _ClassVar[EntryState]
    ENTRY_STATE_REMOVED: _ClassVar[EntryState]
PROMOTION_OUTCOME_UNSPECIFIED: PromotionOutcome
PROMOTION_OUTCOME_PROMOTED: PromotionOutcome
PROMOTION_OUTCOME_REJECTED: PromotionOutcome
PROMOTION_OUTCOME_BLOCKED: PromotionOutcome
PROMOTION_OUTCOME_INCOMPLETE: PromotionOutcome
ENTRY_STATE_UNSPECIFIED: EntryState
ENTRY_STATE_ACTIVE: EntryState
ENTRY_STATE_PENDING_EXECUTION_REVIEW: EntryState
ENTRY_STATE_FLAGGED: EntryState
ENTRY_STATE_RESEARCH: EntryState
ENTRY_STATE_QUARANTINED: EntryState
ENTRY_STATE_REMOVED: EntryState

class RevalidateRequest(_message.Message):
    __slots__ = ("genome_hash", "actor")
    GENOME_HASH_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    genome_hash: str
    actor: str
    def __init__(self, genome_hash: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class RevalidationResult(_message.Message):
    __slots__ = ("genome_hash", "ok", "detail", "oos_sharpe")
    GENOME_HASH_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    OOS_SHARPE_FIELD_NUMBER: _ClassVar[int]
    genome_hash: str
    ok: bool
    detail: str
    oos_sharpe: float
    def __init__(self, genome_hash: _Optional[str] = ..., ok: _Optional[bool] = ..., detail: _Optional[str] = ..., oos_sharpe: _Optional[float] = ...) -> None: ...

class RevalidateResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[RevalidationResult]
    def __init__(self, results: _Optional[_Iterable[_Union[RevalidationResult, _Mapping]]] = ...) -> None: ...

class RegisteredSeed(_message.Message):
    __slots__ = ("campaign_id", "seed", "registered_at", "actor", "reason")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    seed: int
    registered_at: _timestamp_pb2.Timestamp
    actor: str
    reason: str
    def __init__(self, campaign_id: _Optional[str] = ..., seed: _Optional[int] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListSeedsRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class ListSeedsResponse(_message.Message):
    __slots__ = ("seeds",)
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    seeds: _containers.RepeatedCompositeFieldContainer[RegisteredSeed]
    def __init__(self, seeds: _Optional[_Iterable[_Union[RegisteredSeed, _Mapping]]] = ...) -> None: ...

class RegisterSeedRequest(_message.Message):
    __slots__ = ("campaign_id", "seed", "actor", "reason")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    seed: int
    actor: str
    reason: str
    def __init__(self, campaign_id: _Optional[str] = ..., seed: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RegisterSeedResponse(_message.Message):
    __slots__ = ("seed",)
    SEED_FIELD_NUMBER: _ClassVar[int]
    seed: RegisteredSeed
    def __init__(self, seed: _Optional[_Union[RegisteredSeed, _Mapping]] = ...) -> None: ...

class CheckIntegrityRequest(_message.Message):
    __slots__ = ("samples", "seed", "actor")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    samples: int
    seed: int
    actor: str
    def __init__(self, samples: _Optional[int] = ..., seed: _Optional[int] = ..., actor: _Optional[str] = ...) -> None: ...

class IntegrityItem(_message.Message):
    __slots__ = ("section", "name", "ok", "detail")
    SECTION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    section: str
    name: str
    ok: bool
    detail: str
    def __init__(self, section: _Optional[str] = ..., name: _Optional[str] = ..., ok: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class CheckIntegrityResponse(_message.Message):
    __slots__ = ("ok", "items", "markdown")
    OK_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    items: _containers.RepeatedCompositeFieldContainer[IntegrityItem]
    markdown: str
    def __init__(self, ok: _Optional[bool] = ..., items: _Optional[_Iterable[_Union[IntegrityItem, _Mapping]]] = ..., markdown: _Optional[str] = ...) -> None: ...

class SyncMirrorRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SyncMirrorResponse(_message.Message):
    __slots__ = ("configured", "pending", "lag_seconds", "last_sync", "error")
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNC_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    configured: bool
    pending: int
    lag_seconds: float
    last_sync: _timestamp_pb2.Timestamp
    error: str
    def __init__(self, configured: _Optional[bool] = ..., pending: _Optional[int] = ..., lag_seconds: _Optional[float] = ..., last_sync: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class GateResult(_message.Message):
    __slots__ = ("gate", "passed", "value", "threshold", "detail")
    GATE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    gate: str
    passed: bool
    value: float
    threshold: float
    detail: str
    def __init__(self, gate: _Optional[str] = ..., passed: _Optional[bool] = ..., value: _Optional[float] = ..., threshold: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class CandidateDecision(_message.Message):
    __slots__ = ("candidate_id", "genome_hash", "outcome", "gates", "entry_state", "already_in")
    CANDIDATE_ID_FIELD_NUMBER: _ClassVar[int]
    GENOME_HASH_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    ENTRY_STATE_FIELD_NUMBER: _ClassVar[int]
    ALREADY_IN_FIELD_NUMBER: _ClassVar[int]
    candidate_id: str
    genome_hash: str
    outcome: PromotionOutcome
    gates: _containers.RepeatedCompositeFieldContainer[GateResult]
    entry_state: EntryState
    already_in: bool
    def __init__(self, candidate_id: _Optional[str] = ..., genome_hash: _Optional[str] = ..., outcome: _Optional[_Union[PromotionOutcome, str]] = ..., gates: _Optional[_Iterable[_Union[GateResult, _Mapping]]] = ..., entry_state: _Optional[_Union[EntryState, str]] = ..., already_in: _Optional[bool] = ...) -> None: ...

class PromotionDecision(_message.Message):
    __slots__ = ("run_id", "campaign_id", "outcome", "run_gates", "candidates", "decided_at", "stored", "environment")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RUN_GATES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    campaign_id: str
    outcome: PromotionOutcome
    run_gates: _containers.RepeatedCompositeFieldContainer[GateResult]
    candidates: _containers.RepeatedCompositeFieldContainer[CandidateDecision]
    decided_at: _timestamp_pb2.Timestamp
    stored: bool
    environment: str
    def __init__(self, run_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., outcome: _Optional[_Union[PromotionOutcome, str]] = ..., run_gates: _Optional[_Iterable[_Union[GateResult, _Mapping]]] = ..., candidates: _Optional[_Iterable[_Union[CandidateDecision, _Mapping]]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stored: _Optional[bool] = ..., environment: _Optional[str] = ...) -> None: ...

class PromoteRunRequest(_message.Message):
    __slots__ = ("run_id", "campaign_id", "actor")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    campaign_id: str
    actor: str
    def __init__(self, run_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class PromoteRunResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: PromotionDecision
    def __init__(self, decision: _Optional[_Union[PromotionDecision, _Mapping]] = ...) -> None: ...

class PromoteCheckRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class PromoteCheckResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: PromotionDecision
    def __init__(self, decision: _Optional[_Union[PromotionDecision, _Mapping]] = ...) -> None: ...

class GetDecisionRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetDecisionResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: PromotionDecision
    def __init__(self, decision: _Optional[_Union[PromotionDecision, _Mapping]] = ...) -> None: ...

class EntryChange(_message.Message):
    __slots__ = ("at", "actor", "from_state", "to_state", "reason")
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    actor: str
    from_state: EntryState
    to_state: EntryState
    reason: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., from_state: _Optional[_Union[EntryState, str]] = ..., to_state: _Optional[_Union[EntryState, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class HofEntry(_message.Message):
    __slots__ = ("genome_hash", "state", "candidate_id", "run_id", "campaign_id", "config_hash", "git_sha", "snapshot_id", "seeds", "environment", "promoted_at", "rule", "oos_sharpe", "pbo", "dsr", "max_drawdown", "turnover_per_year", "artifact_dir", "evidence_runs", "history")
    GENOME_HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    GIT_SHA_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    PROMOTED_AT_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    OOS_SHARPE_FIELD_NUMBER: _ClassVar[int]
    PBO_FIELD_NUMBER: _ClassVar[int]
    DSR_FIELD_NUMBER: _ClassVar[int]
    MAX_DRAWDOWN_FIELD_NUMBER: _ClassVar[int]
    TURNOVER_PER_YEAR_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_DIR_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_RUNS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    genome_hash: str
    state: EntryState
    candidate_id: str
    run_id: str
    campaign_id: str
    config_hash: str
    git_sha: str
    snapshot_id: str
    seeds: _containers.RepeatedScalarFieldContainer[int]
    environment: str
    promoted_at: _timestamp_pb2.Timestamp
    rule: str
    oos_sharpe: float
    pbo: float
    dsr: float
    max_drawdown: float
    turnover_per_year: float
    artifact_dir: str
    evidence_runs: _containers.RepeatedScalarFieldContainer[str]
    history: _containers.RepeatedCompositeFieldContainer[EntryChange]
    def __init__(self, genome_hash: _Optional[str] = ..., state: _Optional[_Union[EntryState, str]] = ..., candidate_id: _Optional[str] = ..., run_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., config_hash: _Optional[str] = ..., git_sha: _Optional[str] = ..., snapshot_id: _Optional[str] = ..., seeds: _Optional[_Iterable[int]] = ..., environment: _Optional[str] = ..., promoted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rule: _Optional[str] = ..., oos_sharpe: _Optional[float] = ..., pbo: _Optional[float] = ..., dsr: _Optional[float] = ..., max_drawdown: _Optional[float] = ..., turnover_per_year: _Optional[float] = ..., artifact_dir: _Optional[str] = ..., evidence_runs: _Optional[_Iterable[str]] = ..., history: _Optional[_Iterable[_Union[EntryChange, _Mapping]]] = ...) -> None: ...

class ListEntriesRequest(_message.Message):
    __slots__ = ("state", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: EntryState
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[EntryState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token", "total")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[HofEntry]
    next_page_token: str
    total: int
    def __init__(self, entries: _Optional[_Iterable[_Union[HofEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class GetEntryRequest(_message.Message):
    __slots__ = ("genome_hash",)
    GENOME_HASH_FIELD_NUMBER: _ClassVar[int]
    genome_hash: str
    def __init__(self, genome_hash: _Optional[str] = ...) -> None: ...

class GetEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: HofEntry
    def __init__(self, entry: _Optional[_Union[HofEntry, _Mapping]] = ...) -> None: ...

class SetEntryStateRequest(_message.Message):
    __slots__ = ("genome_hash", "state", "actor", "reason")
    GENOME_HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    genome_hash: str
    state: EntryState
    actor: str
    reason: str
    def __init__(self, genome_hash: _Optional[str] = ..., state: _Optional[_Union[EntryState, str]] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SetEntryStateResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: HofEntry
    def __init__(self, entry: _Optional[_Union[HofEntry, _Mapping]] = ...) -> None: ...

class RenderPacketRequest(_message.Message):
    __slots__ = ("genome_hash",)
    GENOME_HASH_FIELD_NUMBER: _ClassVar[int]
    genome_hash: str
    def __init__(self, genome_hash: _Optional[str] = ...) -> None: ...

class RenderPacketResponse(_message.Message):
    __slots__ = ("markdown",)
    MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    markdown: str
    def __init__(self, markdown: _Optional[str] = ...) -> None: ...
