"""The streaming parsers of each import format, and format detection. Pure: bytes in, rows out."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ingest.importers import Bad, Parsed, Skipped, detect_format, parse_file
from schemas.identity import listen_id

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _lb(ts: int, title: str, artist: str = "LB Artist", **info: Any) -> dict[str, Any]:
    return {
        "listened_at": ts,
        "recording_msid": "0f6a4c9e-0d0a-4a9b-8a8e-2e6c2d7f0a11",
        "track_metadata": {
            "artist_name": artist,
            "track_name": title,
            "release_name": "R",
            "additional_info": info,
        },
    }


LB_JSONL = "\n".join(
    [
        json.dumps(_lb(1_600_000_000, "One", tags=["Rock", "rock", "Indie"], duration_ms=201000)),
        json.dumps(_lb(1_600_000_300, "Two")),
        "{not json",
        json.dumps(_lb(1_600_000_600, "")),
        "",
        json.dumps(_lb(1_600_000_900, "Three")),
    ]
).encode()

LASTFM_CSV = (
    b"uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"
    b'1600000000,"13 Sep 2020, 12:26",Artist A,,Album A,,Track 1,\n'
    b'1600000300,"13 Sep 2020, 12:31","Artist, With Comma",,Album B,,Track 2,\n'
    b',"",Artist C,,,,,\n'
    b'1600000900,"13 Sep 2020, 12:41",Artist D,,,,Track 4,\n'
)

LASTFM_GHAN_CSV = (
    b"Artist A,Album A,Track 1,13 Sep 2020 12:26\n"
    b"Artist B,,Track 2,not a date\n"
    b"Artist C,Al,Track 3,13 Sep 2020 12:40\n"
)

SPOTIFY_JSON = json.dumps(
    [
        {
            "ts": "2021-03-01T10:05:00Z",
            "ms_played": 180000,
            "master_metadata_track_name": "Spot 1",
            "master_metadata_album_artist_name": "Spot Artist",
            "master_metadata_album_album_name": "Spot Album",
            "spotify_track_uri": "spotify:track:1",
        },
        {
            "ts": "2021-03-01T10:06:00Z",
            "ms_played": 5000,
            "master_metadata_track_name": "Skipped Fast",
            "master_metadata_album_artist_name": "Spot Artist",
        },
        {
            "ts": "2021-03-01T11:00:00Z",
            "ms_played": 900000,
            "episode_name": "A Podcast",
            "master_metadata_track_name": None,
        },
        {
            "ts": "yesterday",
            "ms_played": 200000,
            "master_metadata_track_name": "X",
            "master_metadata_album_artist_name": "Y",
        },
        {
            "ts": "2021-03-01T12:00:00Z",
            "ms_played": 240000,
            "master_metadata_track_name": "Spot 2",
            "master_metadata_album_artist_name": "Other",
        },
    ],
    indent=1,
).encode()

MALOJA_JSON = json.dumps(
    {
        "maloja": {"export_time": 1700000000},
        "scrobbles": [
            {
                "time": 1650000000,
                "track": {
                    "artists": ["M One", "M Two"],
                    "title": "Duet",
                    "album": {"albumtitle": "MA", "artists": ["M One"]},
                    "length": 200,
                },
                "duration": 190,
                "origin": "client:navidrome",
            },
            {"time": 1650000300, "track": {"artists": [], "title": "Nobody"}},
            {"time": 1650000600, "track": {"artists": ["Solo"], "title": "Alone", "album": None}},
        ],
    }
).encode()

SAMPLES: dict[str, tuple[bytes, dict[str, Any]]] = {
    "listenbrainz": (LB_JSONL, {"listens": 3, "bad": [3, 4], "skipped": 0}),
    "lastfm": (LASTFM_CSV, {"listens": 3, "bad": [4], "skipped": 0}),
    "spotify": (SPOTIFY_JSON, {"listens": 2, "bad": [4], "skipped": 2}),
    "maloja": (MALOJA_JSON, {"listens": 2, "bad": [2], "skipped": 0}),
}
"""Sample files (as written by the tests) with what they hold: listens, bad row lines, skipped rows."""


def rows(fmt: str, data: bytes) -> list[Any]:
    return list(parse_file(io.BytesIO(data), fmt, user="u", received_at=NOW))


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_sample_counts(fmt: str) -> None:
    data, expected = SAMPLES[fmt]
    out = rows(fmt, data)
    assert sum(isinstance(r, Parsed) for r in out) == expected["listens"]
    assert [r.line for r in out if isinstance(r, Bad)] == expected["bad"]
    assert sum(isinstance(r, Skipped) for r in out) == expected["skipped"]


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_detection(fmt: str) -> None:
    assert detect_format(io.BytesIO(SAMPLES[fmt][0]), "export.csv" if fmt == "lastfm" else "x.json") == fmt


def test_listenbrainz_json_array_and_fields() -> None:
    data = json.dumps(
        [_lb(1_600_000_000, "One", tags=["Rock", "rock", "Indie"], duration_ms=201000)]
    ).encode()
    assert detect_format(io.BytesIO(data)) == "listenbrainz"
    (row,) = rows("listenbrainz", data)
    assert isinstance(row, Parsed)
    ev = row.event
    assert ev.event_id == listen_id("u", datetime.fromtimestamp(1_600_000_000, UTC), "LB Artist", "One")
    assert ev.genres == ("Rock", "rock", "Indie")
    assert ev.duration_secs == 201
    assert ev.source == "import:listenbrainz"
    assert ev.extra is not None
    assert ev.extra["recording_msid"]


def test_lastfm_without_header_and_spotify_start_time() -> None:
    out = rows("lastfm", LASTFM_GHAN_CSV)
    assert [type(r).__name__ for r in out] == ["Parsed", "Bad", "Parsed"]
    assert isinstance(out[0], Parsed)
    assert out[0].event.listened_at == datetime(2020, 9, 13, 12, 26, tzinfo=UTC)
    spot = rows("spotify", SPOTIFY_JSON)
    first = spot[0]
    assert isinstance(first, Parsed)
    assert first.event.listened_at == datetime(2021, 3, 1, 10, 2, tzinfo=UTC)  # ended 10:05 after 3 minutes
    assert first.event.played_secs == 180
    assert isinstance(spot[1], Skipped)
    assert "under 30 s" in spot[1].reason
    assert isinstance(spot[2], Skipped)
    assert "podcast" in spot[2].reason


def test_maloja_credits_every_artist() -> None:
    first = rows("maloja", MALOJA_JSON)[0]
    assert isinstance(first, Parsed)
    assert [a.name for a in first.event.artists] == ["M One", "M Two"]
    assert first.event.album == "MA"
    assert first.event.client == "navidrome"


def test_truncated_json_reports_and_stops() -> None:
    out = rows("spotify", SPOTIFY_JSON[: len(SPOTIFY_JSON) // 2])
    assert isinstance(out[-1], Bad)
    assert "malformed JSON" in out[-1].reason
