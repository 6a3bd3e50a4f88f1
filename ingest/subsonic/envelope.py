"""The ``subsonic-response`` envelope in XML, JSON and JSONP; failures keep HTTP 200."""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import quoteattr

import msgspec
from litestar import Response

__all__ = ["API_VERSION", "SERVER_NAME", "SERVER_VERSION", "SubsonicError", "render"]

API_VERSION = "1.16.1"
SERVER_NAME = "scrobbler"
SERVER_VERSION = "0.1.0"
_CALLBACK = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$")
_JSON = msgspec.json.Encoder()


class SubsonicError(Exception):
    """A failure answered in the envelope: 0 generic, 10 missing parameter, 40 wrong credentials, ..."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _xml_element(name: str, value: Any) -> str:
    """Render ``{attr: scalar, child: dict | list[dict]}`` the way Subsonic XML nests it."""
    attrs: list[str] = []
    children: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict):
                children.append(_xml_element(key, item))
            elif isinstance(item, list):
                children.extend(_xml_element(key, v) for v in item)
            elif item is not None:
                text = str(item).lower() if isinstance(item, bool) else str(item)
                attrs.append(f"{key}={quoteattr(text)}")
    head = " ".join([name, *attrs])
    return f"<{head}>{''.join(children)}</{name}>" if children else f"<{head}/>"


def render(
    params: dict[str, str], body: dict[str, Any] | None = None, error: SubsonicError | None = None
) -> Response[bytes]:
    """Answer in the format the client asked for (``f=xml`` by default, ``json``, ``jsonp``)."""
    payload: dict[str, Any] = {
        "status": "failed" if error else "ok",
        "version": API_VERSION,
        "type": SERVER_NAME,
        "serverVersion": SERVER_VERSION,
        "openSubsonic": True,
    }
    if error is not None:
        payload["error"] = {"code": error.code, "message": error.message}
    if body:
        payload.update(body)
    fmt = params.get("f", "xml")
    if fmt in ("json", "jsonp"):
        data = _JSON.encode({"subsonic-response": payload})
        callback = params.get("callback", "")
        if fmt == "jsonp" and _CALLBACK.match(callback):
            return Response(callback.encode() + b"(" + data + b");", media_type="application/javascript")
        return Response(data, media_type="application/json")
    xml_payload = {"xmlns": "http://subsonic.org/restapi", **payload}
    xml = '<?xml version="1.0" encoding="UTF-8"?>' + _xml_element("subsonic-response", xml_payload)
    return Response(xml.encode(), media_type="text/xml; charset=utf-8")
