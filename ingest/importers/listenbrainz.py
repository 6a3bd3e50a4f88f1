"""A ListenBrainz API client that pages listens and submits them politely.

It honours ``X-RateLimit-Remaining``/``X-RateLimit-Reset-In`` (waits before the next request
when the budget is spent), answers 429 by waiting ``Retry-After`` and retrying, and retries
transient failures (5xx, timeouts, refused connections) with exponential backoff.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import structlog

__all__ = ["ListenBrainzClient", "ListenBrainzError", "ListenBrainzUnavailable", "ListensPage"]

log = structlog.get_logger(__name__)

_TRANSIENT = {500, 502, 503, 504}


class ListenBrainzError(Exception):
    """ListenBrainz refused a request (4xx other than 429); ``status`` is its HTTP status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"ListenBrainz answered {status}: {detail}")
        self.status = status
        self.detail = detail


class ListenBrainzUnavailable(ListenBrainzError):
    """ListenBrainz kept failing (5xx, 429, network) after every retry."""


class _Payload(msgspec.Struct):
    listens: list[msgspec.Raw] = []
    count: int = 0


class ListensPage(msgspec.Struct):
    """``GET /1/user/{user}/listens``: the listens stay raw, each decoded on its own."""

    payload: _Payload


_PAGE = msgspec.json.Decoder(ListensPage)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass
class ListenBrainzClient:
    """One ListenBrainz API root (``.../1``) with an optional user token."""

    base_url: str
    http: httpx.AsyncClient
    token: str | None = None
    max_attempts: int = 8
    max_backoff_s: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    requests: int = 0
    waited_s: float = 0.0
    _not_before: float = field(default=0.0, repr=False)

    def _headers(self, json_body: bool) -> dict[str, str]:
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        if json_body:
            headers["Content-Type"] = "application/json"
        return headers

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.waited_s += seconds
            await self.sleep(seconds)

    async def request(
        self, method: str, path: str, *, json_body: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """Send a request, waiting out rate limits and retrying transient failures."""
        url = f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        attempt = 0
        while True:
            await self._pause(self._not_before - time.monotonic())
            attempt += 1
            self.requests += 1
            try:
                response = await self.http.request(method, url, headers=self._headers(json_body), **kwargs)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if attempt >= self.max_attempts:
                    raise ListenBrainzUnavailable(0, f"{type(exc).__name__}: {exc}") from exc
                await self._pause(min(self.max_backoff_s, 0.5 * 2 ** (attempt - 1)))
                continue
            self._note_budget(response)
            if response.status_code == 429:
                wait = _seconds(response.headers.get("Retry-After"))
                if wait is None:
                    wait = _seconds(response.headers.get("X-RateLimit-Reset-In")) or 1.0
                log.info("listenbrainz rate limited", wait_s=wait, url=url)
                if attempt >= self.max_attempts * 4:
                    raise ListenBrainzUnavailable(429, "still rate limited after many retries")
                await self._pause(wait)
                continue
            if response.status_code in _TRANSIENT:
                if attempt >= self.max_attempts:
                    raise ListenBrainzUnavailable(response.status_code, response.text[:200])
                await self._pause(min(self.max_backoff_s, 0.5 * 2 ** (attempt - 1)))
                continue
            if response.status_code >= 400:
                raise ListenBrainzError(response.status_code, response.text[:300])
            return response

    def _note_budget(self, response: httpx.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset_in = _seconds(response.headers.get("X-RateLimit-Reset-In"))
        if remaining is not None and remaining.strip() == "0" and reset_in:
            self._not_before = time.monotonic() + reset_in

    async def listens(self, user: str, *, count: int, max_ts: int | None = None) -> list[msgspec.Raw]:
        """One page of a user's listens, newest first, strictly older than ``max_ts``."""
        params: dict[str, Any] = {"count": count}
        if max_ts is not None:
            params["max_ts"] = max_ts
        response = await self.request("GET", f"user/{user}/listens", params=params)
        try:
            return _PAGE.decode(response.content).payload.listens
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ListenBrainzError(response.status_code, f"unexpected listens page: {exc}") from exc

    async def submit(self, listen_type: str, payload: list[dict[str, Any]]) -> None:
        """``POST /1/submit-listens``; returns once ListenBrainz answered 200."""
        body = msgspec.json.encode({"listen_type": listen_type, "payload": payload})
        await self.request("POST", "submit-listens", content=body, json_body=True)

    async def validate_token(self) -> str | None:
        """The user name the token belongs to, or None when ListenBrainz says it is not valid."""
        response = await self.request("GET", "validate-token")
        data = response.json()
        return str(data["user_name"]) if data.get("valid") and data.get("user_name") else None
