"""Users' credentials: API tokens (stored as SHA-256 only) and protocol passwords (encrypted at rest).

Tokens and passwords are events like everything else (``TokenIssued``, ``TokenRevoked``,
``PasswordSet``); the projector folds them into the ``users`` and ``tokens`` tables, and this
module reads those tables back through a short positive cache. Misses are never cached: a token
issued a moment ago works as soon as the projector has written it.

Subsonic's salted-token auth (``t = md5(password + s)``) and Last.fm's ``authToken`` need the
password itself, so passwords are kept encrypted (Fernet, see :mod:`scrobbler.secrets`) rather
than hashed; tokens only ever need comparing, so only their SHA-256 is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from projector.tables import config, tokens, users
from schemas.events import PasswordSet, TokenIssued, TokenRevoked, UserCreated
from scrobbler.secrets import SecretBox

__all__ = [
    "TOKEN_PREFIX_LEN",
    "Credentials",
    "IssuedToken",
    "constant_time_equal",
    "new_token",
    "password_event",
    "revoke_event",
    "token_events",
    "token_sha256",
    "user_created",
]

TOKEN_PREFIX_LEN = 8
"""How many leading characters of a token are kept in clear to tell tokens apart."""


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def constant_time_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def new_token() -> str:
    """A fresh random token: 40 hex characters (160 bits), safe in headers, URLs and forms."""
    return secrets.token_hex(20)


@dataclass(frozen=True)
class IssuedToken:
    """A token in clear (shown once) and the event that records only its hash."""

    token: str
    event: TokenIssued


def user_created(user: str, now: datetime) -> UserCreated:
    return UserCreated(event_id=uuid.uuid4().hex, occurred_at=now, user=user)


def token_events(user: str, now: datetime, *, label: str = "", token: str | None = None) -> IssuedToken:
    """A new token for ``user`` and its ``TokenIssued`` event."""
    clear = token or new_token()
    return IssuedToken(
        token=clear,
        event=TokenIssued(
            event_id=uuid.uuid4().hex,
            occurred_at=now,
            user=user,
            token_sha256=token_sha256(clear),
            prefix=clear[:TOKEN_PREFIX_LEN],
            label=label,
        ),
    )


def revoke_event(user: str, sha: str, now: datetime) -> TokenRevoked:
    return TokenRevoked(event_id=uuid.uuid4().hex, occurred_at=now, user=user, token_sha256=sha)


def password_event(user: str, password: str, box: SecretBox, now: datetime) -> PasswordSet:
    """The ``PasswordSet`` event: the password encrypted with the server secret, never in clear."""
    return PasswordSet(
        event_id=uuid.uuid4().hex, occurred_at=now, user=user, password_enc=box.encrypt(password)
    )


@dataclass
class Credentials:
    """Token and password checks against the SQL read model (positive answers cached ``ttl`` s)."""

    engine: AsyncEngine
    box: SecretBox
    env_admin_key: str = ""
    ttl: float = 2.0
    _cache: dict[str, tuple[float, Any]] = field(default_factory=dict)

    def _hit(self, key: str) -> Any:
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return None

    def _keep(self, key: str, value: Any) -> Any:
        if value is not None:
            self._cache[key] = (time.monotonic(), value)
        return value

    def forget(self) -> None:
        self._cache.clear()

    async def user_for_token(self, token: str) -> str | None:
        """The user owning an unrevoked token, or None."""
        if not token:
            return None
        sha = token_sha256(token)
        key = f"token:{sha}"
        cached = self._hit(key)
        if cached is not None:
            return str(cached)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(tokens.c.user_name, tokens.c.revoked_at).where(tokens.c.token_sha256 == sha)
                )
            ).first()
        return self._keep(key, row[0] if row is not None and row[1] is None else None)  # type: ignore[no-any-return]

    async def password(self, user: str) -> str | None:
        """A user's protocol password in clear, or None when none is set."""
        key = f"password:{user}"
        cached = self._hit(key)
        if cached is None:
            async with self.engine.connect() as conn:
                cached = self._keep(
                    key,
                    (
                        await conn.execute(select(users.c.password_enc).where(users.c.name == user))
                    ).scalar_one_or_none(),
                )
        if cached is None:
            return None
        try:
            return self.box.decrypt(str(cached))
        except ValueError:
            return None

    async def has_credentials(self, user: str) -> bool:
        """True when the user has a password or an unrevoked token: then every protocol asks for them."""
        key = f"guarded:{user}"
        if self._hit(key):
            return True
        async with self.engine.connect() as conn:
            has_password = (
                await conn.execute(select(users.c.password_enc).where(users.c.name == user))
            ).scalar_one_or_none() is not None
            has_token = (
                has_password
                or (
                    await conn.execute(
                        select(tokens.c.token_sha256)
                        .where(tokens.c.user_name == user, tokens.c.revoked_at.is_(None))
                        .limit(1)
                    )
                ).first()
                is not None
            )
        return bool(self._keep(key, True if has_token else None))

    async def admin_key_set(self) -> bool:
        """True when an admin key is configured (env or the ``api_key`` config key): then no open mode."""
        if self.env_admin_key:
            return True
        cached = self._hit("admin")
        if cached is not None:
            return bool(cached)
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(select(config.c.value).where(config.c.key == "api_key"))
            ).scalar_one_or_none()
        return bool(self._keep("admin", bool(value)))

    async def may_post_unauthenticated(self, user: str) -> bool:
        """Open mode: no admin key configured and the user has no credentials (the seed's behaviour)."""
        return not await self.admin_key_set() and not await self.has_credentials(user)

    async def check_password(self, user: str, given: str) -> bool:
        """The password, or one of the user's tokens given as a password, in constant time."""
        stored = await self.password(user)
        if stored is not None and constant_time_equal(given, stored):
            return True
        return await self.user_for_token(given) == user
