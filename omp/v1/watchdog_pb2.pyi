import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_SEV0: _ClassVar[Severity]
    SEVERITY_SEV1: _ClassVar[Severity]
    SEVERITY_SEV2: _ClassVar[Severity]
SEVERITY_UNSPECIFIED: Severity
SEVERITY_SEV0: Severity
SEVERITY_SEV1: Severity
SEVERITY_SEV2: Severity

class GetOpsLogRequest(_message.Message):
    __slots__ = ("date",)
    DATE_FIELD_NUMBER: _ClassVar[int]
    date: str
    def __init__(self, date: _Optional[str] = ...) -> None: ...

class GetOpsLogResponse(_message.Message):
    __slots__ = ("date", "daemon_state", "campaigns_completed", "campaigns_failed", "promotions", "cpu_avg_pct", "memory_used_avg_pct", "disk_free", "incidents", "queue_changes", "samples", "markdown")
    DATE_FIELD_NUMBER: _ClassVar[int]
    DAEMON_STATE_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_FAILED_FIELD_NUMBER: _ClassVar[int]
    PROMOTIONS_FIELD_NUMBER: _ClassVar[int]
    CPU_AVG_PCT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_AVG_PCT_FIELD_NUMBER: _ClassVar[int]
    DISK_FREE_FIELD_NUMBER: _ClassVar[int]
    INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_CHANGES_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    date: str
    daemon_state: str
    campaigns_completed: int
    campaigns_failed: int
    promotions: str
    cpu_avg_pct: float
    memory_used_avg_pct: float
    disk_free: _containers.RepeatedCompositeFieldContainer[DiskFree]
    incidents: _containers.RepeatedScalarFieldContainer[str]
    queue_changes: _containers.RepeatedScalarFieldContainer[str]
    samples: int
    markdown: str
    def __init__(self, date: _Optional[str] = ..., daemon_state: _Optional[str] = ..., campaigns_completed: _Optional[int] = ..., campaigns_failed: _Optional[int] = ..., promotions: _Optional[str] = ..., cpu_avg_pct: _Optional[float] = ..., memory_used_avg_pct: _Optional[float] = ..., disk_free: _Optional[_Iterable[_Union[DiskFree, _Mapping]]] = ..., incidents: _Optional[_Iterable[str]] = ..., queue_changes: _Optional[_Iterable[str]] = ..., samples: _Optional[int] = ..., markdown: _Optional[str] = ...) -> None: ...

class RetentionAction(_message.Message):
    __slots__ = ("kind", "path", "campaign_id", "bytes", "age_days", "why", "error")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    WHY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    kind: str
    path: str
    campaign_id: str
    bytes: int
    age_days: float
    why: str
    error: str
    def __init__(self, kind: _Optional[str] = ..., path: _Optional[str] = ..., campaign_id: _Optional[str] = ..., bytes: _Optional[int] = ..., age_days: _Optional[float] = ..., why: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class CleanupRequest(_message.Message):
    __slots__ = ("dry_run", "actor")
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    actor: str
    def __init__(self, dry_run: _Optional[bool] = ..., actor: _Optional[str] = ...) -> None: ...

class CleanupResponse(_message.Message):
    __slots__ = ("actions", "freed_bytes", "compressed_bytes", "dry_run")
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    FREED_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_BYTES_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedCompositeFieldContainer[RetentionAction]
    freed_bytes: int
    compressed_bytes: int
    dry_run: bool
    def __init__(self, actions: _Optional[_Iterable[_Union[RetentionAction, _Mapping]]] = ..., freed_bytes: _Optional[int] = ..., compressed_bytes: _Optional[int] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ListArchivesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListArchivesResponse(_message.Message):
    __slots__ = ("paths",)
    PATHS_FIELD_NUMBER: _ClassVar[int]
    paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, paths: _Optional[_Iterable[str]] = ...) -> None: ...

class RestoreRunRequest(_message.Message):
    __slots__ = ("run_folder", "actor")
    RUN_FOLDER_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    run_folder: str
    actor: str
    def __init__(self, run_folder: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class RestoreRunResponse(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class TimelineEntry(_message.Message):
    __slots__ = ("at", "actor", "event")
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    actor: str
    event: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., event: _Optional[str] = ...) -> None: ...

class Incident(_message.Message):
    __slots__ = ("id", "severity", "kind", "key", "open", "detected_at", "resolved_at", "summary", "symptoms", "campaigns", "runs", "timeline", "root_cause", "resolution", "prevention", "handoffs", "opened_by", "occurrences", "duration_seconds")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    DETECTED_AT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SYMPTOMS_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    ROOT_CAUSE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    PREVENTION_FIELD_NUMBER: _ClassVar[int]
    HANDOFFS_FIELD_NUMBER: _ClassVar[int]
    OPENED_BY_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCES_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    severity: Severity
    kind: str
    key: str
    open: bool
    detected_at: _timestamp_pb2.Timestamp
    resolved_at: _timestamp_pb2.Timestamp
    summary: str
    symptoms: _containers.RepeatedScalarFieldContainer[str]
    campaigns: _containers.RepeatedScalarFieldContainer[str]
    runs: _containers.RepeatedScalarFieldContainer[str]
    timeline: _containers.RepeatedCompositeFieldContainer[TimelineEntry]
    root_cause: str
    resolution: str
    prevention: _containers.RepeatedScalarFieldContainer[str]
    handoffs: _containers.RepeatedScalarFieldContainer[str]
    opened_by: str
    occurrences: int
    duration_seconds: float
    def __init__(self, id: _Optional[str] = ..., severity: _Optional[_Union[Severity, str]] = ..., kind: _Optional[str] = ..., key: _Optional[str] = ..., open: _Optional[bool] = ..., detected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., summary: _Optional[str] = ..., symptoms: _Optional[_Iterable[str]] = ..., campaigns: _Optional[_Iterable[str]] = ..., runs: _Optional[_Iterable[str]] = ..., timeline: _Optional[_Iterable[_Union[TimelineEntry, _Mapping]]] = ..., root_cause: _Optional[str] = ..., resolution: _Optional[str] = ..., prevention: _Optional[_Iterable[str]] = ..., handoffs: _Optional[_Iterable[str]] = ..., opened_by: _Optional[str] = ..., occurrences: _Optional[int] = ..., duration_seconds: _Optional[float] = ...) -> None: ...

class OpenIncidentRequest(_message.Message):
    __slots__ = ("severity", "kind", "key", "summary", "symptoms", "campaigns", "runs", "handoffs", "actor")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SYMPTOMS_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    HANDOFFS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    severity: Severity
    kind: str
    key: str
    summary: str
    symptoms: _containers.RepeatedScalarFieldContainer[str]
    campaigns: _containers.RepeatedScalarFieldContainer[str]
    runs: _containers.RepeatedScalarFieldContainer[str]
    handoffs: _containers.RepeatedScalarFieldContainer[str]
    actor: str
    def __init__(self, severity: _Optional[_Union[Severity, str]] = ..., kind: _Optional[str] = ..., key: _Optional[str] = ..., summary: _Optional[str] = ..., symptoms: _Optional[_Iterable[str]] = ..., campaigns: _Optional[_Iterable[str]] = ..., runs: _Optional[_Iterable[str]] = ..., handoffs: _Optional[_Iterable[str]] = ..., actor: _Optional[str] = ...) -> None: ...

class OpenIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class GetIncidentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class ListIncidentsRequest(_message.Message):
    __slots__ = ("open_only", "page_size", "page_token")
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    open_only: bool
    page_size: int
    page_token: str
    def __init__(self, open_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIncidentsResponse(_message.Message):
    __slots__ = ("incidents", "next_page_token")
    INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    incidents: _containers.RepeatedCompositeFieldContainer[Incident]
    next_page_token: str
    def __init__(self, incidents: _Optional[_Iterable[_Union[Incident, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ResolveIncidentRequest(_message.Message):
    __slots__ = ("id", "root_cause", "resolution", "prevention", "actor")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROOT_CAUSE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    PREVENTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    root_cause: str
    resolution: str
    prevention: _containers.RepeatedScalarFieldContainer[str]
    actor: str
    def __init__(self, id: _Optional[str] = ..., root_cause: _Optional[str] = ..., resolution: _Optional[str] = ..., prevention: _Optional[_Iterable[str]] = ..., actor: _Optional[str] = ...) -> None: ...

class ResolveIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class RenderIncidentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RenderIncidentResponse(_message.Message):
    __slots__ = ("markdown",)
    MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    markdown: str
    def __init__(self, markdown: _Optional[str] = ...) -> None: ...

class DiskFree(_message.Message):
    __slots__ = ("path", "free_gb")
    PATH_FIELD_NUMBER: _ClassVar[int]
    FREE_GB_FIELD_NUMBER: _ClassVar[int]
    path: str
    free_gb: float
    def __init__(self, path: _Optional[str] = ..., free_gb: _Optional[float] = ...) -> None: ...

class ResourceSample(_message.Message):
    __slots__ = ("taken_at", "cpu_util_pct", "mem_available_mb", "disks")
    TAKEN_AT_FIELD_NUMBER: _ClassVar[int]
    CPU_UTIL_PCT_FIELD_NUMBER: _ClassVar[int]
    MEM_AVAILABLE_MB_FIELD_NUMBER: _ClassVar[int]
    DISKS_FIELD_NUMBER: _ClassVar[int]
    taken_at: _timestamp_pb2.Timestamp
    cpu_util_pct: float
    mem_available_mb: float
    disks: _containers.RepeatedCompositeFieldContainer[DiskFree]
    def __init__(self, taken_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cpu_util_pct: _Optional[float] = ..., mem_available_mb: _Optional[float] = ..., disks: _Optional[_Iterable[_Union[DiskFree, _Mapping]]] = ...) -> None: ...

class GetResourcesRequest(_message.Message):
    __slots__ = ("history",)
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    history: int
    def __init__(self, history: _Optional[int] = ...) -> None: ...

class GetResourcesResponse(_message.Message):
    __slots__ = ("latest", "history")
    LATEST_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    latest: ResourceSample
    history: _containers.RepeatedCompositeFieldContainer[ResourceSample]
    def __init__(self, latest: _Optional[_Union[ResourceSample, _Mapping]] = ..., history: _Optional[_Iterable[_Union[ResourceSample, _Mapping]]] = ...) -> None: ...
