"""The one settings object, read once from ``SCROBBLER_*`` environment variables.

Every process builds :class:`Settings` with :func:`Settings.from_env` at start-up and
passes it down; nothing else reads the environment. A bad value raises
:class:`SettingsError` naming the variable, which the CLI turns into a one-line message.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

__all__ = [
    "DbSettings",
    "HttpSettings",
    "LogSettings",
    "NatsSettings",
    "RemoteSettings",
    "Settings",
    "SettingsError",
]

T = TypeVar("T")


class SettingsError(ValueError):
    """A ``SCROBBLER_*`` variable holds a value we cannot use."""


@dataclass(frozen=True, kw_only=True)
class NatsSettings:
    url: str | None = None
    """NATS server URL(s), comma separated; ``None`` starts the embedded server from the wheel."""
    stream: str = "SCROBBLES"
    """Name of the JetStream stream that holds every event."""
    subject_prefix: str = "scrobbles"
    """Subjects are ``<prefix>.u.<bucket>.<user-key>`` for user events and ``<prefix>.g`` for global ones."""
    replicas: int = 1
    """Stream replicas (3 in a 3-node cluster)."""
    placement_tags: tuple[str, ...] = ()
    """JetStream placement: the stream's replicas go only to servers that have every one of these tags."""
    duplicate_window_s: float = 48 * 3600.0
    """How long the stream remembers a ``Nats-Msg-Id`` to drop a retried publish."""
    sync_interval: str = "1s"
    """Embedded server fsync policy: ``always`` or a Go duration (see README, Durability)."""
    publish_timeout_s: float = 5.0
    """How long ingest waits for a PubAck before answering 503."""


@dataclass(frozen=True, kw_only=True)
class DbSettings:
    dsn: str
    """SQLAlchemy async DSN of the SQL read model."""
    duckdb_path: Path
    """File of the DuckDB stats cube owned by the query API process."""
    cube_memory_limit: str = "1GB"
    """Most memory DuckDB keeps for the cube (its ``memory_limit``), in the query API and in a
    replay. Without it DuckDB caches the file's blocks up to 80% of the machine's memory, so
    the process grew with the stream (3 GB at 10M listens); above it DuckDB evicts blocks (they
    are on disk) and spills large sorts and aggregations to temporary files."""


@dataclass(frozen=True, kw_only=True)
class HttpSettings:
    host: str = "0.0.0.0"
    """Interface the HTTP server binds."""
    port: int = 8080
    """Port of the HTTP server."""
    api_key: str = ""
    """Admin key required in ``X-Api-Key`` on operator writes when non-empty."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed by CORS."""
    max_body_bytes: int = 10_240_000
    """Largest request body accepted (ListenBrainz's whole-payload limit)."""


@dataclass(frozen=True, kw_only=True)
class LogSettings:
    level: str = "INFO"
    """Log level."""
    format: Literal["json", "console"] = "console"
    """``json`` for production, ``console`` for a terminal."""


@dataclass(frozen=True, kw_only=True)
class RemoteSettings:
    listenbrainz_base_url: str = "https://api.listenbrainz.org/1"
    """ListenBrainz API root."""
    musicbrainz_base_url: str = "https://musicbrainz.org/ws/2"
    """MusicBrainz web service root (genre fallback)."""
    musicbrainz_user_agent: str = "scrobbler/1.0 (+https://github.com/)"
    """User-Agent sent to MusicBrainz."""
    analyzer_scan_job_timeout_s: int = 21600
    """Longest a library scan job may run."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    data_dir: Path
    """Holds the embedded stream store, ``scrobbler.db``, ``cube.duckdb`` and ``nats.url``."""
    nats: NatsSettings
    db: DbSettings
    http: HttpSettings = field(default_factory=HttpSettings)
    log: LogSettings = field(default_factory=LogSettings)
    remote: RemoteSettings = field(default_factory=RemoteSettings)
    secret_key: str = ""
    """Server secret that encrypts stored Subsonic passwords; derived from the data dir when empty."""
    lastfm_api_keys: tuple[tuple[str, str], ...] = ()
    """Audioscrobbler 2.0 API keys and their shared secrets (``key:secret,...``); signatures are checked
    for these, and other keys are refused. Empty: any key is accepted (signatures cannot be checked)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build the settings from ``SCROBBLER_*`` variables (``os.environ`` by default)."""
        e = os.environ if env is None else env

        def get(name: str, parse: Callable[[str], T], default: T) -> T:
            raw = e.get(f"SCROBBLER_{name}")
            if raw is None or raw == "":
                return default
            try:
                return parse(raw)
            except ValueError as exc:
                raise SettingsError(f"SCROBBLER_{name}={raw!r}: {exc}") from exc

        data_dir = get("DATA_DIR", Path, Path("./data"))
        return cls(
            data_dir=data_dir,
            nats=NatsSettings(
                url=get("NATS_URL", str, None),
                stream=get("NATS_STREAM", _token, "SCROBBLES"),
                subject_prefix=get("NATS_SUBJECT_PREFIX", _token, "scrobbles"),
                replicas=get("NATS_REPLICAS", _int_between(1, 5), 1),
                placement_tags=get("NATS_PLACEMENT_TAGS", _csv, ()),
                duplicate_window_s=get("NATS_DUPLICATE_WINDOW", _positive_float, 48 * 3600.0),
                sync_interval=get("NATS_SYNC", _sync_policy, "1s"),
                publish_timeout_s=get("NATS_PUBLISH_TIMEOUT", _positive_float, 5.0),
            ),
            db=DbSettings(
                dsn=get("DB_DSN", _dsn, f"sqlite+aiosqlite:///{data_dir / 'scrobbler.db'}"),
                duckdb_path=get("DUCKDB_PATH", Path, data_dir / "cube.duckdb"),
                cube_memory_limit=get("CUBE_MEMORY_LIMIT", _memory_size, "1GB"),
            ),
            http=HttpSettings(
                host=get("HOST", str, "0.0.0.0"),
                port=get("PORT", _int_between(0, 65535), 8080),
                api_key=get("API_KEY", str, ""),
                cors_origins=get("CORS_ORIGINS", _csv, ()),
                max_body_bytes=get("MAX_BODY_BYTES", _int_between(1024, 1 << 31), 10_240_000),
            ),
            log=LogSettings(
                level=get("LOG_LEVEL", _log_level, "INFO"),
                format=get("LOG_FORMAT", _log_format, "console"),
            ),
            remote=RemoteSettings(
                listenbrainz_base_url=get("LISTENBRAINZ_BASE_URL", _url, "https://api.listenbrainz.org/1"),
                musicbrainz_base_url=get("MUSICBRAINZ_BASE_URL", _url, "https://musicbrainz.org/ws/2"),
                musicbrainz_user_agent=get(
                    "MUSICBRAINZ_USER_AGENT", str, "scrobbler/1.0 (+https://github.com/)"
                ),
                analyzer_scan_job_timeout_s=get(
                    "ANALYZER_SCAN_JOB_TIMEOUT", _int_between(1, 7 * 86400), 21600
                ),
            ),
            secret_key=get("SECRET_KEY", str, ""),
            lastfm_api_keys=get("LASTFM_API_KEYS", _key_pairs, ()),
        )

    def replace(self, **changes: object) -> Settings:
        """A copy with some top-level fields changed (tests use it)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def nats_url_file(self) -> Path:
        """Where the embedded server records its URL for CLI commands run beside it."""
        return self.data_dir / "nats.url"

    @property
    def is_sqlite(self) -> bool:
        return self.db.dsn.startswith("sqlite")


def _key_pairs(raw: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in _csv(raw):
        key, sep, secret = part.partition(":")
        if not sep or not key.strip() or not secret.strip():
            raise ValueError("expected key:secret pairs separated by commas")
        pairs.append((key.strip(), secret.strip()))
    return tuple(pairs)


def _int_between(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}")
        return value

    return parse


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be positive")
    return value


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _token(raw: str) -> str:
    if not raw.replace("_", "").replace("-", "").isalnum():
        raise ValueError("letters, digits, '-' and '_' only")
    return raw


def _dsn(raw: str) -> str:
    if not (raw.startswith("sqlite+aiosqlite://") or raw.startswith("mysql+asyncmy://")):
        raise ValueError("expected sqlite+aiosqlite:///PATH or mysql+asyncmy://user:pass@host:3306/db")
    return raw


def _url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("expected an http(s) URL")
    return raw.rstrip("/")


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


def _log_format(raw: str) -> Literal["json", "console"]:
    if raw == "json":
        return "json"
    if raw == "console":
        return "console"
    raise ValueError("'json' or 'console'")


_SIZE = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


def _memory_size(raw: str) -> str:
    if not _SIZE.fullmatch(raw.strip()):
        raise ValueError("a size such as 512MB, 1GB or 2GiB")
    return raw.strip()


def _sync_policy(raw: str) -> str:
    if raw == "always":
        return raw
    unit = raw.rstrip("0123456789")
    number = raw[: len(raw) - len(unit)]
    if not number or unit not in {"ms", "s", "m"}:
        raise ValueError("'always' or a duration such as 100ms, 1s, 2m")
    return raw
