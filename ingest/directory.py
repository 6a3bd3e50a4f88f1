"""What ingest needs to know of the read model (config, users, tokens), cached for a moment.

Ingest stays stateless: it reads the SQL read model the projector keeps, through a short
cache, so a config change or a new token is honoured within ``ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.single_flight import shared_load
from projector.tables import config, tokens, users
from schemas.config_keys import CONFIG_KEYS
from scrobbler.secrets import SecretBox

__all__ = ["DEFAULT_USER", "Directory", "token_sha256"]

DEFAULT_USER = "default"
"""The user of a scrobble that names none while the ``default_user`` config key is unset."""


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Directory:
    engine: AsyncEngine
    box: SecretBox | None = None
    ttl: float = 2.0
    _cache: dict[str, tuple[float, object]] = field(default_factory=dict)
    _loading: dict[str, asyncio.Future[object]] = field(default_factory=dict)

    async def _cached(self, key: str, load: Callable[[], Awaitable[object]]) -> object:
        """The value of ``key``, loaded at most once per ``ttl`` however many requests ask at once."""
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]

        async def load_and_keep() -> object:
            value = await load()
            self._cache[key] = (time.monotonic(), value)
            return value

        return await shared_load(self._loading, key, load_and_keep)

    def forget(self) -> None:
        self._cache.clear()

    async def config_values(self) -> dict[str, tuple[str, bool]]:
        """Every runtime config key with its (stored) value and whether it is secret."""

        async def load() -> dict[str, tuple[str, bool]]:
            try:
                async with self.engine.connect() as conn:
                    rows = await conn.execute(select(config.c.key, config.c.value, config.c.secret))
                    return {k: (v, bool(s)) for k, v, s in rows}
            except SQLAlchemyError:
                return {}

        return await self._cached("config", load)  # type: ignore[return-value]

    async def config_value(self, key: str) -> str:
        """A config key's value in clear (secrets decrypted), or its default when unset."""
        stored = (await self.config_values()).get(key)
        if stored is None or stored[0] == "":
            spec = CONFIG_KEYS.get(key)
            return spec.default if spec else ""
        value, secret = stored
        if secret and self.box is not None:
            return self.box.decrypt(value)
        return value

    async def default_user(self) -> str:
        value = (await self.config_values()).get("default_user")
        return value[0] if value and value[0] else DEFAULT_USER

    async def user_for_token(self, token: str) -> str | None:
        """The user owning an unrevoked token, or None."""
        sha = token_sha256(token)

        async def load() -> str | None:
            async with self.engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(tokens.c.user_name, tokens.c.revoked_at).where(tokens.c.token_sha256 == sha)
                    )
                ).first()
            return row[0] if row is not None and row[1] is None else None

        return await self._cached(f"token:{sha}", load)  # type: ignore[return-value]

    async def password_enc(self, user: str) -> str | None:
        """A user's encrypted protocol password, or None (no such user, or none set)."""

        async def load() -> str | None:
            async with self.engine.connect() as conn:
                return (
                    await conn.execute(select(users.c.password_enc).where(users.c.name == user))
                ).scalar_one_or_none()

        return await self._cached(f"password:{user}", load)  # type: ignore[return-value]

    async def user_exists(self, user: str) -> bool:
        async def load() -> bool:
            async with self.engine.connect() as conn:
                return (
                    await conn.execute(select(users.c.name).where(users.c.name == user))
                ).first() is not None

        return await self._cached(f"user:{user}", load)  # type: ignore[return-value]
