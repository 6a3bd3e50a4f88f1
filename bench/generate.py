"""The deterministic listen generator of the benchmarks (seeded, vectorised with numpy).

A catalogue of Zipf-popular artists (50k), their albums and 500k tracks, multi-artist credits
with roles and genres, and 100 users who listen over ten years with a daily and weekly rhythm.
The same ``seed`` and size give the same listens, byte for byte, on every machine; every
(user, second) is unique, so no two generated listens share an id.

The sampling is pure numpy (:class:`ListenColumns`); turning rows into events, seed JSON bodies
or ListenBrainz payloads is done chunk by chunk, so 10M listens never sit in memory as objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from schemas.events import ArtistCredit, ListenRecorded
from schemas.listens import new_listen

__all__ = [
    "DEFAULT_SEED",
    "END",
    "SIZES",
    "Catalogue",
    "ListenColumns",
    "build_catalogue",
    "generate",
    "iter_events",
    "lb_payload",
    "parse_size",
    "seed_bodies",
]

DEFAULT_SEED = 20240101
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
END = datetime(2025, 1, 1, tzinfo=UTC)
"""Generated listens end here (fixed, so the data never depends on today's date)."""
YEARS = 10
DAY = 86_400
RECEIVED_AT = END
"""``occurred_at`` of generated events: fixed, so encoded events are identical run to run."""

IntArray = npt.NDArray[np.int64]

_WORDS = [
    "love",
    "night",
    "light",
    "heart",
    "fire",
    "dream",
    "blue",
    "black",
    "city",
    "rain",
    "summer",
    "road",
    "home",
    "time",
    "star",
    "sky",
    "gold",
    "river",
    "shadow",
    "dance",
    "sound",
    "wild",
    "moon",
    "ocean",
    "ghost",
    "paper",
    "glass",
    "echo",
    "silver",
    "storm",
    "electric",
    "young",
    "broken",
    "lost",
    "sweet",
    "velvet",
    "neon",
    "winter",
    "morning",
    "midnight",
    "desert",
    "empire",
    "garden",
    "machine",
    "signal",
    "radio",
    "future",
    "memory",
    "island",
    "mirror",
    "angel",
    "devil",
    "thunder",
    "crystal",
    "sugar",
    "honey",
    "cherry",
    "wolf",
    "tiger",
    "lion",
    "bird",
    "feather",
    "stone",
    "iron",
    "steel",
    "fever",
    "poison",
    "candy",
    "kiss",
    "smoke",
    "cloud",
    "wave",
    "tide",
    "harbor",
    "north",
    "south",
    "east",
    "west",
    "summer",
    "autumn",
    "spring",
    "orange",
    "purple",
    "scarlet",
    "violet",
    "emerald",
    "jade",
    "ruby",
]
_GENRES = tuple(
    [
        "rock",
        "pop",
        "electronic",
        "hip hop",
        "jazz",
        "classical",
        "metal",
        "folk",
        "indie",
        "punk",
        "soul",
        "funk",
        "r&b",
        "techno",
        "house",
        "ambient",
        "trance",
        "drum and bass",
        "dubstep",
        "reggae",
        "blues",
        "country",
        "disco",
        "grunge",
        "shoegaze",
        "synthpop",
        "post-punk",
        "new wave",
        "hardcore",
        "uptempo hardcore",
        "industrial",
        "trip hop",
        "lo-fi",
        "k-pop",
        "j-pop",
        "afrobeat",
        "latin",
        "bossa nova",
        "gospel",
        "opera",
        "soundtrack",
        "experimental",
        "noise",
        "emo",
        "ska",
        "swing",
    ]
)
_ROLES = ("featured", "remixer", "producer", "composer")


def parse_size(raw: str) -> int:
    """``100k``, ``1m``, ``10m`` or a plain number of listens."""
    key = raw.strip().lower()
    if key in SIZES:
        return SIZES[key]
    if key.endswith("k"):
        return int(float(key[:-1]) * 1_000)
    if key.endswith("m"):
        return int(float(key[:-1]) * 1_000_000)
    return int(key)


def _zipf_weights(n: int, s: float) -> npt.NDArray[np.float64]:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    return np.asarray(w / w.sum(), dtype=np.float64)


def _names(rng: np.random.Generator, n: int, lo: int, hi: int, prefix: str = "") -> list[str]:
    """``n`` distinct-enough names of ``lo``..``hi`` words; a numeric suffix keeps them unique."""
    words = np.array(_WORDS)
    counts = rng.integers(lo, hi + 1, size=n)
    picks = rng.integers(0, len(words), size=(n, hi))
    out: list[str] = []
    for i in range(n):
        name = " ".join(words[picks[i, : counts[i]]]).title()
        out.append(f"{prefix}{name} {i}" if prefix else f"{name} {i}")
    return out


@dataclass(frozen=True)
class Catalogue:
    """Artists (rank order = popularity), albums and tracks, as names plus index arrays."""

    artists: list[str]
    artist_genres: IntArray
    """(artists, 2): genre indexes of each artist, -1 for none."""
    genres: list[str]
    albums: list[str]
    album_year: IntArray
    tracks: list[str]
    track_artist: IntArray
    track_album: IntArray
    track_duration: IntArray
    track_no: IntArray
    track_guest: IntArray
    """Index of a second credited artist, -1 for none."""
    track_guest_role: IntArray
    """Index into the roles (featured, remixer, producer, composer) of that credit."""
    artist_first_track: IntArray
    artist_track_count: IntArray


def build_catalogue(
    seed: int = DEFAULT_SEED, *, n_artists: int = 50_000, n_tracks: int = 500_000
) -> Catalogue:
    """The catalogue: popular artists have more tracks; ~20% of tracks credit a second artist."""
    rng = np.random.default_rng([seed, 1])
    artists = _names(rng, n_artists, 1, 3)
    # Track counts: more for popular artists, at least 1, summing to n_tracks.
    raw = rng.lognormal(mean=0.0, sigma=0.8, size=n_artists) * (
        1.0 + 20.0 / np.sqrt(np.arange(1, n_artists + 1))
    )
    counts = np.maximum(1, np.floor(raw / raw.sum() * (n_tracks - n_artists)).astype(np.int64) + 1)
    counts[0] += n_tracks - int(counts.sum())
    first = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    track_artist = np.repeat(np.arange(n_artists, dtype=np.int64), counts)
    # Albums: runs of ~10 consecutive tracks of one artist.
    within = np.arange(n_tracks, dtype=np.int64) - first[track_artist]
    album_in_artist = within // 10
    album_key = track_artist * 10_000 + album_in_artist
    _, track_album = np.unique(album_key, return_inverse=True)
    n_albums = int(track_album.max()) + 1
    genre_w = _zipf_weights(len(_GENRES), 1.0)
    artist_genres = rng.choice(len(_GENRES), size=(n_artists, 2), p=genre_w).astype(np.int64)
    artist_genres[rng.random(n_artists) < 0.4, 1] = -1
    guest = np.where(rng.random(n_tracks) < 0.2, rng.integers(0, n_artists, size=n_tracks), -1).astype(
        np.int64
    )
    guest[guest == track_artist] = -1
    return Catalogue(
        artists=artists,
        artist_genres=artist_genres,
        genres=[g.title() if i % 3 else g for i, g in enumerate(_GENRES)],
        albums=_names(rng, n_albums, 1, 3),
        album_year=rng.integers(1960, 2025, size=n_albums).astype(np.int64),
        tracks=_names(rng, n_tracks, 1, 4),
        track_artist=track_artist,
        track_album=track_album.astype(np.int64),
        track_duration=rng.integers(90, 480, size=n_tracks).astype(np.int64),
        track_no=(within % 10 + 1).astype(np.int64),
        track_guest=guest,
        track_guest_role=rng.integers(0, len(_ROLES), size=n_tracks).astype(np.int64),
        artist_first_track=first,
        artist_track_count=counts.astype(np.int64),
    )


@dataclass(frozen=True)
class ListenColumns:
    """``n`` listens as columns: user index, unix second, track index (sorted by time)."""

    user: IntArray
    ts: IntArray
    track: IntArray

    def __len__(self) -> int:
        return len(self.ts)


_HOUR_W = np.array(
    [2, 1, 0.6, 0.4, 0.3, 0.4, 1, 2.5, 4, 4, 3.5, 3.5, 4, 4, 3.5, 3.5, 4, 5, 6, 6.5, 6.5, 6, 5, 3.5],
    dtype=np.float64,
)
_WEEKDAY_W = np.array([1.0, 1.0, 1.0, 1.05, 1.2, 1.45, 1.35], dtype=np.float64)
"""Monday..Sunday: more listening at the weekend."""


def generate(n: int, seed: int = DEFAULT_SEED, catalogue: Catalogue | None = None) -> ListenColumns:
    """Sample ``n`` listens: Zipf artists (70% from each user's own favourites), daily/weekly rhythm."""
    cat = catalogue or build_catalogue(seed)
    rng = np.random.default_rng([seed, 2, n])
    n_users = 100
    n_artists = len(cat.artists)
    user = rng.choice(n_users, size=n, p=_zipf_weights(n_users, 0.7)).astype(np.int64)
    # Each user's favourites: 300 artists drawn by global popularity, in a user-specific order.
    fav = rng.choice(n_artists, size=(n_users, 300), p=_zipf_weights(n_artists, 1.0))
    global_pick = rng.choice(n_artists, size=n, p=_zipf_weights(n_artists, 1.05))
    fav_pick = fav[user, rng.choice(300, size=n, p=_zipf_weights(300, 0.9))]
    artist = np.where(rng.random(n) < 0.7, fav_pick, global_pick).astype(np.int64)
    # A track of that artist, skewed towards its first (best-known) tracks.
    offset = np.floor(cat.artist_track_count[artist] * rng.random(n) ** 2.5).astype(np.int64)
    track = cat.artist_first_track[artist] + offset
    # Ten years of days, weighted by weekday and by a slow growth of listening; hours by rhythm.
    start = int(END.timestamp()) - YEARS * 365 * DAY
    days = YEARS * 365
    weekday = (np.arange(days) + datetime.fromtimestamp(start, tz=UTC).weekday()) % 7
    day_w = _WEEKDAY_W[weekday] * np.linspace(0.6, 1.4, days)
    day = rng.choice(days, size=n, p=day_w / day_w.sum()).astype(np.int64)
    hour = rng.choice(24, size=n, p=_HOUR_W / _HOUR_W.sum()).astype(np.int64)
    ts = start + day * DAY + hour * 3600 + rng.integers(0, 3600, size=n)
    # Every (user, second) unique: sort per user and push collisions one second later.
    key = user * (1 << 40) + ts
    order = np.argsort(key, kind="stable")
    key = key[order]
    idx = np.arange(n, dtype=np.int64)
    key = np.maximum.accumulate(key - idx) + idx
    user, track = user[order], track[order]
    ts = key - user * (1 << 40)
    by_time = np.argsort(ts, kind="stable")
    return ListenColumns(user=user[by_time], ts=ts[by_time], track=track[by_time])


def user_name(index: int) -> str:
    return f"user{index:03d}"


def _credits(cat: Catalogue, t: int) -> list[tuple[str, str]]:
    out = [(cat.artists[int(cat.track_artist[t])], "primary")]
    guest = int(cat.track_guest[t])
    if guest >= 0:
        out.append((cat.artists[guest], _ROLES[int(cat.track_guest_role[t])]))
    return out


def _genres(cat: Catalogue, t: int) -> list[str]:
    return [cat.genres[int(g)] for g in cat.artist_genres[int(cat.track_artist[t])] if g >= 0]


def seed_bodies(
    cat: Catalogue, cols: ListenColumns, start: int = 0, stop: int | None = None
) -> Iterator[dict[str, Any]]:
    """Seed JSON scrobbles (``POST /api/v1/scrobble``) of rows ``start:stop``."""
    stop = len(cols) if stop is None else stop
    users, tss, tracks = (
        cols.user[start:stop].tolist(),
        cols.ts[start:stop].tolist(),
        cols.track[start:stop].tolist(),
    )
    for u, ts, t in zip(users, tss, tracks, strict=True):
        album = int(cat.track_album[t])
        yield {
            "user": user_name(u),
            "listened_at": ts,
            "duration_secs": int(cat.track_duration[t]),
            "track": {
                "title": cat.tracks[t],
                "album": cat.albums[album],
                "album_year": int(cat.album_year[album]),
                "track_no": int(cat.track_no[t]),
                "disc_no": 1,
            },
            "artists": [{"name": name, "role": role} for name, role in _credits(cat, t)],
            "genres": _genres(cat, t),
        }


def lb_payload(cat: Catalogue, cols: ListenColumns, start: int, stop: int) -> list[dict[str, Any]]:
    """ListenBrainz ``payload`` entries (``POST /1/submit-listens``) of rows ``start:stop``."""
    out: list[dict[str, Any]] = []
    for body in seed_bodies(cat, cols, start, stop):
        credits = body["artists"]
        out.append(
            {
                "listened_at": body["listened_at"],
                "track_metadata": {
                    "artist_name": " feat. ".join(c["name"] for c in credits)
                    if len(credits) > 1
                    else credits[0]["name"],
                    "track_name": body["track"]["title"],
                    "release_name": body["track"]["album"],
                    "additional_info": {
                        "duration": body["duration_secs"],
                        "tracknumber": body["track"]["track_no"],
                        "tags": body["genres"],
                        "artist_names": [c["name"] for c in credits],
                    },
                },
            }
        )
    return out


def iter_events(
    cat: Catalogue, cols: ListenColumns, start: int = 0, stop: int | None = None
) -> Iterator[ListenRecorded]:
    """ListenRecorded events of rows ``start:stop``, built by :func:`schemas.listens.new_listen`."""
    stop = len(cols) if stop is None else stop
    users, tss, tracks = (
        cols.user[start:stop].tolist(),
        cols.ts[start:stop].tolist(),
        cols.track[start:stop].tolist(),
    )
    for u, ts, t in zip(users, tss, tracks, strict=True):
        album = int(cat.track_album[t])
        yield new_listen(
            user=user_name(u),
            listened_at=datetime.fromtimestamp(ts, tz=UTC),
            title=cat.tracks[t],
            artists=[ArtistCredit(name=name, role=role) for name, role in _credits(cat, t)],
            received_at=RECEIVED_AT,
            album=cat.albums[album],
            album_year=int(cat.album_year[album]),
            track_no=int(cat.track_no[t]),
            disc_no=1,
            duration_secs=int(cat.track_duration[t]),
            genres=tuple(_genres(cat, t)),
        )
