"""``PUT /api/v1/config``: change runtime configuration keys (each change is an event)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, put

from ingest.admin import require_admin
from ingest.state import IngestState
from schemas.config_keys import CONFIG_KEYS
from schemas.events import ConfigChanged
from scrobbler.errors import BadRequest

__all__ = ["ConfigUpdated", "put_config"]

_BODY = msgspec.json.Decoder(dict[str, str | int | bool | None])


class ConfigUpdated(msgspec.Struct, frozen=True):
    """The keys changed; values of secret keys are never echoed."""

    updated: list[str]


@put(
    "/api/v1/config",
    tags=["config"],
    summary="Set runtime configuration keys",
    description=(
        "Body: `{key: value, ...}` with keys " + ", ".join(f"`{k}`" for k in CONFIG_KEYS) + "."
        " `null` or an empty string resets a key to its default. Secret keys are encrypted before they"
        " reach the event stream. Needs the admin key (X-Api-Key) when one is configured."
    ),
)
async def put_config(request: Request[Any, Any, Any]) -> ConfigUpdated:
    state: IngestState = request.app.state.ingest
    await require_admin(request, state.settings.http.api_key, state.directory)
    try:
        body = _BODY.decode(await request.body())
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(f"expected a JSON object of config keys to values: {exc}") from exc
    if not body:
        raise BadRequest("no config keys given")
    now = datetime.now(UTC)
    events: list[ConfigChanged] = []
    for key, raw in body.items():
        spec = CONFIG_KEYS.get(key)
        if spec is None:
            raise BadRequest(f"{key}: unknown config key; known: {', '.join(CONFIG_KEYS)}")
        value = "" if raw is None else str(raw).lower() if isinstance(raw, bool) else str(raw)
        if value:
            try:
                value = spec.check(value.strip())
            except ValueError as exc:
                raise BadRequest(f"{key}: {exc}") from exc
        stored = state.box.encrypt(value) if spec.secret and value else value
        events.append(
            ConfigChanged(
                event_id=uuid.uuid4().hex, occurred_at=now, key=key, value=stored, secret=spec.secret
            )
        )
    await state.publisher.publish_all(events)
    state.directory.forget()
    return ConfigUpdated(updated=[e.key for e in events])
