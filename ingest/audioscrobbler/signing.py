"""``api_sig`` checks and session keys of the Audioscrobbler 2.0 protocol.

``api_sig`` = md5 of every parameter but ``format``, ``callback`` and ``api_sig`` itself, sorted
by name, as name+value, followed by the client's shared secret. The secret belongs to the
client's API key: keys registered in ``SCROBBLER_LASTFM_API_KEYS`` (``key:secret,...``) must
sign every request correctly (error 13); with none registered, any key is accepted and the
signature cannot be checked (the session key is then the credential, as with Maloja).

Session keys are derived, not stored: ``<user hex>.<hmac(password, user)>``, so every replica
can verify them at once and changing the password revokes them. A user's API token works as a
session key too (and as the password in ``auth.getMobileSession``).
"""

from __future__ import annotations

import hashlib
import hmac

from ingest.audioscrobbler.answers import LastfmError
from ingest.credentials import Credentials, constant_time_equal

__all__ = ["check_signature", "login", "session_key", "signature", "user_for_session"]


def signature(params: dict[str, str], secret: str) -> str:
    text = "".join(f"{k}{params[k]}" for k in sorted(params) if k not in ("format", "callback", "api_sig"))
    return hashlib.md5((text + secret).encode("utf-8")).hexdigest()


def check_signature(params: dict[str, str], keys: dict[str, str], *, required: bool) -> None:
    """Raise error 10 for an unknown key (when keys are registered) or 13 for a wrong signature."""
    api_key = params.get("api_key", "")
    if not api_key:
        raise LastfmError(10, "Invalid API key - You must be granted a valid key by last.fm")
    if not keys:
        return
    secret = keys.get(api_key)
    if secret is None:
        raise LastfmError(10, "Invalid API key - You must be granted a valid key by last.fm")
    given = params.get("api_sig", "")
    if not given:
        if required:
            raise LastfmError(13, "Invalid method signature supplied")
        return
    if not constant_time_equal(given.lower(), signature(params, secret)):
        raise LastfmError(13, "Invalid method signature supplied")


def session_key(user: str, password: str) -> str:
    mac = hmac.new(password.encode(), f"lastfm-session:{user}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{user.encode().hex()}.{mac}"


async def user_for_session(sk: str, creds: Credentials) -> str:
    """The user a session key belongs to, or error 9."""
    head, dot, _ = sk.partition(".")
    if dot:
        try:
            user = bytes.fromhex(head).decode()
        except (ValueError, UnicodeDecodeError):
            user = ""
        password = await creds.password(user) if user else None
        if password is not None and constant_time_equal(sk, session_key(user, password)):
            return user
    owner = await creds.user_for_token(sk)
    if owner is None:
        raise LastfmError(9, "Invalid session key - Please re-authenticate")
    return owner


async def login(username: str, password: str | None, auth_token: str | None, creds: Credentials) -> str:
    """``auth.getMobileSession``: a session key for the password (or a token), or error 4."""
    stored = await creds.password(username)
    if password is not None:
        if stored is not None and constant_time_equal(password, stored):
            return session_key(username, stored)
        if await creds.user_for_token(password) == username:
            return password
    elif auth_token is not None and stored is not None:
        # pylast and others send authToken = md5(username + md5(password)) instead of the password.
        inner = hashlib.md5(stored.encode()).hexdigest()
        expected = hashlib.md5((username + inner).encode()).hexdigest()
        if constant_time_equal(auth_token.lower(), expected):
            return session_key(username, stored)
    raise LastfmError(4, "Authentication Failed - You do not have permissions to access the service")
