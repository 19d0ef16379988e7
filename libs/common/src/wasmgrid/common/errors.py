"""Domain errors, answered by every gRPC handler as their status code and message.

Raise these from servicers and domain code; the message names the field or limit.
"""

from __future__ import annotations

import grpc


class ServiceError(Exception):
    """An error with a gRPC status code and a message meant for the caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, trailers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        #: Trailing metadata sent with the status, for callers that act on it.
        self.trailers = trailers


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ServiceError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


#: Trailing metadata of a runtime's "still compiling" UNAVAILABLE: seconds the compile has
#: run so far, and when to try again.
COMPILING_TRAILER = "wasmgrid-compiling-seconds"
RETRY_AFTER_TRAILER = "wasmgrid-retry-after-seconds"
#: Trailing metadata of a RESOURCE_EXHAUSTED refused before any work started (what is
#: full), so a caller may try another replica at once without parsing the text.
BUSY_TRAILER = "wasmgrid-busy"


class Compiling(Unavailable):
    """The module is still being compiled; the caller's deadline came first.

    The compile goes on: a retry after ``retry_after`` seconds may find it done. The
    trailers let a gateway answer 503 with ``Retry-After`` without parsing the text.
    """

    def __init__(self, digest: str, seconds: float, retry_after: int) -> None:
        super().__init__(
            f"module {digest} is compiling on this runtime, {seconds:.0f} s so far;"
            f" retry in {retry_after} s",
            trailers=(
                (COMPILING_TRAILER, f"{seconds:.1f}"),
                (RETRY_AFTER_TRAILER, str(retry_after)),
            ),
        )
        self.seconds = seconds
        self.retry_after = retry_after


class DeadlineExceeded(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class DataLoss(ServiceError):
    """Stored or transferred bytes do not match what they claim to be (e.g. a digest)."""

    code = grpc.StatusCode.DATA_LOSS


class Busy(ResourceExhausted):
    """Refused before it started because `what` is full: nothing ran, so another
    replica (or a later try) may take the same call. The trailers say so."""

    def __init__(self, message: str, what: str, retry_after: int = 1) -> None:
        super().__init__(
            message, trailers=((BUSY_TRAILER, what), (RETRY_AFTER_TRAILER, str(retry_after)))
        )
        self.what = what
