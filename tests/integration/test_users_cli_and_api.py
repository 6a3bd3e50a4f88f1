"""Users and credentials: the ``scrobbler user`` commands and the admin HTTP endpoints."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrobbler.embedded_nats import EmbeddedNats, start_embedded
from scrobbler.settings import NatsSettings
from tests.conftest import Stack, make_settings, running_stack
from tests.integration.users_support import add_user, wait_token, wait_users

SCROBBLER = str(Path(sys.executable).parent / "scrobbler")


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A server of its own: the CLI publishes on the default subjects, which no other test may claim."""
    server = start_embedded(tmp_path / "nats-own", sync_interval="1s")
    yield server
    server.stop()


async def cli(env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        SCROBBLER,
        "user",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode().strip()


async def valid(stack: Stack, token: str) -> bool:
    r = await stack.client.get("/1/validate-token", headers={"Authorization": f"Token {token}"})
    return bool(r.json()["valid"])


async def test_cli_add_token_list_revoke_password(tmp_path: Path, own_nats: EmbeddedNats) -> None:
    base = make_settings(tmp_path, own_nats.url)
    settings = base.replace(nats=NatsSettings(url=own_nats.url, publish_timeout_s=5.0))
    env = {
        "SCROBBLER_NATS_URL": own_nats.url,
        "SCROBBLER_DB_DSN": settings.db.dsn,
        "SCROBBLER_DATA_DIR": str(tmp_path),
        "SCROBBLER_LOG_LEVEL": "WARNING",
    }
    async with running_stack(settings) as s:
        first = await cli(env, "add", "carol", "--password", "pw1")
        assert len(first) == 40
        await wait_token(s, first)
        second = await cli(env, "token", "carol", "--label", "phone")
        await wait_token(s, second)
        listing = await cli(env, "list")
        assert listing.startswith("carol\tpassword\ttokens: ")
        assert first[:8] in listing
        assert second[:8] in listing
        # The password set by the CLI works for Subsonic (same server secret from the data dir).
        ping = await s.client.get("/rest/ping", params={"u": "carol", "p": "pw1", "f": "json"})
        assert ping.json()["subsonic-response"]["status"] == "ok"
        await cli(env, "revoke", "carol", first[:8])
        for _ in range(300):
            if not await valid(s, first):
                break
            await asyncio.sleep(0.05)
        assert not await valid(s, first)
        assert await valid(s, second)
        await cli(env, "password", "carol", "--password", "pw2")
        for _ in range(300):
            r = await s.client.get("/rest/ping", params={"u": "carol", "p": "pw2", "f": "json"})
            if r.json()["subsonic-response"]["status"] == "ok":
                break
            await asyncio.sleep(0.05)
        assert r.json()["subsonic-response"]["status"] == "ok"


async def test_admin_endpoints(stack: Stack) -> None:
    token = await add_user(stack, "dave", password="pw")
    r = await stack.client.post("/api/v1/users/dave/tokens", json={"label": "car"})
    assert r.status_code == 201
    other = r.json()["token"]
    assert r.json()["prefix"] == other[:8]
    await wait_token(stack, other)
    users = await wait_users(stack, lambda us: len(us[0]["tokens"]) == 2)
    assert [(u["name"], u["has_password"]) for u in users] == [("dave", True)]
    assert sorted(t["label"] for t in users[0]["tokens"]) == ["", "car"]
    assert all("token" not in t for t in users[0]["tokens"])
    r = await stack.client.delete(f"/api/v1/users/dave/tokens/{token[:8]}")
    assert r.status_code == 200
    assert r.json() == {"user": "dave", "revoked": 1}
    for _ in range(300):
        if not await valid(stack, token):
            break
        await asyncio.sleep(0.05)
    assert not await valid(stack, token)
    assert await valid(stack, other)
    assert (await stack.client.delete("/api/v1/users/dave/tokens/ffffffff")).status_code == 404
    r = await stack.client.put("/api/v1/users/dave/password", json={"password": "new"})
    assert r.status_code == 200
    bad = await stack.client.post("/api/v1/users", json={"name": "a/b"})
    assert bad.status_code == 400


async def test_admin_key_guards_user_endpoints(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    async with running_stack(make_settings(tmp_path, nats_server.url, api_key="k")) as s:
        assert (await s.client.post("/api/v1/users", json={"name": "e"})).status_code == 401
        wrong = await s.client.post("/api/v1/users", json={"name": "e"}, headers={"X-Api-Key": "x"})
        assert wrong.status_code == 401
        ok = await s.client.post("/api/v1/users", json={"name": "e"}, headers={"X-Api-Key": "k"})
        assert ok.status_code == 201
