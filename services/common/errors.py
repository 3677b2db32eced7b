"""One family of domain errors and one table mapping them to gRPC status codes.

Domain code raises these; the server interceptor turns them into a status with the message (which
names the field and the value); clients turn a status back into the same exception type.
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


class Unavailable(OmpError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(OmpError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


ERRORS_BY_CODE: dict[grpc.StatusCode, type[OmpError]] = {
    cls.code: cls for cls in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, Unavailable,
                              DeadlineExceeded)
}


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status a server answers for an exception; anything unexpected is INTERNAL."""
    if isinstance(exc, OmpError):
        return exc.code, str(exc)
    if isinstance(exc, ValueError):      # omp_core's validation errors name the field too
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}"


def from_rpc_error(err: grpc.RpcError) -> OmpError:
    """The domain exception for a status a client received."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    cls = ERRORS_BY_CODE.get(code, OmpError)
    exc = cls(err.details() if hasattr(err, "details") else str(err))
    exc.code = code
    return exc
