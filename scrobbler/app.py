"""Building the HTTP app of a process: ingest routes, query routes, or both on one port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from litestar import Litestar, Response, get
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from sqlalchemy import select, text

from ingest.app import ingest_routes
from ingest.directory import Directory
from ingest.publish import Publisher
from ingest.state import IngestState
from projector.db import create_engine
from projector.tables import projection_checkpoint
from query_api.app import query_routes
from query_api.routes.web import find_web_dist, web_routes
from query_api.state import QueryState
from scrobbler.http import RequestIdMiddleware, exception_handlers, health_routes
from scrobbler.secrets import secret_box
from scrobbler.settings import Settings
from scrobbler.stream import StreamClient

__all__ = ["Extension", "create_app"]

log = structlog.get_logger(__name__)

Extension = Callable[[Litestar, QueryState], contextlib.AbstractAsyncContextManager[None]]
"""A feature that needs its own resources beside the query API (the stats cube, live events)."""


def create_app(
    settings: Settings,
    nats_url: str,
    *,
    ingest: bool = True,
    query: bool = True,
    web_dist: Path | None = None,
    extensions: list[Extension] | None = None,
    extra_routes: list[Any] | None = None,
) -> Litestar:
    """A Litestar app serving the chosen roles, with its resources opened in the lifespan."""
    stream = StreamClient(nats_url, settings.nats, name="scrobbler-http")
    engine = create_engine(settings.db.dsn)

    async def stream_ready() -> None:
        if not stream.connected or stream.js is None:
            raise RuntimeError("not connected to NATS")
        await stream.js.stream_info(settings.nats.stream)

    async def db_ready() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await conn.execute(select(projection_checkpoint.c.name).limit(1))

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        connecting = asyncio.create_task(stream.connect())
        query_state = QueryState(settings=settings, engine=engine, stream=stream)
        if ingest:
            box = secret_box(settings)
            app.state.ingest = IngestState(
                settings=settings,
                stream=stream,
                publisher=Publisher(stream, settings.nats.subject_prefix, settings.nats.stream),
                directory=Directory(engine, box=box),
                box=box,
            )
        if query:
            app.state.query = query_state
        async with contextlib.AsyncExitStack() as stack:
            if ingest:
                from scrobbler.features import ingest_extensions

                for ingest_extension in ingest_extensions(settings):
                    await stack.enter_async_context(ingest_extension(app, query_state))
            for extension in extensions or []:
                await stack.enter_async_context(extension(app, query_state))
            # Extensions add readiness checks of their own (the cube: caught up with the stream).
            checks.update(query_state.extras.get("ready_checks", {}))
            try:
                yield
            finally:
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting
        await stream.close()
        await engine.dispose()

    checks: dict[str, Callable[[], Awaitable[None]]] = {"stream": stream_ready, "database": db_ready}
    routes: list[Any] = [*health_routes(checks), docs_redirect]
    if ingest:
        routes += ingest_routes()
    if query:
        routes += query_routes()
    routes += extra_routes or []
    if query:
        routes += web_routes(find_web_dist(web_dist))

    return Litestar(
        route_handlers=routes,
        lifespan=[lifespan],
        middleware=[RequestIdMiddleware],
        exception_handlers=exception_handlers,
        cors_config=CORSConfig(allow_origins=list(settings.http.cors_origins))
        if settings.http.cors_origins
        else None,
        request_max_body_size=settings.http.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Scrobbler",
            version="0.1.0",
            description="Self-hosted scrobble server: ingest, listens, statistics. Errors are"
            ' `{"error": ..., "detail": ...}`.',
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(path="/swagger"), RedocRenderPlugin(path="/redoc")],
        ),
        logging_config=None,
        debug=False,
    )


@get("/docs", include_in_schema=False, sync_to_thread=False)
def docs_redirect() -> Response[str]:
    """OpenAPI docs live under /schema; /docs is where the original product had them."""
    return Response("", status_code=307, headers={"Location": "/schema/swagger"})
