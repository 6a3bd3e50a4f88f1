"""The ingest-single ceiling: a bare Litestar hello-world served exactly like our apps (``serve_http``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, get, post

from scrobbler.serve import serve_http
from scrobbler.settings import DbSettings, HttpSettings, NatsSettings, Settings

__all__ = ["app", "main"]


@post("/api/v1/scrobble", status_code=202)
async def hello(request: Request[Any, Any, Any]) -> dict[str, str]:
    await request.body()
    return {"hello": "world"}


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar(route_handlers=[hello, healthz], logging_config=None, debug=False)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.hello")
    p.add_argument("--port", type=int, required=True)
    port = p.parse_args().port
    settings = Settings(
        data_dir=Path("."),
        nats=NatsSettings(),
        db=DbSettings(dsn="sqlite+aiosqlite:///:memory:", duckdb_path=Path("unused.duckdb")),
        http=HttpSettings(host="127.0.0.1", port=port),
    )
    serve_http(app, settings)


if __name__ == "__main__":
    main()
