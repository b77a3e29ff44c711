"""The API's error tree, rendered as Kubernetes `Status` objects.

Every failure a client can meet is one of these; the HTTP layer turns it into
a `Status` body with the upstream `reason` and `code`, so kubectl prints the
same words it prints against a real cluster. `from_status` parses a `Status`
back into the same tree for the in-process and SDK clients.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.fielderrors import FieldError, aggregate_message


class ApiError(Exception):
    code = 500
    reason = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # StatusReasonUnknown ("") is omitted, as upstream marshals it
            body["reason"] = self.reason
        # Field order as upstream's Status marshals it: details sit before code.
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


GENERIC_NOT_FOUND = "the server could not find the requested resource"


def _details(kind: str, group: str, name: str | None) -> dict[str, Any]:
    # Keys in StatusDetails' field order (name, group, kind), as upstream writes them.
    out: dict[str, Any] = {}
    if name:
        out["name"] = name
    if group:
        out["group"] = group
    out["kind"] = kind
    return out


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    """Always carries `details`, as every upstream NotFound does.

    A 404 for a path the server does not serve has empty details (`{}`):
    kubectl reads `details.name` to tell it from a missing object, and
    `kubectl debug` dereferences `details` without a nil check.
    """

    code = 404
    reason = "NotFound"

    def __init__(
        self,
        message: str = GENERIC_NOT_FOUND,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details={} if details is None else details, headers=headers)

    @classmethod
    def object(cls, plural: str, group: str, name: str) -> NotFound:
        return cls(
            f'{_qualified(plural, group)} "{name}" not found',
            details=_details(plural, group, name),
        )


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class NotAcceptable(ApiError):
    code = 406
    reason = "NotAcceptable"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"

    @classmethod
    def object(cls, plural: str, group: str, name: str) -> AlreadyExists:
        return cls(
            f'{_qualified(plural, group)} "{name}" already exists',
            details=_details(plural, group, name),
        )


class Conflict(ApiError):
    code = 409
    reason = "Conflict"

    @classmethod
    def stale(cls, plural: str, group: str, name: str) -> Conflict:
        return cls(
            f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": '
            "the object has been modified; please apply your changes to the latest "
            "version and try again",
            details=_details(plural, group, name),
        )


class Gone(ApiError):
    """410 Expired; a list's carries the `continue` token to go on with, as upstream's."""

    code = 410
    reason = "Expired"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        continue_token: str | None = None,
    ) -> None:
        super().__init__(message, details=details, headers=headers)
        self.continue_token = continue_token

    def status(self) -> dict[str, Any]:
        body = super().status()
        if self.continue_token:
            body["metadata"] = {"continue": self.continue_token}
        return body


class RequestEntityTooLarge(ApiError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(ApiError):
    code = 422
    reason = "Invalid"

    @classmethod
    def fields(cls, kind: str, group: str, name: str, errors: list[FieldError]) -> Invalid:
        qualified = f"{kind}.{group}" if group else kind
        causes = [{"reason": e.reason, "message": e.message, "field": e.field} for e in errors]
        details = _details(kind, group, name or None)
        details["causes"] = causes
        return cls(
            f'{qualified} "{name}" is invalid: {aggregate_message(errors)}',
            details=details,
        )


class TooManyRequests(ApiError):
    code = 429
    reason = "TooManyRequests"


class InternalError(ApiError):
    code = 500
    reason = "InternalError"


class StorageError(ApiError):
    """A write the store could not make (the disk is full, the database unwritable):
    upstream answers an error that is not a Status with a 500 of unknown reason
    carrying the storage error's own text, so the user sees why."""

    code = 500
    reason = ""


class ServiceUnavailable(ApiError):
    code = 503
    reason = "ServiceUnavailable"


class Timeout(ApiError):
    """504: what a read waiting for a resourceVersion the server has not reached ends in."""

    code = 504
    reason = "Timeout"

    @classmethod
    def too_large_resource_version(cls, requested: int, current: int, retry_s: int) -> Timeout:
        # storage.NewTooLargeResourceVersionError: a Timeout with one cause.
        details: dict[str, Any] = {
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ]
        }
        if retry_s:
            details["retryAfterSeconds"] = retry_s
        return cls(
            f"Timeout: Too large resource version: {requested}, current: {current}",
            details=details,
            headers={"Retry-After": str(retry_s)} if retry_s else None,
        )


_BY_REASON: dict[str, type[ApiError]] = {
    c.reason: c
    for c in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        AlreadyExists,
        Conflict,
        Gone,
        RequestEntityTooLarge,
        UnsupportedMediaType,
        Invalid,
        TooManyRequests,
        InternalError,
        ServiceUnavailable,
        Timeout,
    )
}


def from_status(status: dict[str, Any]) -> ApiError:
    """Parse a `Status` body back into the error tree."""
    cls = _BY_REASON.get(str(status.get("reason", "")), ApiError)
    err = cls(str(status.get("message", "")), details=status.get("details"))
    if cls is ApiError:
        err.code = int(status.get("code", 500))
        err.reason = str(status.get("reason", "Unknown"))
    return err
