"""The built web UI at ``/``, with deep links (``/artists/42``) answered by ``index.html``."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from litestar import Response, get
from litestar.params import FromPath
from litestar.response import File

from scrobbler.errors import NotFound

__all__ = ["find_web_dist", "web_routes"]

_IMMUTABLE = "public, max-age=31536000, immutable"
_API_PREFIXES = ("api/", "rest/", "1/", "2.0/", "schema/", "docs")


def find_web_dist(configured: Path | None) -> Path | None:
    """The built UI: the configured folder, ``web/dist`` of a checkout, or the packaged copy."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (configured, here.parent / "web" / "dist", here / "static"):
        if candidate is not None and (candidate / "index.html").is_file():
            return candidate
    return None


def web_routes(dist: Path | None) -> list[Any]:
    """Routes serving ``dist``; without a build, ``/`` explains how to make one."""
    if dist is None:

        @get("/", include_in_schema=False, sync_to_thread=False)
        def no_ui() -> Response[str]:
            return Response(
                "<!doctype html><title>Scrobbler</title><h1>Scrobbler is running</h1>"
                "<p>The web UI is not built: install Node 20+ and run <code>make web</code>. "
                "The API is documented at <a href='/docs'>/docs</a>.</p>",
                media_type="text/html",
            )

        return [no_ui]

    root = dist.resolve()
    index = root / "index.html"

    def serve(rel: str) -> File:
        if rel.startswith(_API_PREFIXES):
            raise NotFound(f"no route {('/' + rel)!r}")
        if rel:
            candidate = (root / rel).resolve()
            if candidate.is_relative_to(root) and candidate.is_file():
                media_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
                immutable = "/assets/" in ("/" + rel)
                return File(
                    candidate,
                    media_type=media_type,
                    content_disposition_type="inline",
                    headers={"Cache-Control": _IMMUTABLE if immutable else "no-cache"},
                )
        return File(
            index,
            media_type="text/html",
            content_disposition_type="inline",
            headers={"Cache-Control": "no-cache"},
        )

    @get("/", include_in_schema=False, sync_to_thread=False)
    def home() -> File:
        return serve("")

    @get("/{path:path}", include_in_schema=False, sync_to_thread=False)
    def spa(path: FromPath[str]) -> File:
        return serve(path.lstrip("/"))

    return [home, spa]
