"""A local ListenBrainz: the parts of its API our importer and exporter use, with its recorded shapes.

``GET /1/user/{user}/listens`` (newest first, ``max_ts``/``min_ts`` exclusive, ``count`` ≤ 1000),
``POST /1/submit-listens`` (``Authorization: Token``; 401 otherwise; dedup by second + names, as
ListenBrainz dedups by user, listened_at and recording), ``GET /1/validate-token``; every answer
carries ``X-RateLimit-*`` headers, and a configurable share of requests gets 429 + ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath

from tests.conftest import free_port

__all__ = ["FakeListenBrainz", "make_listens", "serve_app", "serve_listenbrainz"]


def make_listens(
    n: int,
    *,
    user: str = "lbuser",
    start_ts: int = 1_600_000_000,
    seed: int = 7,
    tags_every: int = 3,
    same_second_every: int = 97,
) -> list[dict[str, Any]]:
    """``n`` listens as ListenBrainz serves them, newest first; some share a second."""
    rng = random.Random(seed)
    out = []
    ts = start_ts
    for i in range(n):
        if i % same_second_every != 1:
            ts += rng.randint(60, 400)
        artist = f"Artist {rng.randint(1, max(2, n // 20))}"
        info: dict[str, Any] = {
            "recording_msid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "duration_ms": rng.randint(120, 400) * 1000,
            "submission_client": "navidrome",
            "submission_client_version": "0.53",
        }
        if tags_every and i % tags_every == 0:
            info["tags"] = ["rock", "indie"]
        out.append(
            {
                "inserted_at": ts + 5,
                "listened_at": ts,
                "recording_msid": info["recording_msid"],
                "user_name": user,
                "track_metadata": {
                    "artist_name": artist,
                    "track_name": f"Song {i}",
                    "release_name": f"Album {i % 50}",
                    "additional_info": info,
                },
            }
        )
    out.reverse()
    return out


@dataclass
class FakeListenBrainz:
    """State of the fake server; tests read and steer it."""

    listens: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    rate_limit_every: int = 0
    """Every Nth request answers 429 with Retry-After: 1 (0: never)."""
    budget: int = 1000
    """X-RateLimit-Remaining starts here and counts down; 0 tells clients to wait X-RateLimit-Reset-In."""
    block_after_pages: int | None = None
    """Listens pages after this many hang until released (a crash mid-import)."""
    fail_submits: int = 0
    """The next N submissions answer 503."""
    pages_served: int = 0
    requests: int = 0
    rate_limited: int = 0
    submit_calls: int = 0
    submitted: list[dict[str, Any]] = field(default_factory=list)
    blocked: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def headers(self) -> dict[str, str]:
        self.budget = max(0, self.budget - 1)
        return {
            "X-RateLimit-Limit": "1000",
            "X-RateLimit-Remaining": str(self.budget),
            "X-RateLimit-Reset-In": "1",
            "X-RateLimit-Reset": str(int(time.time()) + 1),
        }

    def limited(self) -> Response[Any] | None:
        self.requests += 1
        if self.rate_limit_every and self.requests % self.rate_limit_every == 0:
            self.rate_limited += 1
            return Response(
                {"code": 429, "error": "Too many requests"},
                status_code=429,
                headers={**self.headers(), "Retry-After": "1"},
            )
        return None

    def user_of(self, request: Request[Any, Any, Any]) -> str | None:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("token "):
            return None
        return self.tokens.get(auth[6:].strip())

    def app(self) -> Litestar:
        fake = self

        @get("/1/user/{user:str}/listens")
        async def listens(
            request: Request[Any, Any, Any],
            user: FromPath[str],
        ) -> Response[Any]:
            if (r := fake.limited()) is not None:
                return r
            if fake.block_after_pages is not None and fake.pages_served >= fake.block_after_pages:
                fake.blocked.set()
                await fake.release.wait()
            if user not in fake.listens:
                return Response({"code": 404, "error": "Cannot find user: " + user}, status_code=404)
            q = request.query_params
            count = min(int(q.get("count", 25)), 1000)
            max_ts = int(q["max_ts"]) if "max_ts" in q else None
            min_ts = int(q["min_ts"]) if "min_ts" in q else None
            rows = [
                x
                for x in fake.listens[user]
                if (max_ts is None or x["listened_at"] < max_ts)
                and (min_ts is None or x["listened_at"] > min_ts)
            ]
            page = rows[:count]
            fake.pages_served += 1
            latest = fake.listens[user][0]["listened_at"] if fake.listens[user] else 0
            body = {
                "payload": {"user_id": user, "count": len(page), "latest_listen_ts": latest, "listens": page}
            }
            return Response(body, headers=fake.headers())

        @get("/1/validate-token")
        async def validate(request: Request[Any, Any, Any]) -> Response[Any]:
            user = fake.user_of(request)
            if user is None:
                return Response({"code": 200, "message": "Token invalid.", "valid": False})
            return Response({"code": 200, "message": "Token valid.", "valid": True, "user_name": user})

        @post("/1/submit-listens", status_code=200)
        async def submit(request: Request[Any, Any, Any]) -> Response[Any]:
            if (r := fake.limited()) is not None:
                return r
            user = fake.user_of(request)
            if user is None:
                return Response({"code": 401, "error": "Invalid authorization token."}, status_code=401)
            if fake.fail_submits > 0:
                fake.fail_submits -= 1
                return Response({"code": 503, "error": "busy"}, status_code=503)
            body = await request.json()
            payload = body.get("payload") or []
            if body.get("listen_type") not in ("single", "import", "playing_now") or not payload:
                return Response({"code": 400, "error": "bad listen_type or empty payload"}, status_code=400)
            if len(payload) > 1000:
                return Response({"code": 400, "error": "too many listens"}, status_code=400)
            fake.submit_calls += 1
            stored = fake.listens.setdefault(user, [])
            have = {
                (x["listened_at"], x["track_metadata"]["artist_name"], x["track_metadata"]["track_name"])
                for x in stored
            }
            for item in payload:
                meta = item["track_metadata"]
                fake.submitted.append(item)
                key = (item["listened_at"], meta["artist_name"], meta["track_name"])
                if key not in have:
                    have.add(key)
                    stored.append({**item, "recording_msid": str(uuid.uuid4()), "user_name": user})
            stored.sort(key=lambda x: -x["listened_at"])
            return Response({"status": "ok"}, headers=fake.headers())

        return Litestar([listens, validate, submit], debug=False, logging_config=None)


@contextlib.asynccontextmanager
async def serve_app(app: Litestar, prefix: str = "") -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port in this event loop; yields its base URL + ``prefix``."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, loop="asyncio")
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}{prefix}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def serve_listenbrainz(fake: FakeListenBrainz) -> AsyncIterator[str]:
    """The fake's API root (``http://127.0.0.1:PORT/1``), like SCROBBLER_LISTENBRAINZ_BASE_URL."""
    async with serve_app(fake.app(), "/1") as url:
        yield url
