"""ListenBrainz-compatible writes at the root path: submit, validate the token, delete, latest import.

Clients drop path prefixes from the URL they are given, so these answer at ``/1/...``. A request
may come without a Content-Type (liblistenbrainz sends none): the body is read as JSON anyway.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, post
from litestar.params import QueryParameter

from ingest.listenbrainz.http import RateLimitMiddleware, auth_token, lb_exception_handlers
from ingest.listenbrainz.latest_import import get_latest_import, set_latest_import
from ingest.listenbrainz.payload import decode_submission, listen_events, now_playing_entry
from ingest.protocol_state import protocol_state
from ingest.state import IngestState
from schemas.events import ListensDeleted
from scrobbler.errors import BadRequest, Unauthorized
from scrobbler.http import read_body

__all__ = ["listenbrainz_router"]


class Status(msgspec.Struct, frozen=True):
    status: str = "ok"


class TokenValidity(msgspec.Struct, frozen=True, omit_defaults=True):
    code: int
    message: str
    valid: bool
    user_name: str | None = None


class DeleteListen(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    listened_at: int
    recording_msid: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F-]{32,36}$")]


class LatestImport(msgspec.Struct, frozen=True):
    musicbrainz_id: str
    latest_import: int


class LatestImportIn(msgspec.Struct, frozen=True):
    ts: Annotated[int, msgspec.Meta(ge=0)]
    service: str = "lastfm"


async def _user(request: Request[Any, Any, Any]) -> str:
    token = auth_token(request)
    if token is None:
        raise Unauthorized("You need to provide an Authorization header.")
    user = await protocol_state(request).credentials.user_for_token(token)
    if user is None:
        raise Unauthorized("Invalid authorization token.")
    return user


def _decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid JSON document: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Cannot parse JSON document: {exc}") from exc


@post(
    "/submit-listens",
    status_code=200,
    summary="Submit listens (ListenBrainz `single`, `playing_now`, `import`)",
    description=(
        "Body `{listen_type, payload: [{listened_at, track_metadata: {artist_name, track_name, release_name,"
        " additional_info}}]}` with `Authorization: Token <token>`. ListenBrainz's limits: 1000 listens,"
        " 10,240 bytes per listen, 10,240,000 per request. A listen sent twice is stored once."
    ),
)
async def submit_listens(request: Request[Any, Any, Any]) -> Status:
    user = await _user(request)
    decoded = decode_submission(await read_body(request))
    now = datetime.now(UTC)
    if decoded.listen_type == "playing_now":
        await protocol_state(request).now_playing.set(now_playing_entry(decoded, user=user, now=now))
        return Status()
    state: IngestState = request.app.state.ingest
    await state.publisher.publish_all(listen_events(decoded, user=user, received_at=now))
    return Status()


@get("/validate-token", summary="Is this token valid, and whose is it")
async def validate_token(
    request: Request[Any, Any, Any], token: Annotated[str | None, QueryParameter()] = None
) -> TokenValidity:
    given = auth_token(request) or token
    if not given:
        raise BadRequest("You need to provide an Authorization token.")
    user = await protocol_state(request).credentials.user_for_token(given)
    if user is None:
        return TokenValidity(code=200, message="Token invalid.", valid=False)
    return TokenValidity(code=200, message="Token valid.", valid=True, user_name=user)


@post("/delete-listen", status_code=200, summary="Delete one listen (by listened_at and recording_msid)")
async def delete_listen(request: Request[Any, Any, Any]) -> Status:
    user = await _user(request)
    body: DeleteListen = _decode(await request.body(), DeleteListen)
    at = datetime.fromtimestamp(body.listened_at, tz=UTC)
    state: IngestState = request.app.state.ingest
    event = ListensDeleted(
        event_id=uuid.uuid4().hex,
        occurred_at=datetime.now(UTC),
        user=user,
        since=at,
        until=datetime.fromtimestamp(body.listened_at + 1, tz=UTC),
        listen_ids=(body.recording_msid.lower(),),
    )
    await state.publisher.publish_all([event])
    return Status()


@post(
    "/latest-import", status_code=200, summary="Set the newest imported listen's time (importers' bookmark)"
)
async def post_latest_import(request: Request[Any, Any, Any]) -> Status:
    user = await _user(request)
    body: LatestImportIn = _decode(await request.body(), LatestImportIn)
    state: IngestState = request.app.state.ingest
    await set_latest_import(state.stream, user, body.ts)
    return Status()


@get("/latest-import", summary="The newest imported listen's time of a user (importers' bookmark)")
async def get_latest_import_ts(
    request: Request[Any, Any, Any], user_name: Annotated[str, QueryParameter(min_length=1)]
) -> LatestImport:
    state: IngestState = request.app.state.ingest
    return LatestImport(
        musicbrainz_id=user_name, latest_import=await get_latest_import(state.stream, user_name)
    )


def listenbrainz_router() -> Router:
    """The ingest side of the ListenBrainz API under ``/1``."""
    return Router(
        path="/1",
        route_handlers=[
            submit_listens,
            validate_token,
            delete_listen,
            post_latest_import,
            get_latest_import_ts,
        ],
        tags=["listenbrainz"],
        exception_handlers=lb_exception_handlers,
        middleware=[RateLimitMiddleware],
    )
