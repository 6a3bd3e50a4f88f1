"""What every CLI command starts with: the settings from the environment, and the stream to reach."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from scrobbler.embedded_nats import running_embedded
from scrobbler.logs import configure_logging
from scrobbler.settings import Settings, SettingsError

__all__ = ["command_settings", "command_stream"]


def command_settings() -> Settings:
    """The settings, with logging configured; a bad variable is a one-line error naming it."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log)
    return settings


@contextlib.contextmanager
def command_stream(settings: Settings) -> Iterator[str]:
    """The NATS URL: configured, the running embedded server's, or a new embedded server for the command."""
    with running_embedded(settings) as url:
        yield url
