"""Creating users through the admin API and waiting until ingest knows them (projector lag)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Stack


async def wait_token(stack: Stack, token: str, timeout: float = 15.0) -> None:
    """Until ``/1/validate-token`` accepts the token (the projector has folded TokenIssued)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        r = await stack.client.get("/1/validate-token", headers={"Authorization": f"Token {token}"})
        if r.json().get("valid"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("token never became valid")


async def wait_users(
    stack: Stack, predicate: Any, timeout: float = 15.0, **headers: str
) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        users = (await stack.client.get("/api/v1/users", headers=headers)).json()
        if predicate(users) or asyncio.get_running_loop().time() > deadline:
            return users  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)


async def add_user(stack: Stack, name: str, password: str | None = None, **headers: str) -> str:
    """Create a user (with an optional protocol password); returns its token once it works."""
    body: dict[str, Any] = {"name": name}
    if password is not None:
        body["password"] = password
    r = await stack.client.post("/api/v1/users", json=body, headers=headers)
    assert r.status_code == 201, r.text
    token = str(r.json()["token"])
    await wait_token(stack, token)
    if password is not None:
        await wait_users(
            stack, lambda us: any(u["name"] == name and u["has_password"] for u in us), **headers
        )
    return token
