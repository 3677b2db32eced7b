from google.protobuf import struct_pb2 as _struct_pb2
from omp.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ValidateConfigRequest(_message.Message):
    __slots__ = ("config_path", "check_data")
    CONFIG_PATH_FIELD_NUMBER: _ClassVar[int]
    CHECK_DATA_FIELD_NUMBER: _ClassVar[int]
    config_path: str
    check_data: bool
    def __init__(self, config_path: _Optional[str] = ..., check_data: _Optional[bool] = ...) -> None: ...

class ValidateConfigResponse(_message.Message):
    __slots__ = ("config_hash", "campaign_name", "snapshot_id", "bars")
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_NAME_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    config_hash: str
    campaign_name: str
    snapshot_id: str
    bars: int
    def __init__(self, config_hash: _Optional[str] = ..., campaign_name: _Optional[str] = ..., snapshot_id: _Optional[str] = ..., bars: _Optional[int] = ...) -> None: ...

class StartRunRequest(_message.Message):
    __slots__ = ("campaign_id", "attempt", "config_path", "config_hash")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_PATH_FIELD_NUMBER: _ClassVar[int]
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    attempt: int
    config_path: str
    config_hash: str
    def __init__(self, campaign_id: _Optional[str] = ..., attempt: _Optional[int] = ..., config_path: _Optional[str] = ..., config_hash: _Optional[str] = ...) -> None: ...

class StartRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _common_pb2.Run
    def __init__(self, run: _Optional[_Union[_common_pb2.Run, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id", "campaign_id", "attempt")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    campaign_id: str
    attempt: int
    def __init__(self, run_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _common_pb2.Run
    def __init__(self, run: _Optional[_Union[_common_pb2.Run, _Mapping]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "campaign_id", "status", "this_miner_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    THIS_MINER_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    campaign_id: str
    status: _common_pb2.RunStatus
    this_miner_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., campaign_id: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.RunStatus, str]] = ..., this_miner_only: _Optional[bool] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Run]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[_common_pb2.Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("run_id", "reason", "as_failure", "actor")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AS_FAILURE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    reason: str
    as_failure: bool
    actor: str
    def __init__(self, run_id: _Optional[str] = ..., reason: _Optional[str] = ..., as_failure: _Optional[bool] = ..., actor: _Optional[str] = ...) -> None: ...

class CancelRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _common_pb2.Run
    def __init__(self, run: _Optional[_Union[_common_pb2.Run, _Mapping]] = ...) -> None: ...

class WatchRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class WatchRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _common_pb2.Run
    def __init__(self, run: _Optional[_Union[_common_pb2.Run, _Mapping]] = ...) -> None: ...

class ExportTopCandidatesRequest(_message.Message):
    __slots__ = ("run_id", "top")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    top: int
    def __init__(self, run_id: _Optional[str] = ..., top: _Optional[int] = ...) -> None: ...

class ExportTopCandidatesResponse(_message.Message):
    __slots__ = ("candidates",)
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    candidates: _struct_pb2.Struct
    def __init__(self, candidates: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
