"""The content-derived listen id and the catalogue ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas.identity import (
    credit_set_id,
    genre_set_id,
    listen_id,
    normalize_name,
    normalize_title,
    stable_id,
)

AT = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def test_listen_id_is_a_version_8_uuid() -> None:
    value = uuid.UUID(listen_id("alice", AT, "Artist", "Title"))
    assert value.version == 8


def test_spelling_variants_of_one_play_share_an_id() -> None:
    base = listen_id("alice", AT, "Sigur Rós", "Hoppípolla")
    assert listen_id("alice", AT + timedelta(microseconds=999_999), "sigur  rós", "HOPPÍPOLLA ") == base
    assert listen_id("alice", AT, "Sigur Rós", "Hoppípolla (feat. Someone)") == base
    assert listen_id("alice", AT.astimezone(), "Sigur Rós", "Hoppípolla") == base


def test_different_plays_differ() -> None:
    base = listen_id("alice", AT, "Artist", "Title")
    assert listen_id("bob", AT, "Artist", "Title") != base
    assert listen_id("alice", AT + timedelta(seconds=1), "Artist", "Title") != base
    assert listen_id("alice", AT, "Artist", "Other Title") != base
    assert listen_id("alice", AT, "Other Artist", "Title") != base


def test_normalisation_folds_quotes_and_width() -> None:
    assert normalize_name("Don’t  Stop") == normalize_name("don't stop")
    assert normalize_name("ＡＢＣ") == "abc"
    assert normalize_title("Song [ft. X]") == "song"


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_ids_are_deterministic_and_case_blind(artist: str, title: str) -> None:
    assert listen_id("u", AT, artist, title) == listen_id("u", AT, artist.upper().lower(), title)
    assert stable_id("artist", artist) == stable_id("artist", f"  {artist}  ")


def test_stable_ids_are_signed_64_bit_and_kinds_do_not_collide() -> None:
    a = stable_id("artist", "Name")
    assert -(2**63) <= a < 2**63
    assert stable_id("genre", "Name") != a


# The first implementation, kept as the reference: ids are stored forever, so any faster
# normalisation must give exactly the same ids for every string.
_REF_SPACE = re.compile(r"\s+")
_REF_FEAT = re.compile(r"\s*[\(\[]\s*(?:feat\.?|ft\.?|featuring)\s+[^\)\]]*[\)\]]\s*", re.IGNORECASE)
_REF_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "‐": "-", "–": "-", "—": "-"})


def _reference_name(name: str) -> str:
    folded = unicodedata.normalize("NFKC", name).translate(_REF_QUOTES).casefold()
    return _REF_SPACE.sub(" ", folded).strip()


def _reference_id(user: str, at: datetime, artist: str, title: str) -> str:
    key = "\x1f".join(
        (user, str(int(at.timestamp())), _reference_name(artist), _reference_name(_REF_FEAT.sub(" ", title)))
    )
    digest = bytearray(hashlib.blake2b(key.encode(), digest_size=16).digest())
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


_NAMES = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.sampled_from(" \t\n\x1c\x1f\u00a0\u2003\u3000aA’“—ﬁ(feat. [ft)]Éé"), max_size=30),
    st.from_regex(r"[A-Za-z ]{0,12}( \((feat\.|ft|featuring) [A-Za-z ]{1,8}\))?", fullmatch=True),
)


@given(_NAMES, _NAMES, _NAMES)
def test_normalisation_and_ids_equal_the_reference(user: str, artist: str, title: str) -> None:
    assert normalize_name(artist) == _reference_name(artist)
    assert normalize_title(title) == _reference_name(_REF_FEAT.sub(" ", title))
    assert listen_id(user, AT, artist, title) == _reference_id(user, AT, artist, title)


_ids = st.integers(-(2**63), 2**63 - 1)


@given(st.lists(_ids, max_size=6), st.randoms())
def test_a_genre_set_id_ignores_order_and_repeats(genres: list[int], rnd: Any) -> None:
    shuffled = [*genres, *genres[:1]]
    rnd.shuffle(shuffled)
    assert genre_set_id(tuple(shuffled)) == genre_set_id(tuple(genres))
    assert (genre_set_id(tuple(genres)) is None) == (not genres)


@given(st.lists(st.tuples(_ids, st.sampled_from(["main", "featured", "remixer"])), min_size=1, max_size=4))
def test_a_credit_set_id_depends_on_order_and_roles(credits: list[tuple[int, str]]) -> None:
    key = "\x1f".join(("credits", *(f"{a}:{r}" for a, r in credits)))
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    assert credit_set_id(tuple(credits)) == int.from_bytes(digest, "big", signed=True)
    if credits[::-1] != credits:
        assert credit_set_id(tuple(reversed(credits))) != credit_set_id(tuple(credits))
    (artist, role), *rest = credits
    other = "featured" if role == "main" else "main"
    assert credit_set_id(((artist, other), *rest)) != credit_set_id(tuple(credits))
