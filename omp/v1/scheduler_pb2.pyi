import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from omp.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: SchedulerStatus
    def __init__(self, status: _Optional[_Union[SchedulerStatus, _Mapping]] = ...) -> None: ...

class SchedulerStatus(_message.Message):
    __slots__ = ("state", "data_readiness", "data_readiness_reason", "resources", "queued", "running", "max_concurrent_campaigns", "environment", "last_tick_at", "last_tick_outcome", "throttled_until", "throttle_factor", "disabled", "tick_interval_seconds", "miners", "leader", "is_leader")
    STATE_FIELD_NUMBER: _ClassVar[int]
    DATA_READINESS_FIELD_NUMBER: _ClassVar[int]
    DATA_READINESS_REASON_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    LAST_TICK_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_TICK_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    THROTTLED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_FACTOR_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    TICK_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MINERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    IS_LEADER_FIELD_NUMBER: _ClassVar[int]
    state: _common_pb2.DaemonState
    data_readiness: _common_pb2.DataReadiness
    data_readiness_reason: str
    resources: _common_pb2.ResourceReading
    queued: int
    running: int
    max_concurrent_campaigns: int
    environment: str
    last_tick_at: _timestamp_pb2.Timestamp
    last_tick_outcome: str
    throttled_until: _timestamp_pb2.Timestamp
    throttle_factor: float
    disabled: int
    tick_interval_seconds: float
    miners: _containers.RepeatedCompositeFieldContainer[MinerStatus]
    leader: str
    is_leader: bool
    def __init__(self, state: _Optional[_Union[_common_pb2.DaemonState, str]] = ..., data_readiness: _Optional[_Union[_common_pb2.DataReadiness, str]] = ..., data_readiness_reason: _Optional[str] = ..., resources: _Optional[_Union[_common_pb2.ResourceReading, _Mapping]] = ..., queued: _Optional[int] = ..., running: _Optional[int] = ..., max_concurrent_campaigns: _Optional[int] = ..., environment: _Optional[str] = ..., last_tick_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_tick_outcome: _Optional[str] = ..., throttled_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., throttle_factor: _Optional[float] = ..., disabled: _Optional[int] = ..., tick_interval_seconds: _Optional[float] = ..., miners: _Optional[_Iterable[_Union[MinerStatus, _Mapping]]] = ..., leader: _Optional[str] = ..., is_leader: _Optional[bool] = ...) -> None: ...

class MinerStatus(_message.Message):
    __slots__ = ("miner_id", "address", "slots", "running", "seen_at", "fresh", "backoff_until")
    MINER_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    FRESH_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_UNTIL_FIELD_NUMBER: _ClassVar[int]
    miner_id: str
    address: str
    slots: int
    running: int
    seen_at: _timestamp_pb2.Timestamp
    fresh: bool
    backoff_until: _timestamp_pb2.Timestamp
    def __init__(self, miner_id: _Optional[str] = ..., address: _Optional[str] = ..., slots: _Optional[int] = ..., running: _Optional[int] = ..., seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fresh: _Optional[bool] = ..., backoff_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StartDaemonRequest(_message.Message):
    __slots__ = ("actor", "reason")
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    actor: str
    reason: str
    def __init__(self, actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class StartDaemonResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: SchedulerStatus
    def __init__(self, status: _Optional[_Union[SchedulerStatus, _Mapping]] = ...) -> None: ...

class StopDaemonRequest(_message.Message):
    __slots__ = ("actor", "reason")
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    actor: str
    reason: str
    def __init__(self, actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class StopDaemonResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: SchedulerStatus
    def __init__(self, status: _Optional[_Union[SchedulerStatus, _Mapping]] = ...) -> None: ...

class PauseDaemonRequest(_message.Message):
    __slots__ = ("actor", "reason")
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    actor: str
    reason: str
    def __init__(self, actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PauseDaemonResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: SchedulerStatus
    def __init__(self, status: _Optional[_Union[SchedulerStatus, _Mapping]] = ...) -> None: ...

class ResumeDaemonRequest(_message.Message):
    __slots__ = ("actor", "reason")
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    actor: str
    reason: str
    def __init__(self, actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ResumeDaemonResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: SchedulerStatus
    def __init__(self, status: _Optional[_Union[SchedulerStatus, _Mapping]] = ...) -> None: ...

class ThrottleDaemonRequest(_message.Message):
    __slots__ = ("factor", "seconds", "actor", "reason")
    FACTOR_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    factor: float
    seconds: float
    actor: str
    reason: str
    def __init__(self, factor: _Optional[float] = ..., seconds: _Optional[float] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ThrottleDaemonResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: SchedulerStatus
    def __init__(self, status: _Optional[_Union[SchedulerStatus, _Mapping]] = ...) -> None: ...

class SetDataReadinessRequest(_message.Message):
    __slots__ = ("readiness", "actor", "reason")
    READINESS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    readiness: _common_pb2.DataReadiness
    actor: str
    reason: str
    def __init__(self, readiness: _Optional[_Union[_common_pb2.DataReadiness, str]] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SetDataReadinessResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: SchedulerStatus
    def __init__(self, status: _Optional[_Union[SchedulerStatus, _Mapping]] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state", "tag", "enabled_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    ENABLED_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: _common_pb2.CampaignState
    tag: str
    enabled_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.CampaignState, str]] = ..., tag: _Optional[str] = ..., enabled_only: _Optional[bool] = ...) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns", "next_page_token", "total_size")
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[_common_pb2.Campaign]
    next_page_token: str
    total_size: int
    def __init__(self, campaigns: _Optional[_Iterable[_Union[_common_pb2.Campaign, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetCampaignRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _common_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_common_pb2.Campaign, _Mapping]] = ...) -> None: ...

class AddCampaignRequest(_message.Message):
    __slots__ = ("campaign", "actor", "reason", "request_id")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    campaign: _common_pb2.Campaign
    actor: str
    reason: str
    request_id: str
    def __init__(self, campaign: _Optional[_Union[_common_pb2.Campaign, _Mapping]] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AddCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _common_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_common_pb2.Campaign, _Mapping]] = ...) -> None: ...

class UpdateCampaignRequest(_message.Message):
    __slots__ = ("campaign", "update_mask", "actor", "reason")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    campaign: _common_pb2.Campaign
    update_mask: _field_mask_pb2.FieldMask
    actor: str
    reason: str
    def __init__(self, campaign: _Optional[_Union[_common_pb2.Campaign, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class UpdateCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _common_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_common_pb2.Campaign, _Mapping]] = ...) -> None: ...

class RemoveCampaignRequest(_message.Message):
    __slots__ = ("id", "actor", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    actor: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RemoveCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _common_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_common_pb2.Campaign, _Mapping]] = ...) -> None: ...

class SetCampaignEnabledRequest(_message.Message):
    __slots__ = ("id", "enabled", "actor", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    enabled: bool
    actor: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., enabled: _Optional[bool] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SetCampaignEnabledResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _common_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_common_pb2.Campaign, _Mapping]] = ...) -> None: ...

class ReorderCampaignRequest(_message.Message):
    __slots__ = ("id", "priority", "actor", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    priority: int
    actor: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., priority: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReorderCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _common_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_common_pb2.Campaign, _Mapping]] = ...) -> None: ...

class RequeueCampaignRequest(_message.Message):
    __slots__ = ("id", "actor", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    actor: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RequeueCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _common_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_common_pb2.Campaign, _Mapping]] = ...) -> None: ...

class ImportQueueRequest(_message.Message):
    __slots__ = ("queue", "actor", "reason", "request_id")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    queue: _struct_pb2.Struct
    actor: str
    reason: str
    request_id: str
    def __init__(self, queue: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ImportQueueResponse(_message.Message):
    __slots__ = ("added", "skipped", "campaigns")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    added: int
    skipped: int
    campaigns: _containers.RepeatedCompositeFieldContainer[_common_pb2.Campaign]
    def __init__(self, added: _Optional[int] = ..., skipped: _Optional[int] = ..., campaigns: _Optional[_Iterable[_Union[_common_pb2.Campaign, _Mapping]]] = ...) -> None: ...

class ExportQueueRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ExportQueueResponse(_message.Message):
    __slots__ = ("queue", "next_page_token", "total_size")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    queue: _struct_pb2.Struct
    next_page_token: str
    total_size: int
    def __init__(self, queue: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class QueueChange(_message.Message):
    __slots__ = ("id", "campaign_id", "action", "actor", "at", "before", "after", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: int
    campaign_id: str
    action: str
    actor: str
    at: _timestamp_pb2.Timestamp
    before: _struct_pb2.Struct
    after: _struct_pb2.Struct
    reason: str
    def __init__(self, id: _Optional[int] = ..., campaign_id: _Optional[str] = ..., action: _Optional[str] = ..., actor: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., before: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., after: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ListQueueChangesRequest(_message.Message):
    __slots__ = ("campaign_id", "page_size", "page_token")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    page_size: int
    page_token: str
    def __init__(self, campaign_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListQueueChangesResponse(_message.Message):
    __slots__ = ("changes", "next_page_token")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[QueueChange]
    next_page_token: str
    def __init__(self, changes: _Optional[_Iterable[_Union[QueueChange, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListAuditRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "principal", "refused_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    REFUSED_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    principal: str
    refused_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., principal: _Optional[str] = ..., refused_only: _Optional[bool] = ...) -> None: ...

class AuditRecord(_message.Message):
    __slots__ = ("id", "at", "service", "principal", "role", "method", "target", "reason", "on_behalf_of", "outcome", "peer")
    ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ON_BEHALF_OF_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    id: int
    at: _timestamp_pb2.Timestamp
    service: str
    principal: str
    role: str
    method: str
    target: str
    reason: str
    on_behalf_of: str
    outcome: str
    peer: str
    def __init__(self, id: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., service: _Optional[str] = ..., principal: _Optional[str] = ..., role: _Optional[str] = ..., method: _Optional[str] = ..., target: _Optional[str] = ..., reason: _Optional[str] = ..., on_behalf_of: _Optional[str] = ..., outcome: _Optional[str] = ..., peer: _Optional[str] = ...) -> None: ...

class ListAuditResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AuditRecord]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[AuditRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RegisterMinerRequest(_message.Message):
    __slots__ = ("address", "miner_id", "slots")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MINER_ID_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    address: str
    miner_id: str
    slots: int
    def __init__(self, address: _Optional[str] = ..., miner_id: _Optional[str] = ..., slots: _Optional[int] = ...) -> None: ...

class RegisterMinerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReportProgressRequest(_message.Message):
    __slots__ = ("campaign_id", "attempt", "run_id", "progress")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    attempt: int
    run_id: str
    progress: _common_pb2.RunProgress
    def __init__(self, campaign_id: _Optional[str] = ..., attempt: _Optional[int] = ..., run_id: _Optional[str] = ..., progress: _Optional[_Union[_common_pb2.RunProgress, _Mapping]] = ...) -> None: ...

class ReportProgressResponse(_message.Message):
    __slots__ = ("lease_expires_at",)
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    lease_expires_at: _timestamp_pb2.Timestamp
    def __init__(self, lease_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReportRunResultRequest(_message.Message):
    __slots__ = ("campaign_id", "attempt", "run_id", "status", "error", "run_dir", "ended_by")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RUN_DIR_FIELD_NUMBER: _ClassVar[int]
    ENDED_BY_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    attempt: int
    run_id: str
    status: _common_pb2.RunStatus
    error: str
    run_dir: str
    ended_by: str
    def __init__(self, campaign_id: _Optional[str] = ..., attempt: _Optional[int] = ..., run_id: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.RunStatus, str]] = ..., error: _Optional[str] = ..., run_dir: _Optional[str] = ..., ended_by: _Optional[str] = ...) -> None: ...

class ReportRunResultResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _common_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_common_pb2.Campaign, _Mapping]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("after_seq", "follow", "last")
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    follow: bool
    last: int
    def __init__(self, after_seq: _Optional[int] = ..., follow: _Optional[bool] = ..., last: _Optional[int] = ...) -> None: ...

class WatchEventsResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.Event
    def __init__(self, event: _Optional[_Union[_common_pb2.Event, _Mapping]] = ...) -> None: ...
