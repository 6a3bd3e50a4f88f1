"""The admin guard of operator writes.

With an admin key configured (``SCROBBLER_API_KEY``, or the ``api_key`` config key), a request
must carry it in ``X-Api-Key`` (compared in constant time). With none configured, operator
writes are accepted from the loopback interface only, so a fresh ``make run`` works on the
machine itself while an exposed server is never open to anyone.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request

from ingest.directory import Directory
from scrobbler.errors import Forbidden, Unauthorized

__all__ = ["require_admin"]

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


async def require_admin(request: Request[Any, Any, Any], env_key: str, directory: Directory) -> None:
    """Raise 401/403 unless the request may perform an operator write."""
    keys = [k for k in (env_key, await directory.config_value("api_key")) if k]
    given = request.headers.get("x-api-key", "")
    if keys:
        if not given:
            raise Unauthorized("X-Api-Key: required for this operation")
        if not any(hmac.compare_digest(given.encode(), k.encode()) for k in keys):
            raise Unauthorized("X-Api-Key: wrong key")
        return
    client = request.client.host if request.client else ""
    if client not in _LOOPBACK:
        raise Forbidden(
            "no admin key is configured: operator writes are only accepted from this machine;"
            " set SCROBBLER_API_KEY to allow them remotely"
        )
