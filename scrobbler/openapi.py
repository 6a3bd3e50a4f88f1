"""Print the OpenAPI document of the all-in-one app (the web UI generates its API types from it)."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from scrobbler.app import create_app
from scrobbler.features import query_extensions, query_extra_routes
from scrobbler.settings import Settings


def openapi_json() -> bytes:
    settings = Settings.from_env({"SCROBBLER_DATA_DIR": "/nonexistent"})
    app = create_app(
        settings,
        "nats://127.0.0.1:1",
        extensions=query_extensions(settings),
        extra_routes=query_extra_routes(),
    )
    return msgspec.json.format(msgspec.json.encode(app.openapi_schema.to_schema()), indent=2)


if __name__ == "__main__":
    out = openapi_json()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_bytes(out + b"\n")
    else:
        sys.stdout.buffer.write(out + b"\n")
