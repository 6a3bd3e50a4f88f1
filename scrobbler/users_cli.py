"""``scrobbler user add|token|list|revoke|password``: users and their credentials, as events.

Each command publishes its events (``UserCreated``, ``TokenIssued``, ``TokenRevoked``,
``PasswordSet``) to the stream of the server run with the same environment (or an embedded one it
starts), waits for the acknowledgement, and prints the new token. Tokens are shown once: only their
SHA-256 is stored. ``list`` and ``revoke`` read the SQL read model the projector keeps.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import select

from ingest.credentials import password_event, revoke_event, token_events, user_created
from ingest.publish import Publisher
from projector.db import create_engine
from projector.tables import tokens, users
from scrobbler.cli_env import command_settings as _settings
from scrobbler.embedded_nats import running_embedded
from scrobbler.secrets import secret_box
from scrobbler.settings import Settings
from scrobbler.stream import StreamClient

__all__ = ["user_group"]


async def _publish(settings: Settings, url: str, events: list[Any]) -> None:
    client = StreamClient(url, settings.nats, name="scrobbler-cli")
    await asyncio.wait_for(client.connect(), 15)
    try:
        await Publisher(client, settings.nats.subject_prefix, settings.nats.stream).publish_all(events)
    finally:
        await client.close()


def _send(settings: Settings, events: list[Any]) -> None:
    with running_embedded(settings) as url:
        asyncio.run(_publish(settings, url, events))


async def _rows(settings: Settings) -> tuple[list[Any], list[Any]]:
    engine = create_engine(settings.db.dsn)
    try:
        async with engine.connect() as conn:
            return (
                list((await conn.execute(select(users).order_by(users.c.name))).all()),
                list((await conn.execute(select(tokens).order_by(tokens.c.created_at))).all()),
            )
    finally:
        await engine.dispose()


@click.group("user")
def user_group() -> None:
    """Users, API tokens and protocol passwords."""


@user_group.command("add")
@click.argument("name")
@click.option("--password", default=None, help="Protocol password (Subsonic, Last.fm clients).")
@click.option("--label", default="", help="What the token is for.")
def add(name: str, password: str | None, label: str) -> None:
    """Create a user and print its first token."""
    settings = _settings()
    now = datetime.now(UTC)
    issued = token_events(name, now, label=label)
    events: list[Any] = [user_created(name, now), issued.event]
    if password:
        events.append(password_event(name, password, secret_box(settings), now))
    _send(settings, events)
    click.echo(issued.token)


@user_group.command("token")
@click.argument("name")
@click.option("--label", default="", help="What the token is for.")
def token(name: str, label: str) -> None:
    """Issue another token for a user and print it (earlier tokens stay valid)."""
    settings = _settings()
    issued = token_events(name, datetime.now(UTC), label=label)
    _send(settings, [issued.event])
    click.echo(issued.token)


@user_group.command("password")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def password(name: str, password: str) -> None:
    """Set a user's protocol password (kept encrypted with the server secret)."""
    settings = _settings()
    _send(settings, [password_event(name, password, secret_box(settings), datetime.now(UTC))])
    click.echo(f"password set for {name}")


@user_group.command("revoke")
@click.argument("name")
@click.argument("prefix")
def revoke(name: str, prefix: str) -> None:
    """Revoke the user's tokens that start with PREFIX (see ``scrobbler user list``)."""
    settings = _settings()
    _, token_rows = asyncio.run(_rows(settings))
    shas = [
        t.token_sha256
        for t in token_rows
        if t.user_name == name
        and t.revoked_at is None
        and (t.prefix.startswith(prefix) or prefix.startswith(t.prefix))
    ]
    if not shas:
        raise click.ClickException(f"{name} has no active token starting with {prefix!r}")
    now = datetime.now(UTC)
    _send(settings, [revoke_event(name, sha, now) for sha in shas])
    click.echo(f"revoked {len(shas)} token(s) of {name}")


@user_group.command("list")
def list_users() -> None:
    """Users, their token prefixes and whether a password is set."""
    settings = _settings()
    user_rows, token_rows = asyncio.run(_rows(settings))
    for u in user_rows:
        active = [t.prefix for t in token_rows if t.user_name == u.name and t.revoked_at is None]
        pw = "password" if u.password_enc else "no password"
        click.echo(f"{u.name}\t{pw}\ttokens: {', '.join(active) or '-'}")
