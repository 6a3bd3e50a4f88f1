"""What every ListenBrainz-compatible answer shares: its error shape and rate-limit headers.

Errors are ``{"code": N, "error": "..."}`` as ListenBrainz answers them. Every answer carries
``X-RateLimit-Limit``, ``X-RateLimit-Remaining``, ``X-RateLimit-Reset-In`` and
``X-RateLimit-Reset``, from an in-process fixed window per token (or per client address when no
token is sent): :data:`RATE_LIMIT` requests per :data:`RATE_WINDOW_S` seconds, then 429. Each
process counts on its own, so N replicas allow N times the limit.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from scrobbler.errors import ScrobblerError

__all__ = [
    "RATE_LIMIT",
    "RATE_WINDOW_S",
    "LBError",
    "RateLimitMiddleware",
    "RateLimiter",
    "auth_token",
    "lb_exception_handlers",
]

RATE_LIMIT = 1000
"""Requests per window and key (ListenBrainz allows far fewer; a self-hosted server need not)."""
RATE_WINDOW_S = 10


class LBError(msgspec.Struct, frozen=True):
    code: int
    error: str


def _lb_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(LBError(code=status, error=message), status_code=status, headers=headers)


def _scrobbler_error(_: Request[Any, Any, Any], exc: ScrobblerError) -> Response[Any]:
    return _lb_error(exc.status_code, exc.detail, exc.headers)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _lb_error(exc.status_code, str(exc.detail), dict(exc.headers or {}))


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    parts = [
        f"{item.get('key')}: {item.get('message', '')}" if item.get("key") else str(item.get("message", ""))
        for item in exc.extra or []
        if isinstance(item, dict)
    ]
    return _lb_error(400, "; ".join(parts) or str(exc.detail))


lb_exception_handlers: dict[Any, Any] = {
    ScrobblerError: _scrobbler_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
}


def auth_token(request: Request[Any, Any, Any]) -> str | None:
    """The token of ``Authorization: Token <t>`` (or ``Bearer <t>``), else None."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    return None


@dataclass
class RateLimiter:
    """A fixed window per key: at most ``limit`` requests per ``window`` seconds."""

    limit: int = RATE_LIMIT
    window: int = RATE_WINDOW_S
    _windows: dict[str, tuple[int, int]] = field(default_factory=dict)

    def hit(self, key: str, now: float) -> tuple[bool, dict[str, str]]:
        """Count one request; whether it is allowed, and the headers to answer with."""
        start = int(now // self.window) * self.window
        seen_start, count = self._windows.get(key, (start, 0))
        if seen_start != start:
            count = 0
            if len(self._windows) > 100_000:
                self._windows.clear()
        count += 1
        self._windows[key] = (start, count)
        reset = start + self.window
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - count)),
            "X-RateLimit-Reset-In": str(max(0, math.ceil(reset - now))),
            "X-RateLimit-Reset": str(reset),
        }
        return count <= self.limit, headers


_LIMITER = RateLimiter()


class RateLimitMiddleware:
    """Counts each request against its token (or address), adds the headers, answers 429 past the limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        key = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                key = "t:" + hashlib.sha256(value).hexdigest()[:24]
                break
        if not key:
            client = scope.get("client")
            key = f"ip:{client[0] if client else ''}"
        allowed, headers = _LIMITER.hit(key, time.time())
        extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if not allowed:
            body = msgspec.json.encode(
                LBError(code=429, error="Rate limit exceeded; see X-RateLimit-Reset-In")
            )
            start: Any = {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", headers["X-RateLimit-Reset-In"].encode()),
                    *extra,
                ],
            }
            await send(start)
            end: Any = {"type": "http.response.body", "body": body}
            await send(end)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
