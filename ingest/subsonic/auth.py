"""Subsonic / OpenSubsonic authentication: ``u`` + ``t``/``s``, ``u`` + ``p`` (plain or ``enc:``), ``apiKey``.

Who may post without credentials (decided deliberately, see docs/clients.md): a user with a
password or a token must authenticate. A user with neither is accepted on ``u`` alone only while
no admin key is configured (the seed's open behaviour); with an admin key set, such a request is
refused with error 40. An OpenSubsonic ``apiKey`` is one of the user's API tokens.
"""

from __future__ import annotations

import hashlib

from ingest.credentials import Credentials, constant_time_equal
from ingest.subsonic.envelope import SubsonicError

__all__ = ["authenticate", "clear_password"]


def clear_password(p: str) -> str:
    """``p`` as sent: plain, or ``enc:`` + hex of its UTF-8 bytes."""
    if p.startswith("enc:"):
        try:
            return bytes.fromhex(p[4:]).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise SubsonicError(40, "Wrong username or password") from exc
    return p


async def authenticate(params: dict[str, str], creds: Credentials) -> str:
    """The authenticated user of a request, or a SubsonicError with the protocol's code."""
    api_key = params.get("apiKey")
    user = params.get("u")
    has_salt = "s" in params
    if api_key is not None:
        if user or "p" in params or has_salt:
            raise SubsonicError(43, "Multiple conflicting authentication mechanisms provided")
        owner = await creds.user_for_token(api_key)
        if owner is None:
            raise SubsonicError(44, "Invalid API key")
        return owner
    if not user:
        raise SubsonicError(10, "Required parameter is missing: u")
    if has_salt and "t" in params:
        password = await creds.password(user)
        if password is not None:
            expected = hashlib.md5((password + params["s"]).encode()).hexdigest()
            if constant_time_equal(params["t"].lower(), expected):
                return user
            raise SubsonicError(40, "Wrong username or password")
        if await creds.has_credentials(user):
            raise SubsonicError(41, "Token authentication not supported for this user: set a password")
    elif "p" in params:
        if await creds.check_password(user, clear_password(params["p"])):
            return user
        if await creds.has_credentials(user):
            raise SubsonicError(40, "Wrong username or password")
    if await creds.may_post_unauthenticated(user):
        return user
    raise SubsonicError(40, "Wrong username or password")
