"""One family of domain errors and one table mapping them to gRPC status codes.

Domain code raises these; the server wrapper turns them into a status with the message (which
names the field and the value); clients turn a status back into the same exception type. Anything
else that escapes a servicer is a bug in the server: INTERNAL, with its traceback logged once,
never blamed on the client (a ValueError from deep inside is not the caller's bad input: the
domain turns the validation errors it expects into InvalidArgument itself).
"""
from __future__ import annotations

import re

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from omp_services.common.settings import redact_secrets


class OmpError(Exception):
    """Base of every error a service reports to its callers."""
    code = grpc.StatusCode.INTERNAL


#: the field a message of bad input begins with ("page_size must be >= 0, got -1"): our messages
#: name the field first, so the status's BadRequest can name it for a program too
_FIELD_RE = re.compile(r"([a-z_][a-z0-9_]*(?:\.[a-z0-9_\[\]]+)*)(?::| must | is | has | names | may | cannot )")


class InvalidArgument(OmpError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str = "", field: str | None = None):
        super().__init__(message)
        if field is None and (m := _FIELD_RE.match(message)):
            field = m.group(1)
        self.field = field or ""


class NotFound(OmpError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(OmpError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(OmpError):
    """The request is valid but the state does not allow it (a transition, a stale attempt)."""
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(OmpError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(OmpError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(OmpError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(OmpError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(OmpError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class DatabaseBusy(Unavailable):
    """The database did not serve the call in time (another writer holds it, a lock, a slow or
    full disk) or failed under it; nothing of the call happened, and it may be retried."""


class DatabaseUnavailable(DatabaseBusy):
    """The database cannot be reached at all (no connection can be made, or it broke): mining
    cannot go on until it is back (the watchdog's "database unreachable")."""


class CommitUnknown(DatabaseUnavailable):
    """The connection was lost while COMMIT was on its way and the database could not be asked
    afterwards whether it committed: unlike its base, the change may have been made, so the call
    is not to be repeated blindly (UNKNOWN, not UNAVAILABLE; an idempotent call, such as an add
    with a request id, may be)."""
    code = grpc.StatusCode.UNKNOWN


class Conflict(AlreadyExists):
    """A unique key (a request id, a chosen id) that another transaction wrote first, found at
    the INSERT or at COMMIT: nothing of this transaction happened. A domain that checks before it
    inserts meets it only when the other transaction ran beside it, and may look again."""


class CommitFailed(Unavailable):
    """A group's COMMIT failed: none of its transactions happened, and the call may be retried."""


ERRORS_BY_CODE: dict[grpc.StatusCode, type[OmpError]] = {
    cls.code: cls for cls in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, Unauthenticated,
                              PermissionDenied, ResourceExhausted, Unavailable, DeadlineExceeded)
}


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status a server answers for an exception; anything unexpected is INTERNAL."""
    if isinstance(exc, OmpError):
        return exc.code, redact_secrets(str(exc))
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}"


def _reason(exc: BaseException) -> str:
    """``DatabaseBusy`` -> ``DATABASE_BUSY``: the ErrorInfo reason a program can switch on."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).upper()


def rich_status(exc: BaseException) -> grpc.Status:
    """The status of ``exc`` with google.rpc details (grpcio-status): an ErrorInfo naming the
    error's kind, and for bad input a BadRequest naming the field."""
    code, message = to_status(exc)
    st = status_pb2.Status(code=getattr(code_pb2, code.name), message=message)
    reason = "INTERNAL" if code == grpc.StatusCode.INTERNAL else _reason(exc)
    st.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain="omp.v1"))
    if getattr(exc, "field", ""):
        violation = error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=message)
        st.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    return rpc_status.to_status(st)


def from_rpc_error(err: grpc.RpcError) -> OmpError:
    """The domain exception for a status a client received (with ``field`` for bad input, when
    the status names it)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    cls = ERRORS_BY_CODE.get(code, OmpError)
    message = err.details() if hasattr(err, "details") else str(err)
    exc = cls(message) if cls is not InvalidArgument else cls(message, field=_field_of(err))
    exc.code = code
    return exc


def _field_of(err) -> str | None:
    try:
        st = rpc_status.from_call(err)
    except (ValueError, AttributeError):
        return None
    for detail in st.details if st is not None else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad) and bad.field_violations:
            return bad.field_violations[0].field
    return None
