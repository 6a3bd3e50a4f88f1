"""Subsonic / OpenSubsonic: the real py-sonic client, then each auth mode and error over raw HTTP."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import libsonic
import pytest

from ingest.subsonic.playback import Report, Session, advance, counts
from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import Stack, make_settings, running_stack
from tests.integration.users_support import add_user


def sonic(stack: Stack, user: str, password: str) -> libsonic.Connection:
    # py-sonic's GET mode is broken (it builds the URL but sends the form too): use its default POST.
    port = int(stack.base_url.rsplit(":", 1)[1])
    return libsonic.Connection("http://127.0.0.1", user, password, port=port, appName="pytest")


async def rest(stack: Stack, method: str, **params: Any) -> dict[str, Any]:
    params.setdefault("f", "json")
    r = await stack.client.get(f"/rest/{method}.view", params=params)
    assert r.status_code == 200, r.text
    return r.json()["subsonic-response"]  # type: ignore[no-any-return]


async def test_py_sonic_ping_and_scrobble_with_token_auth(stack: Stack) -> None:
    await add_user(stack, "sonic", password="s3cret")
    conn = sonic(stack, "sonic", "s3cret")
    assert await asyncio.to_thread(conn.ping) is True
    assert (await asyncio.to_thread(conn.scrobble, "media-1", True, 1_700_000_000))["status"] == "ok"
    assert await stack.wait_count(1, user="sonic") == 1
    (listen,) = (await stack.client.get("/api/v1/listens/recent", params={"user": "sonic"})).json()
    assert listen["unresolved"] is True
    assert listen["source_track_id"] == "media-1"
    assert listen["source"] == "subsonic"
    assert listen["listened_at"] == "2023-11-14T22:13:20Z"
    assert listen["client"] == "pytest"
    # Now playing through scrobble(submission=False), then visible in getNowPlaying.
    await asyncio.to_thread(conn.scrobble, "media-2", False)
    entries = (await rest(stack, "getNowPlaying", u="sonic", p="s3cret"))["nowPlaying"]["entry"]
    assert [(e["username"], e["id"]) for e in entries] == [("sonic", "media-2")]
    wrong = sonic(stack, "sonic", "wrong")
    assert await asyncio.to_thread(conn.ping) is True
    with pytest.raises(libsonic.errors.CredentialError):  # py-sonic raises on a failed ping
        await asyncio.to_thread(wrong.ping)
    with pytest.raises(libsonic.errors.CredentialError):
        await asyncio.to_thread(wrong.scrobble, "media-3")


async def test_auth_modes_and_error_codes(stack: Stack) -> None:
    token = await add_user(stack, "auth", password="pässword")
    salt = "abc123"
    good_t = hashlib.md5(("pässword" + salt).encode()).hexdigest()
    enc = "enc:" + "pässword".encode().hex()
    assert (await rest(stack, "ping", u="auth", t=good_t, s=salt))["status"] == "ok"
    assert (await rest(stack, "ping", u="auth", p="pässword"))["status"] == "ok"
    assert (await rest(stack, "ping", u="auth", p=enc))["status"] == "ok"
    assert (await rest(stack, "ping", apiKey=token))["status"] == "ok"
    assert (await rest(stack, "ping", u="auth", p=token))["status"] == "ok"  # a token works as a password
    cases = [
        ({"u": "auth", "t": "0" * 32, "s": salt}, 40),
        ({"u": "auth", "p": "nope"}, 40),
        ({"u": "auth"}, 40),
        ({"apiKey": "bad"}, 44),
        ({"apiKey": token, "u": "auth"}, 43),
        ({}, 10),
    ]
    for params, code in cases:
        answer = await rest(stack, "scrobble", id="x", **params)
        assert answer["status"] == "failed", params
        assert answer["error"]["code"] == code, params
    assert (await rest(stack, "scrobble", apiKey=token))["error"]["code"] == 10  # id missing
    ext = await rest(stack, "getOpenSubsonicExtensions")
    assert {e["name"] for e in ext["openSubsonicExtensions"]} >= {
        "formPost",
        "apiKeyAuthentication",
        "playbackReport",
    }
    assert ext["openSubsonic"] is True
    assert ext["version"] == "1.16.1"
    xml = await stack.client.get("/rest/ping", params={"u": "auth", "p": "nope"})
    assert '<error code="40"' in xml.text
    assert 'status="failed"' in xml.text
    jsonp = await stack.client.get(
        "/rest/getLicense", params={"u": "auth", "p": enc, "f": "jsonp", "callback": "cb"}
    )
    assert jsonp.text.startswith('cb({"subsonic-response":')
    assert '"valid":true' in jsonp.text
    assert await stack.count(user="auth") == 0


async def test_several_ids_in_one_call_and_seed_title_rule(stack: Stack) -> None:
    token = await add_user(stack, "multi", password="pw")
    r = await stack.client.post(
        "/rest/scrobble",
        content=f"apiKey={token}&f=json&id=a&id=b&time=1700000000000&time=1700000300000",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.json()["subsonic-response"]["status"] == "ok"
    # With s present, t is the auth token, not a title: the listen stays unresolved.
    salt = "zz"
    t = hashlib.md5(("pw" + salt).encode()).hexdigest()
    ok = await rest(stack, "scrobble", u="multi", t=t, s=salt, id="c", time="1700000600000", a="Artist")
    assert ok["status"] == "ok"
    assert await stack.wait_count(3, user="multi") == 3
    got = (await stack.client.get("/api/v1/listens/recent", params={"user": "multi"})).json()
    assert [(x["source_track_id"], x["track"]["title"], x["unresolved"]) for x in got] == [
        ("c", "c", True),
        ("b", "b", True),
        ("a", "a", True),
    ]
    mismatch = await rest(stack, "scrobble", apiKey=token, id=["a", "b"], time="1700000000000")
    assert mismatch["error"]["code"] == 0


async def test_report_playback_sets_and_clears_now_playing(stack: Stack) -> None:
    token = await add_user(stack, "rp")
    start = await rest(stack, "reportPlayback", apiKey=token, mediaId="m1", state="starting", positionMs="0")
    assert start["status"] == "ok"
    entries = (await rest(stack, "getNowPlaying", apiKey=token))["nowPlaying"]["entry"]
    assert [(e["username"], e["id"]) for e in entries] == [("rp", "m1")]
    lb = (await stack.client.get("/1/user/rp/playing-now")).json()["payload"]
    assert lb["count"] == 1
    assert lb["listens"][0]["track_metadata"]["track_name"] == "m1"
    await rest(stack, "reportPlayback", apiKey=token, mediaId="m1", state="stopped", positionMs="1000")
    assert (await rest(stack, "getNowPlaying", apiKey=token))["nowPlaying"]["entry"] == []
    bad = await rest(stack, "reportPlayback", apiKey=token, mediaId="m1", state="dancing")
    assert bad["error"]["code"] == 10


_T0 = __import__("datetime").datetime(2024, 1, 1, tzinfo=__import__("datetime").UTC)


def _at(seconds: float) -> Any:
    return _T0 + __import__("datetime").timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("reports", "duration", "expected"),
    [
        # 200 s track: counts at 100 s of play.
        ([(0, "starting", 0), (99, "playing", 99_000)], 200, False),
        ([(0, "starting", 0), (101, "playing", 101_000)], 200, True),
        # Paused time does not count.
        (
            [(0, "starting", 0), (50, "paused", 50_000), (500, "playing", 50_000), (520, "playing", 70_000)],
            200,
            False,
        ),
        # A seek forward is not play.
        ([(0, "starting", 0), (5, "playing", 150_000)], 200, False),
        # Long track: 4 minutes suffice.
        ([(0, "starting", 0), (241, "playing", 241_000)], 3600, True),
        # Too short to ever count.
        ([(0, "starting", 0), (29, "playing", 29_000)], 20, False),
        # Unknown length: counts when stopped after 30 s.
        ([(0, "starting", 0), (40, "stopped", 40_000)], None, True),
        ([(0, "starting", 0), (20, "stopped", 20_000)], None, False),
    ],
)
def test_playback_rule(reports: list[tuple[float, str, int]], duration: int | None, expected: bool) -> None:
    session: Session | None = None
    for at, state, pos in reports:
        session = advance(session, Report(media_id="m", position_ms=pos, state=state), _at(at))
    assert session is not None
    assert counts(session, duration) is expected


async def test_open_mode_ends_when_an_admin_key_is_set(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    settings = make_settings(tmp_path, nats_server.url, api_key="admin-key")
    async with running_stack(settings) as s:
        refused = await rest(s, "scrobble", u="stranger", id="x", t="Song", a="Artist")
        assert refused["error"]["code"] == 40
        token = await add_user(s, "member", **{"X-Api-Key": "admin-key"})
        ok = await rest(s, "scrobble", apiKey=token, id="x")
        assert ok["status"] == "ok"
        assert (await s.client.post("/api/v1/users", json={"name": "x"})).status_code == 401
        assert (await s.client.get("/api/v1/users")).status_code == 401
