"""``GET /api/v1/config``: runtime configuration with secrets masked."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from sqlalchemy import select

from projector.tables import config
from query_api.state import QueryState
from schemas.config_keys import CONFIG_KEYS

__all__ = ["MASK", "get_config"]

MASK = "********"
"""What a set secret reads as; its value never leaves the server."""


@get(
    "/api/v1/config",
    tags=["config"],
    summary="Runtime configuration (secrets masked)",
    description=(
        "Every config key with its value or default; a secret that is set reads `********`, unset `null`."
    ),
)
async def get_config(request: Request[Any, Any, Any]) -> dict[str, str | None]:
    state: QueryState = request.app.state.query
    async with state.engine.connect() as conn:
        stored = {k: v for k, v in await conn.execute(select(config.c.key, config.c.value))}
    out: dict[str, str | None] = {}
    for name, spec in CONFIG_KEYS.items():
        value = stored.get(name) or ""
        if spec.secret:
            out[name] = MASK if value else None
        else:
            out[name] = value or spec.default
    return out
