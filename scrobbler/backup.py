"""``scrobbler backup PATH`` / ``scrobbler restore PATH``: the stream to a file and back.

The file is gzip-compressed, a sequence of length-prefixed msgpack records: a header, one record
per message (stream sequence, subject without the prefix, ``Nats-Msg-Id``, the event bytes as
stored) and a trailer with the counts and checksums: SHA-256 of every message's bytes, and the
number of listens with a SHA-256 of their ids in stream order. Restore checks the whole file
first, appends the messages in order to an empty stream (keeping their ``Nats-Msg-Id``), reads
the stream back and checks the same figures, then rebuilds the read models from it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import click
import msgspec
import structlog
from nats.js import JetStreamContext

from projector.stream_read import read_range, stream_bounds
from schemas.events import ListenRecorded, decode_event
from scrobbler.settings import Settings

__all__ = [
    "BackupError",
    "Manifest",
    "backup_command",
    "restore_command",
    "restore_stream",
    "verify_file",
    "write_backup",
]

log = structlog.get_logger(__name__)

FORMAT = "scrobbler-backup"
_LEN = struct.Struct(">I")
_ENC = msgspec.msgpack.Encoder()


class BackupError(RuntimeError):
    """A backup file that is damaged or does not fit, or a restore that did not verify."""


class Header(msgspec.Struct, frozen=True, tag="header"):
    format: str
    version: int
    stream: str
    subject_prefix: str
    created_at: datetime
    first_seq: int
    last_seq: int


class Record(msgspec.Struct, frozen=True, tag="m"):
    seq: int
    subject: str
    msg_id: str | None
    data: bytes


class Manifest(msgspec.Struct, frozen=True, tag="trailer"):
    """Counts and checksums of a backup (and of a restored stream)."""

    messages: int
    listens: int
    data_sha256: str
    listens_sha256: str


_DEC = msgspec.msgpack.Decoder(Header | Record | Manifest)


class _Tally:
    """Counts and checksums over messages in stream order."""

    def __init__(self) -> None:
        self.messages = 0
        self.listens = 0
        self._data = hashlib.sha256()
        self._listens = hashlib.sha256()

    def add(self, data: bytes) -> None:
        self.messages += 1
        self._data.update(_LEN.pack(len(data)))
        self._data.update(data)
        event = decode_event(data)
        if isinstance(event, ListenRecorded):
            self.listens += 1
            self._listens.update(event.event_id.encode() + b"\n")

    def manifest(self) -> Manifest:
        return Manifest(
            messages=self.messages,
            listens=self.listens,
            data_sha256=self._data.hexdigest(),
            listens_sha256=self._listens.hexdigest(),
        )


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _write(out: _Writable, item: Any) -> None:
    payload = _ENC.encode(item)
    out.write(_LEN.pack(len(payload)))
    out.write(payload)


def _records(path: Path) -> Iterator[Header | Record | Manifest]:
    with gzip.open(path, "rb") as f:
        while True:
            head = f.read(4)
            if not head:
                return
            if len(head) < 4:
                raise BackupError(f"{path}: truncated")
            (size,) = _LEN.unpack(head)
            payload = f.read(size)
            if len(payload) < size:
                raise BackupError(f"{path}: truncated")
            try:
                yield _DEC.decode(payload)
            except msgspec.DecodeError as exc:
                raise BackupError(f"{path}: damaged record: {exc}") from exc


def _relative(subject: str, prefix: str) -> str:
    return subject[len(prefix) + 1 :] if subject.startswith(prefix + ".") else subject


async def write_backup(js: JetStreamContext, settings: Settings, path: Path) -> Manifest:
    """Write every message of the stream, up to its last sequence now, to ``path``."""
    first, last = await stream_bounds(js, settings.nats.stream)
    prefix = settings.nats.subject_prefix
    tally = _Tally()
    tmp = path.with_name(path.name + ".partial")
    with gzip.open(tmp, "wb", compresslevel=5) as out:
        _write(
            out,
            Header(
                format=FORMAT,
                version=1,
                stream=settings.nats.stream,
                subject_prefix=prefix,
                created_at=datetime.now(UTC),
                first_seq=first,
                last_seq=last,
            ),
        )
        if last >= first:
            reading = read_range(js, settings.nats.stream, f"{prefix}.>", first, last, reader="backup")
            async for msgs in reading:
                for m in msgs:
                    tally.add(m.data)
                    _write(
                        out,
                        Record(seq=m.seq, subject=_relative(m.subject, prefix), msg_id=m.msg_id, data=m.data),
                    )
        manifest = tally.manifest()
        _write(out, manifest)
    tmp.replace(path)
    log.info("backup written", path=str(path), messages=manifest.messages, listens=manifest.listens)
    return manifest


def verify_file(path: Path) -> Manifest:
    """Read the whole file and check it against its trailer."""
    tally = _Tally()
    header: Header | None = None
    trailer: Manifest | None = None
    for item in _records(path):
        if isinstance(item, Header):
            header = item
        elif isinstance(item, Record):
            tally.add(item.data)
        else:
            trailer = item
    if header is None or header.format != FORMAT:
        raise BackupError(f"{path}: not a scrobbler backup")
    if trailer is None:
        raise BackupError(f"{path}: no trailer (the backup did not finish)")
    if tally.manifest() != trailer:
        raise BackupError(f"{path}: contents do not match the trailer ({tally.manifest()} != {trailer})")
    return trailer


async def restore_stream(js: JetStreamContext, settings: Settings, path: Path) -> Manifest:
    """Append the backup's messages to the (empty) stream in order; verify by reading it back."""
    expected = verify_file(path)
    info = await js.stream_info(settings.nats.stream)
    if info.state.messages:
        raise BackupError(
            f"stream {settings.nats.stream} holds {info.state.messages} messages:"
            " restore needs an empty stream"
        )
    prefix = settings.nats.subject_prefix
    window: list[asyncio.Future[Any]] = []
    first_seq = 0
    for item in _records(path):
        if not isinstance(item, Record):
            continue
        headers = {"Nats-Msg-Id": item.msg_id} if item.msg_id else None
        window.append(await js.publish_async(f"{prefix}.{item.subject}", item.data, headers=headers))
        if len(window) >= 1000:
            acks = await asyncio.gather(*window)
            first_seq = first_seq or acks[0].seq
            window = []
    if window:
        acks = await asyncio.gather(*window)
        first_seq = first_seq or acks[0].seq
    _, last = await stream_bounds(js, settings.nats.stream)
    tally = _Tally()
    if expected.messages:
        reading = read_range(js, settings.nats.stream, f"{prefix}.>", first_seq, last, reader="restore")
        async for msgs in reading:
            for m in msgs:
                tally.add(m.data)
    if tally.manifest() != expected:
        raise BackupError(f"restored stream does not match the backup: {tally.manifest()} != {expected}")
    log.info("stream restored", messages=expected.messages, listens=expected.listens)
    return expected


def _describe(m: Manifest) -> str:
    return f"{m.messages:,} events, {m.listens:,} listens, listens sha256 {m.listens_sha256[:16]}…"


async def _connect(settings: Settings, url: str) -> Any:
    from scrobbler.stream import StreamClient

    client = StreamClient(url, settings.nats, name="scrobbler-backup")
    await client.connect()
    return client


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path) -> None:
    """Write the whole event stream to PATH (gzip; counts and checksums in its trailer)."""
    from scrobbler.cli_env import command_settings as _settings
    from scrobbler.cli_env import command_stream as _nats

    settings = _settings()

    async def main() -> Manifest:
        client = await _connect(settings, url)
        try:
            return await write_backup(client.js, settings, path)
        finally:
            await client.close()

    with _nats(settings) as url:
        manifest = asyncio.run(main())
    click.echo(f"backup {path}: {_describe(manifest)}")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-rebuild", is_flag=True, help="Only restore the stream; do not rebuild the read models.")
def restore_command(path: Path, no_rebuild: bool) -> None:
    """Restore the event stream from PATH into an empty stream, verify it, rebuild the read models."""
    from projector.replay import replay_sql
    from scrobbler.cli_env import command_settings as _settings
    from scrobbler.cli_env import command_stream as _nats

    settings = _settings()

    async def main() -> tuple[Manifest, str]:
        client = await _connect(settings, url)
        try:
            manifest = await restore_stream(client.js, settings, path)
            if no_rebuild:
                return manifest, "read models not rebuilt (--no-rebuild): run `scrobbler replay`"
            result = await replay_sql(client.js, settings, restart=True)
            note = f"SQL read model rebuilt to stream sequence {result.position}"
            try:
                from scrobbler.cube_replay import replay_cube

                _, swapped = await replay_cube(client.js, settings, restart=True)
                note += (
                    "; cube rebuilt"
                    if swapped
                    else (
                        "; the cube is held by a process that does not answer swap requests:"
                        " stop it, delete the cube file, start it"
                    )
                )
            except ImportError:
                note += "; delete the cube file and restart the query API to rebuild the cube"
            return manifest, note
        finally:
            await client.close()

    with _nats(settings) as url:
        try:
            manifest, note = asyncio.run(main())
        except BackupError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"restored {path}: {_describe(manifest)}, verified; {note}")
