"""``scrobbler generate N``: publish N generated listens to the running server's stream."""

from __future__ import annotations

import asyncio

import click

__all__ = ["generate_command"]


@click.command("generate")
@click.argument("count", default="100k")
@click.option("--seed", type=int, default=None, help="Generator seed (default: the benchmark's).")
def generate_command(count: str, seed: int | None) -> None:
    """Publish COUNT (e.g. 100k, 1m) deterministic benchmark listens to the stream of SCROBBLER_* settings."""
    from bench.generate import DEFAULT_SEED, build_catalogue, generate, iter_events, parse_size
    from schemas.events import encode_event
    from schemas.subjects import user_subject
    from scrobbler.embedded_nats import running_embedded
    from scrobbler.settings import Settings
    from scrobbler.stream import StreamClient

    settings = Settings.from_env()
    n = parse_size(count)
    s = DEFAULT_SEED if seed is None else seed
    catalogue = build_catalogue(s)
    cols = generate(n, s, catalogue)

    async def publish(url: str) -> int:
        client = StreamClient(url, settings.nats, name="scrobbler-generate")
        await client.connect()
        assert client.js is not None
        pending = []
        sent = 0
        try:
            for ev in iter_events(catalogue, cols):
                pending.append(
                    await client.js.publish_async(
                        user_subject(settings.nats.subject_prefix, ev.user),
                        encode_event(ev),
                        wait_stall=30.0,
                        headers={"Nats-Msg-Id": ev.event_id, "Nats-Expected-Stream": settings.nats.stream},
                    )
                )
                if len(pending) >= 4000:
                    await asyncio.gather(*pending)
                    sent += len(pending)
                    pending.clear()
            await asyncio.gather(*pending)
            return sent + len(pending)
        finally:
            await client.close()

    with running_embedded(settings) as url:
        done = asyncio.run(publish(url))
    click.echo(f"published {done:,} generated listens (seed {s}) to stream {settings.nats.stream}")
