"""A listen's identity, derived from its content (CONTRACT section 3).

The id is the same wherever a play comes from (a Subsonic client, a ListenBrainz import,
a file), so the stream's duplicate window and the read models' unique keys drop a
play that arrives twice, while two different tracks at the same second stay two listens.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from datetime import datetime

__all__ = ["credit_set_id", "genre_set_id", "listen_id", "normalize_name", "normalize_title", "stable_id"]

_FEAT = re.compile(r"\s*[\(\[]\s*(?:feat\.?|ft\.?|featuring)\s+[^\)\]]*[\)\]]\s*", re.IGNORECASE)
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "‐": "-", "–": "-", "—": "-"})


def normalize_name(name: str) -> str:
    """Fold case, compatibility forms, quotes and white space so spellings of one name meet."""
    if not name.isascii():  # NFKC and the quote table change no ASCII character (the common case)
        name = unicodedata.normalize("NFKC", name).translate(_QUOTES)
    folded = name.casefold()
    return " ".join(folded.split())  # str.split and re's \s agree on Unicode white space


def normalize_title(title: str) -> str:
    """Like :func:`normalize_name`, and drop a "(feat. X)" credit that some clients put in titles."""
    if "(" in title or "[" in title:
        title = _FEAT.sub(" ", title)
    return normalize_name(title)


def listen_id(user: str, listened_at: datetime, artist: str, title: str) -> str:
    """The listen's id: a UUID (version 8) hashed from user, second, artist and title."""
    key = "\x1f".join(
        (user, str(int(listened_at.timestamp())), normalize_name(artist), normalize_title(title))
    )
    digest = bytearray(hashlib.blake2b(key.encode(), digest_size=16).digest())
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8: custom
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()  # str(uuid.UUID(bytes=...)), without building the object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@functools.lru_cache(maxsize=1 << 17)
def stable_id(kind: str, *parts: str) -> int:
    """A signed 64-bit id for a catalogue entity (artist, album, track, genre) from its normalised key.

    Read models compute ids without a lookup round trip, and every read model agrees on them.
    Cached: the same artists and tracks recur in almost every batch (half of a replay's fold
    time went to normalising them again); the cache is bounded.
    """
    return _hashed(kind, [normalize_name(p) for p in parts])


def _hashed(kind: str, items: list[str]) -> int:
    """A signed 64-bit hash of ``kind`` and ``items`` (BLAKE2b)."""
    key = "\x1f".join((kind, *items))
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def credit_set_id(credits: tuple[tuple[int, str], ...]) -> int:
    """The id of an artist credit: its (artist id, role) pairs in order, as MusicBrainz keeps one
    ``artist_credit`` for every recording credited alike. Listens share their credit's rows."""
    return _hashed("credits", [f"{artist}:{role}" for artist, role in credits])


def genre_set_id(genre_ids: tuple[int, ...]) -> int | None:
    """The id of a set of genres (order and repeats do not matter), None for no genre."""
    if not genre_ids:
        return None
    return _hashed("genres", [str(g) for g in sorted(set(genre_ids))])
