"""Last.fm answers: ``<lfm status="ok">`` XML (the default) or JSON (``format=json``), and its errors."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

import msgspec
from litestar import Response

__all__ = ["ERROR_STATUS", "LastfmError", "render", "render_error"]

_JSON = msgspec.json.Encoder()

ERROR_STATUS = {2: 400, 3: 400, 4: 403, 6: 400, 9: 403, 10: 403, 11: 503, 13: 403, 16: 503, 26: 403, 29: 429}
"""HTTP status of each Last.fm error code (the code in the body is what clients read)."""


class LastfmError(Exception):
    """2 invalid service, 3 invalid method, 4 auth failed, 6 invalid parameters, 9 invalid session key,
    10 invalid API key, 11 offline, 13 invalid signature, 16 temporarily unavailable, 29 rate limit."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _xml(name: str, value: Any) -> str:
    """``{"@attr": {...}, "#text": str, child: dict | list | scalar}`` as Last.fm nests it."""
    if isinstance(value, list):
        return "".join(_xml(name, v) for v in value)
    if not isinstance(value, dict):
        return f"<{name}>{escape('' if value is None else str(value))}</{name}>"
    attrs = "".join(f" {k}={quoteattr(str(v))}" for k, v in (value.get("@attr") or {}).items())
    inner = escape(str(value["#text"])) if "#text" in value else ""
    inner += "".join(_xml(k, v) for k, v in value.items() if k not in ("@attr", "#text"))
    return f"<{name}{attrs}>{inner}</{name}>"


def render(params: dict[str, str], body: dict[str, Any], status: int = 200) -> Response[bytes]:
    if params.get("format") == "json":
        return Response(_JSON.encode(body), status_code=status, media_type="application/json")
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<lfm status="ok">'
        + "".join(_xml(k, v) for k, v in body.items())
        + "</lfm>"
    )
    return Response(xml.encode(), status_code=status, media_type="text/xml; charset=utf-8")


def render_error(
    params: dict[str, str], error: LastfmError, headers: dict[str, str] | None = None
) -> Response[bytes]:
    status = ERROR_STATUS.get(error.code, 400)
    if params.get("format") == "json":
        return Response(
            _JSON.encode({"error": error.code, "message": error.message}),
            status_code=status,
            media_type="application/json",
            headers=headers,
        )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<lfm status="failed">'
        f'<error code="{error.code}">{escape(error.message)}</error></lfm>'
    )
    return Response(xml.encode(), status_code=status, media_type="text/xml; charset=utf-8", headers=headers)
