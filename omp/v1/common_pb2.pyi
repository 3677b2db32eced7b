import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DaemonState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DAEMON_STATE_UNSPECIFIED: _ClassVar[DaemonState]
    DAEMON_STATE_OFFLINE: _ClassVar[DaemonState]
    DAEMON_STATE_RUNNING: _ClassVar[DaemonState]
    DAEMON_STATE_PAUSED: _ClassVar[DaemonState]

class CampaignState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMPAIGN_STATE_UNSPECIFIED: _ClassVar[CampaignState]
    CAMPAIGN_STATE_QUEUED: _ClassVar[CampaignState]
    CAMPAIGN_STATE_RUNNING: _ClassVar[CampaignState]
    CAMPAIGN_STATE_COMPLETED: _ClassVar[CampaignState]
    CAMPAIGN_STATE_FAILED: _ClassVar[CampaignState]

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING: _ClassVar[RunStatus]
    RUN_STATUS_COMPLETED: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]
    RUN_STATUS_CANCELLED: _ClassVar[RunStatus]

class DataReadiness(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_READINESS_UNSPECIFIED: _ClassVar[DataReadiness]
    DATA_READINESS_READY: _ClassVar[DataReadiness]
    DATA_READINESS_NOT_READY: _ClassVar[DataReadiness]
DAEMON_STATE_UNSPECIFIED: DaemonState
DAEMON_STATE_OFFLINE: DaemonState
DAEMON_STATE_RUNNING: DaemonState
DAEMON_STATE_PAUSED: DaemonState
CAMPAIGN_STATE_UNSPECIFIED: CampaignState
CAMPAIGN_STATE_QUEUED: CampaignState
CAMPAIGN_STATE_RUNNING: CampaignState
CAMPAIGN_STATE_COMPLETED: CampaignState
CAMPAIGN_STATE_FAILED: CampaignState
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_COMPLETED: RunStatus
RUN_STATUS_FAILED: RunStatus
RUN_STATUS_CANCELLED: RunStatus
DATA_READINESS_UNSPECIFIED: DataReadiness
DATA_READINESS_READY: DataReadiness
DATA_READINESS_NOT_READY: DataReadiness

class Campaign(_message.Message):
    __slots__ = ("id", "name", "config_path", "market", "priority", "enabled", "repeat", "tags", "state", "created_at", "updated_at", "attempt", "consecutive_failures", "last_error", "config_hash", "last_run_id", "not_before")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_PATH_FIELD_NUMBER: _ClassVar[int]
    MARKET_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    config_path: str
    market: str
    priority: int
    enabled: bool
    repeat: bool
    tags: _containers.RepeatedScalarFieldContainer[str]
    state: CampaignState
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    attempt: int
    consecutive_failures: int
    last_error: str
    config_hash: str
    last_run_id: str
    not_before: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., config_path: _Optional[str] = ..., market: _Optional[str] = ..., priority: _Optional[int] = ..., enabled: _Optional[bool] = ..., repeat: _Optional[bool] = ..., tags: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[CampaignState, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempt: _Optional[int] = ..., consecutive_failures: _Optional[int] = ..., last_error: _Optional[str] = ..., config_hash: _Optional[str] = ..., last_run_id: _Optional[str] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RunProgress(_message.Message):
    __slots__ = ("seed", "generation", "generations", "best_sharpe", "evaluations", "evaluations_per_second", "seeds_done", "seeds_total")
    SEED_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    GENERATIONS_FIELD_NUMBER: _ClassVar[int]
    BEST_SHARPE_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    SEEDS_DONE_FIELD_NUMBER: _ClassVar[int]
    SEEDS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    seed: int
    generation: int
    generations: int
    best_sharpe: float
    evaluations: int
    evaluations_per_second: float
    seeds_done: int
    seeds_total: int
    def __init__(self, seed: _Optional[int] = ..., generation: _Optional[int] = ..., generations: _Optional[int] = ..., best_sharpe: _Optional[float] = ..., evaluations: _Optional[int] = ..., evaluations_per_second: _Optional[float] = ..., seeds_done: _Optional[int] = ..., seeds_total: _Optional[int] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("run_id", "campaign_id", "attempt", "status", "config_path", "config_hash", "progress", "started_at", "ended_at", "error", "run_dir", "pid", "miner_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_PATH_FIELD_NUMBER: _ClassVar[int]
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RUN_DIR_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    MINER_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    campaign_id: str
    attempt: int
    status: RunStatus
    config_path: str
    config_hash: str
    progress: RunProgress
    started_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    error: str
    run_dir: str
    pid: int
    miner_id: str
    def __init__(self, run_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., attempt: _Optional[int] = ..., status: _Optional[_Union[RunStatus, str]] = ..., config_path: _Optional[str] = ..., config_hash: _Optional[str] = ..., progress: _Optional[_Union[RunProgress, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ..., run_dir: _Optional[str] = ..., pid: _Optional[int] = ..., miner_id: _Optional[str] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("seq", "at", "kind", "actor", "message", "campaign_id", "detail")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at: _timestamp_pb2.Timestamp
    kind: str
    actor: str
    message: str
    campaign_id: str
    detail: _struct_pb2.Struct
    def __init__(self, seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[str] = ..., actor: _Optional[str] = ..., message: _Optional[str] = ..., campaign_id: _Optional[str] = ..., detail: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ResourceReading(_message.Message):
    __slots__ = ("cpu_util_pct", "mem_available_mb", "disk_free_gb", "within_budget", "violations", "error")
    CPU_UTIL_PCT_FIELD_NUMBER: _ClassVar[int]
    MEM_AVAILABLE_MB_FIELD_NUMBER: _ClassVar[int]
    DISK_FREE_GB_FIELD_NUMBER: _ClassVar[int]
    WITHIN_BUDGET_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    cpu_util_pct: float
    mem_available_mb: float
    disk_free_gb: float
    within_budget: bool
    violations: _containers.RepeatedScalarFieldContainer[str]
    error: str
    def __init__(self, cpu_util_pct: _Optional[float] = ..., mem_available_mb: _Optional[float] = ..., disk_free_gb: _Optional[float] = ..., within_budget: _Optional[bool] = ..., violations: _Optional[_Iterable[str]] = ..., error: _Optional[str] = ...) -> None: ...
