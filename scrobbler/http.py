"""What every HTTP service shares: error mapping, request ids, health and metrics routes."""

from __future__ import annotations

import functools
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog
from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.exceptions import ClientException, HTTPException, NotFoundException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Empty, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from scrobbler.errors import ScrobblerError
from scrobbler.logs import REQUEST_ID

__all__ = [
    "ErrorBody",
    "RequestIdMiddleware",
    "error_response",
    "exception_handlers",
    "health_routes",
    "read_body",
]

log = structlog.get_logger("scrobbler.http")

REQUESTS = Counter("scrobbler_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "scrobbler_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class ErrorBody(msgspec.Struct, frozen=True):
    """Every JSON error: what went wrong, and the field or reason in ``detail``."""

    error: str
    detail: str


def error_response(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(ErrorBody(error=error, detail=detail), status_code=status, headers=headers)


def _scrobbler_error(_: Request[Any, Any, Any], exc: ScrobblerError) -> Response[Any]:
    return error_response(exc.status_code, exc.error, exc.detail, exc.headers)


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    parts = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            key = item.get("key")
            message = item.get("message", "")
            parts.append(f"{key}: {message}" if key else str(message))
    return error_response(400, "invalid request", "; ".join(parts) or str(exc.detail))


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    error = {404: "not found", 405: "method not allowed", 413: "payload too large"}.get(
        exc.status_code, "error"
    )
    return error_response(exc.status_code, error, str(exc.detail), dict(exc.headers or {}))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", path=request.url.path)
    return error_response(500, "internal error", "the server failed; the error is logged")


exception_handlers: dict[Any, Callable[..., Response[Any]]] = {
    ScrobblerError: _scrobbler_error,
    ValidationException: _validation_error,
    NotFoundException: _http_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}


@functools.lru_cache(maxsize=4096)
def _counter(method: str, route: str, status: int) -> Any:
    """The labelled child, looked up once per (method, route, status) rather than per request."""
    return REQUESTS.labels(method, route, str(status))


@functools.lru_cache(maxsize=1024)
def _histogram(route: str) -> Any:
    return LATENCY.labels(route)


async def read_body(request: Request[Any, Any, Any]) -> bytes:
    """The request body read straight from the ASGI channel, with the route's size limit.

    Litestar's ``Request.body`` parses the headers for the content length and walks an async
    generator; for a one-chunk body (every listen a scrobbler sends) this is a third of the cost,
    and ingest reads a body per request. Later ``request.body()`` calls get the same bytes.
    """
    read = request._connection_state.body
    if read is not Empty:
        return read
    limit = request.route_handler.resolve_request_max_body_size() or 1 << 62
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientException("client disconnected before sending the whole body")
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge(
                detail=f"the request body is over this endpoint's limit of {limit:,} bytes"
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = request._connection_state.body = body
    request.is_connected = False
    return body


_ID_PREFIX = uuid.uuid4().hex[:12]
_ID_COUNTER = itertools.count(1)


def _next_request_id() -> str:
    """Unique per process start and request, without a random draw per request (a hot path)."""
    return f"{_ID_PREFIX}-{next(_ID_COUNTER):x}"


class RequestIdMiddleware:
    """Binds a request id (the caller's ``X-Request-Id`` or a new one) to every log line and answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", ""))
        rid = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:64]
                break
        rid = rid or _next_request_id()
        started = time.perf_counter()
        status_holder = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        token = REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or _route_of(scope)
            _counter(method, route, status_holder[0]).inc()
            _histogram(route).observe(elapsed)
            if status_holder[0] >= 500:
                log.warning(
                    "request failed",
                    method=method,
                    path=scope["path"],
                    status=status_holder[0],
                    ms=round(elapsed * 1000, 1),
                )
            REQUEST_ID.reset(token)


def _route_of(scope: Scope) -> str:
    handler = scope.get("route_handler")
    if isinstance(handler, HTTPRouteHandler):
        paths = sorted(handler.paths)
        if paths:
            return paths[0]
    return "other"


class Health(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, str] = {}


def health_routes(checks: dict[str, Callable[[], Awaitable[None]]]) -> list[HTTPRouteHandler]:
    """``/healthz`` (the process answers), ``/readyz`` (every check passes) and ``/metrics``."""

    @get("/healthz", include_in_schema=True, tags=["health"], sync_to_thread=False)
    def healthz() -> Health:
        return Health(status="ok")

    @get("/readyz", tags=["health"])
    async def readyz() -> Response[Health]:
        results: dict[str, str] = {}
        ok = True
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001  (readiness reports any failure of a dependency)
                ok = False
                results[name] = f"failed: {exc}"[:300]
        return Response(
            Health(status="ok" if ok else "unavailable", checks=results), status_code=200 if ok else 503
        )

    @get("/metrics", tags=["health"], sync_to_thread=False)
    def metrics() -> Response[bytes]:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [healthz, readyz, metrics]
