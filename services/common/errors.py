"""One family of domain errors and one table mapping them to gRPC status codes.

Domain code raises these; the server wrapper turns them into a status with the message (which
names the field and the value); clients turn a status back into the same exception type. Anything
else that escapes a servicer is a bug in the server: INTERNAL, with its traceback logged once,
never blamed on the client (a ValueError from deep inside is not the caller's bad input: the
domain turns the validation errors it expects into InvalidArgument itself).
"""
from __future__ import annotations

import grpc


class OmpError(Exception):
    """Base of every error a service reports to its callers."""
    code = grpc.StatusCode.INTERNAL


class InvalidArgument(OmpError):
    code = grpc.StatusCode.INVALID_ARGUMENT


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


class CommitFailed(Unavailable):
    """A group's COMMIT failed: none of its transactions happened, and the call may be retried."""


ERRORS_BY_CODE: dict[grpc.StatusCode, type[OmpError]] = {
    cls.code: cls for cls in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, Unauthenticated,
                              PermissionDenied, ResourceExhausted, Unavailable, DeadlineExceeded)
}


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status a server answers for an exception; anything unexpected is INTERNAL."""
    if isinstance(exc, OmpError):
        return exc.code, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}"


def from_rpc_error(err: grpc.RpcError) -> OmpError:
    """The domain exception for a status a client received."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    cls = ERRORS_BY_CODE.get(code, OmpError)
    exc = cls(err.details() if hasattr(err, "details") else str(err))
    exc.code = code
    return exc
