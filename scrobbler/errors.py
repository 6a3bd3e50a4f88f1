"""The error every service raises by meaning; HTTP mapping lives in :mod:`scrobbler.http`."""

from __future__ import annotations

__all__ = ["BadRequest", "Forbidden", "NotFound", "ScrobblerError", "Unauthorized", "Unavailable"]


class ScrobblerError(Exception):
    """An error with the HTTP status it means and a short name; ``detail`` names the problem."""

    status_code = 500
    error = "internal error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class BadRequest(ScrobblerError):
    status_code = 400
    error = "bad request"


class Unauthorized(ScrobblerError):
    status_code = 401
    error = "unauthorized"


class Forbidden(ScrobblerError):
    status_code = 403
    error = "forbidden"


class NotFound(ScrobblerError):
    status_code = 404
    error = "not found"


class Unavailable(ScrobblerError):
    """A dependency (the stream, the database) cannot be reached: retry later."""

    status_code = 503
    error = "unavailable"

    def __init__(self, detail: str, *, retry_after: int = 2) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
