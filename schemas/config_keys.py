"""The runtime configuration keys (seed names) and which of them are secrets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CONFIG_KEYS", "ConfigKey"]


def _text(value: str) -> str:
    if len(value) > 512:
        raise ValueError("at most 512 characters")
    return value


def _positive_int(value: str) -> str:
    if not value.isdigit() or int(value) <= 0:
        raise ValueError("a positive whole number of seconds")
    return value


def _on_off(value: str) -> str:
    if value not in {"on", "off"}:
        raise ValueError("'on' or 'off'")
    return value


@dataclass(frozen=True)
class ConfigKey:
    name: str
    default: str
    secret: bool
    check: Callable[[str], str]
    description: str


CONFIG_KEYS: dict[str, ConfigKey] = {
    k.name: k
    for k in (
        ConfigKey("default_user", "", False, _text, "User of scrobbles that name none"),
        ConfigKey("api_key", "", True, _text, "Admin key accepted in X-Api-Key besides SCROBBLER_API_KEY"),
        ConfigKey("lms_source_name", "lms", False, _text, "Source name given to JSON scrobbles without one"),
        ConfigKey("listenbrainz_user", "", False, _text, "ListenBrainz account to import from / export to"),
        ConfigKey("listenbrainz_token", "", True, _text, "ListenBrainz user token"),
        ConfigKey("listenbrainz_sync", "off", False, _on_off, "Forward every new listen to ListenBrainz"),
        ConfigKey(
            "analyzer_scan_job_timeout", "21600", False, _positive_int, "Longest a library scan may run (s)"
        ),
    )
}
