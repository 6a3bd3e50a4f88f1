"""Operator endpoints for users, tokens and protocol passwords (the web UI's user page).

Each change is an event (``UserCreated``, ``TokenIssued``, ``TokenRevoked``, ``PasswordSet``);
a token is shown once, in the answer that created it, and only its SHA-256 is ever stored.
Guarded by the admin key (``X-Api-Key``) like every operator write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, post, put
from litestar.params import FromPath
from sqlalchemy import select

from ingest.admin import require_admin
from ingest.credentials import password_event, revoke_event, token_events, user_created
from ingest.protocol_state import protocol_state
from ingest.state import IngestState
from projector.tables import tokens
from schemas.types import UserName
from scrobbler.errors import BadRequest, NotFound

__all__ = ["user_routes"]

Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Label = Annotated[str, msgspec.Meta(max_length=128)]


class NewUser(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: UserName
    password: Password | None = None
    label: Label = ""


class NewToken(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    label: Label = ""


class NewPassword(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    password: Password


class IssuedTokenOut(msgspec.Struct, frozen=True):
    """The token in clear: shown this once only."""

    user: str
    token: str
    prefix: str


class Revoked(msgspec.Struct, frozen=True):
    user: str
    revoked: int


class PasswordChanged(msgspec.Struct, frozen=True):
    user: str
    password_set: bool = True


def _body(raw: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(str(exc)) from exc


async def _guard(request: Request[Any, Any, Any]) -> IngestState:
    state: IngestState = request.app.state.ingest
    await require_admin(request, state.settings.http.api_key, state.directory)
    return state


@post("/api/v1/users", status_code=201, tags=["users"], summary="Create a user; answers its first token")
async def create_user(request: Request[Any, Any, Any]) -> IssuedTokenOut:
    state = await _guard(request)
    body: NewUser = _body(await request.body(), NewUser)
    now = datetime.now(UTC)
    issued = token_events(body.name, now, label=body.label)
    events: list[Any] = [user_created(body.name, now), issued.event]
    if body.password:
        events.append(password_event(body.name, body.password, protocol_state(request).credentials.box, now))
    await state.publisher.publish_all(events)
    return IssuedTokenOut(user=body.name, token=issued.token, prefix=issued.event.prefix)


@post("/api/v1/users/{name:str}/tokens", status_code=201, tags=["users"], summary="Issue another token")
async def issue_token(request: Request[Any, Any, Any], name: FromPath[str]) -> IssuedTokenOut:
    state = await _guard(request)
    body: NewToken = _body(await request.body(), NewToken)
    issued = token_events(name, datetime.now(UTC), label=body.label)
    await state.publisher.publish_all([issued.event])
    return IssuedTokenOut(user=name, token=issued.token, prefix=issued.event.prefix)


@delete(
    "/api/v1/users/{name:str}/tokens/{prefix:str}",
    status_code=200,
    tags=["users"],
    summary="Revoke the user's tokens starting with this prefix",
)
async def revoke_tokens(
    request: Request[Any, Any, Any], name: FromPath[str], prefix: FromPath[str]
) -> Revoked:
    state = await _guard(request)
    if len(prefix) < 4:
        raise BadRequest("prefix: give at least 4 characters of the token")
    async with state.directory.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(tokens.c.token_sha256, tokens.c.prefix).where(
                    tokens.c.user_name == name, tokens.c.revoked_at.is_(None)
                )
            )
        ).all()
    shas = [sha for sha, shown in rows if shown.startswith(prefix[:8]) or prefix.startswith(shown)]
    if not shas:
        raise NotFound(f"prefix: {name!r} has no active token starting with {prefix!r}")
    now = datetime.now(UTC)
    await state.publisher.publish_all([revoke_event(name, sha, now) for sha in shas])
    protocol_state(request).credentials.forget()
    return Revoked(user=name, revoked=len(shas))


@put("/api/v1/users/{name:str}/password", tags=["users"], summary="Set the user's protocol password")
async def set_password(request: Request[Any, Any, Any], name: FromPath[str]) -> PasswordChanged:
    state = await _guard(request)
    body: NewPassword = _body(await request.body(), NewPassword)
    creds = protocol_state(request).credentials
    await state.publisher.publish_all([password_event(name, body.password, creds.box, datetime.now(UTC))])
    creds.forget()
    return PasswordChanged(user=name)


def user_routes() -> list[Any]:
    return [create_user, issue_token, revoke_tokens, set_password]
