"""A local MusicBrainz web service: recording and artist lookups with tags/genres, artist search.

Like MusicBrainz it answers 503 to a client that sends more than one request per second, and
records each request's time and User-Agent so tests can check our manners.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.params import FromPath

from tests.fakes.listenbrainz_server import serve_app

__all__ = ["FakeMusicBrainz", "serve_musicbrainz"]


def _tags(names: list[str]) -> list[dict[str, Any]]:
    return [{"name": n, "count": len(names) - i} for i, n in enumerate(names)]


@dataclass
class FakeMusicBrainz:
    recordings: dict[str, list[str]] = field(default_factory=dict)
    """Recording MBID -> genre names (most voted first)."""
    artists: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    """Artist name -> (MBID, genre names)."""
    calls: list[tuple[float, str, str]] = field(default_factory=list)
    """(monotonic time, path, User-Agent) of each request."""
    too_fast: int = 0

    def _polite(self, request: Request[Any, Any, Any]) -> Response[Any] | None:
        now = time.monotonic()
        last = self.calls[-1][0] if self.calls else None
        self.calls.append((now, request.url.path, request.headers.get("user-agent", "")))
        if last is not None and now - last < 0.95:
            self.too_fast += 1
            return Response(
                {"error": "Your requests are exceeding the allowable rate limit."}, status_code=503
            )
        return None

    def app(self) -> Litestar:
        fake = self

        @get("/ws/2/recording/{mbid:str}")
        async def recording(request: Request[Any, Any, Any], mbid: FromPath[str]) -> Response[Any]:
            if (r := fake._polite(request)) is not None:
                return r
            if mbid not in fake.recordings:
                return Response({"error": "Not Found"}, status_code=404)
            names = fake.recordings[mbid]
            return Response({"id": mbid, "title": "x", "tags": _tags(names), "genres": _tags(names)})

        @get("/ws/2/artist/{mbid:str}")
        async def artist(request: Request[Any, Any, Any], mbid: FromPath[str]) -> Response[Any]:
            if (r := fake._polite(request)) is not None:
                return r
            for name, (aid, names) in fake.artists.items():
                if aid == mbid:
                    return Response({"id": aid, "name": name, "tags": _tags(names), "genres": _tags(names)})
            return Response({"error": "Not Found"}, status_code=404)

        @get("/ws/2/artist")
        async def search(request: Request[Any, Any, Any]) -> Response[Any]:
            if (r := fake._polite(request)) is not None:
                return r
            query = request.query_params.get("query", "")
            wanted = query.removeprefix("artist:").strip('"').lower()
            hits = [
                {"id": aid, "name": name, "score": 100, "tags": _tags(names)}
                for name, (aid, names) in fake.artists.items()
                if name.lower() == wanted
            ]
            return Response(
                {"created": "2024-01-01T00:00:00Z", "count": len(hits), "offset": 0, "artists": hits}
            )

        return Litestar([recording, artist, search], debug=False, logging_config=None)


@contextlib.asynccontextmanager
async def serve_musicbrainz(fake: FakeMusicBrainz) -> AsyncIterator[str]:
    """The fake's web service root (``http://127.0.0.1:PORT/ws/2``), like SCROBBLER_MUSICBRAINZ_BASE_URL."""
    async with serve_app(fake.app(), "/ws/2") as url:
        yield url
