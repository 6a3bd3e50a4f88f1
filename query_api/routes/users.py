"""``GET /api/v1/users``: users with their token prefixes and whether a protocol password is set."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, get
from sqlalchemy import select

from projector.tables import tokens, users
from query_api.state import QueryState
from scrobbler.errors import Unauthorized

__all__ = ["TokenOut", "UserOut", "list_users"]


class TokenOut(msgspec.Struct, frozen=True):
    prefix: str
    label: str
    created_at: datetime
    revoked_at: datetime | None = None


class UserOut(msgspec.Struct, frozen=True):
    name: str
    created_at: datetime
    has_password: bool
    tokens: list[TokenOut]


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@get(
    "/api/v1/users",
    tags=["users"],
    summary="Users, their token prefixes (never the tokens) and whether a password is set",
    description="Needs `X-Api-Key` when `SCROBBLER_API_KEY` is set.",
)
async def list_users(request: Request[Any, Any, Any]) -> list[UserOut]:
    state: QueryState = request.app.state.query
    key = state.settings.http.api_key
    if key and not hmac.compare_digest(request.headers.get("x-api-key", "").encode(), key.encode()):
        raise Unauthorized("X-Api-Key: required for this operation")
    async with state.engine.connect() as conn:
        user_rows = (await conn.execute(select(users).order_by(users.c.name))).all()
        token_rows = (
            await conn.execute(select(tokens).order_by(tokens.c.user_name, tokens.c.created_at))
        ).all()
    by_user: dict[str, list[TokenOut]] = {}
    for t in token_rows:
        by_user.setdefault(t.user_name, []).append(
            TokenOut(
                prefix=t.prefix,
                label=t.label or "",
                created_at=_utc(t.created_at),  # type: ignore[arg-type]
                revoked_at=_utc(t.revoked_at),
            )
        )
    return [
        UserOut(
            name=u.name,
            created_at=_utc(u.created_at),  # type: ignore[arg-type]
            has_password=u.password_enc is not None,
            tokens=by_user.get(u.name, []),
        )
        for u in user_rows
    ]
