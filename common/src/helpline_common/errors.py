"""Domain errors. Service code raises these; one interceptor turns them into gRPC statuses.

Messages must be safe to show and to log: never transcript text, tokens or caller data.
"""

from __future__ import annotations

import grpc


class HelplineError(Exception):
    """Base class; `code` is the gRPC status the caller receives."""

    code = grpc.StatusCode.INTERNAL


class InvalidArgument(HelplineError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(HelplineError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(HelplineError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(HelplineError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(HelplineError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(HelplineError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(HelplineError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(HelplineError):
    """A dependency (object store, another service) is down; the caller may retry."""

    code = grpc.StatusCode.UNAVAILABLE


class Cancelled(HelplineError):
    code = grpc.StatusCode.CANCELLED


class DeadlineExceeded(HelplineError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Aborted(HelplineError):
    """A concurrent writer won (a conditional write failed); re-read and decide again."""

    code = grpc.StatusCode.ABORTED
