"""Audioscrobbler 2.0 at /2.0/: the real pylast client (through a transport to our HTTP port), raw errors."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import httpx2
import pylast
import pytest

from ingest.audioscrobbler.signing import signature
from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import Stack, make_settings, running_stack
from tests.integration.users_support import add_user


class LocalTransport(httpx2.BaseTransport):
    """pylast hard-codes https://ws.audioscrobbler.com: send its requests to our server instead."""

    def __init__(self, base_url: str) -> None:
        self.port = int(base_url.rsplit(":", 1)[1])
        self.inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return self.inner.handle_request(request)


def network(stack: Stack, user: str, password: str, key: str = "anykey", secret: str = "anysecret") -> Any:
    return pylast.LastFMNetwork(
        api_key=key,
        api_secret=secret,
        username=user,
        password_hash=pylast.md5(password),
        proxy={"https://": LocalTransport(stack.base_url)},
    )


async def test_pylast_mobile_session_batch_scrobble_and_now_playing(stack: Stack) -> None:
    await add_user(stack, "fm", password="hunter2")
    net = await asyncio.to_thread(network, stack, "fm", "hunter2")  # auth.getMobileSession with authToken
    assert net.session_key.startswith("666d.")
    tracks = [
        {
            "artist": f"Artist {i}",
            "title": f"Song {i}",
            "timestamp": 1_700_000_000 + 300 * i,
            "album": "LP",
            "duration": 200,
            "track_number": i + 1,
        }
        for i in range(60)  # pylast sends 50, then 10
    ]
    await asyncio.to_thread(net.scrobble_many, tracks)
    await asyncio.to_thread(net.scrobble_many, tracks[:3])  # a retried batch is answered as accepted
    assert await stack.wait_count(60, user="fm") == 60
    got = (await stack.client.get("/api/v1/listens/recent", params={"user": "fm", "limit": 1})).json()[0]
    assert got["track"]["title"] == "Song 59"
    assert got["artists"][0]["name"] == "Artist 59"
    assert got["source"] == "lastfm"
    assert got["track"]["album"] == "LP"
    assert got["track"]["track_no"] == 60
    await asyncio.to_thread(net.update_now_playing, "Live Artist", "Live Song", album="Live", duration=300)
    now = (await stack.client.get("/1/user/fm/playing-now")).json()["payload"]["listens"][0]["track_metadata"]
    assert (now["artist_name"], now["track_name"], now["release_name"]) == (
        "Live Artist",
        "Live Song",
        "Live",
    )
    with pytest.raises(pylast.WSError) as err:
        await asyncio.to_thread(network, stack, "fm", "wrong")
    assert err.value.status == "4"


async def test_registered_key_needs_a_good_signature(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    settings = make_settings(tmp_path, nats_server.url).replace(lastfm_api_keys=(("k1", "s1"),))
    async with running_stack(settings) as s:
        await add_user(s, "sig", password="pw")
        net = await asyncio.to_thread(network, s, "sig", "pw", "k1", "s1")
        await asyncio.to_thread(net.scrobble, "A", "T", 1_700_000_000)
        assert await s.wait_count(1, user="sig") == 1
        with pytest.raises(pylast.WSError) as bad_sig:
            await asyncio.to_thread(network, s, "sig", "pw", "k1", "wrong-secret")
        assert bad_sig.value.status == "13"
        with pytest.raises(pylast.WSError) as bad_key:
            await asyncio.to_thread(network, s, "sig", "pw", "unknown", "s1")
        assert bad_key.value.status == "10"


async def post(stack: Stack, **params: Any) -> Any:
    return await stack.client.post("/2.0/", data=params)


async def test_raw_errors_json_and_ignored_items(stack: Stack) -> None:
    token = await add_user(stack, "raw", password="pw")
    session = await post(
        stack, method="auth.getMobileSession", username="raw", password="pw", api_key="k", format="json"
    )
    sk = session.json()["session"]["key"]
    assert session.json()["session"] == {"name": "raw", "key": sk, "subscriber": 0}
    # A token works as the password, and is then the session key itself.
    by_token = await post(
        stack, method="auth.getMobileSession", username="raw", password=token, api_key="k", format="json"
    )
    assert by_token.json()["session"]["key"] == token
    now = int(time.time())
    r = await post(
        stack,
        method="track.scrobble",
        api_key="k",
        sk=sk,
        format="json",
        **{
            "artist[0]": "A",
            "track[0]": "T",
            "timestamp[0]": str(now - 60),
            "artist[1]": "",
            "track[1]": "T",
            "timestamp[1]": str(now),
            "artist[2]": "A",
            "track[2]": "T2",
            "timestamp[2]": "1000000000",
            "artist[3]": "A",
            "track[3]": "T3",
            "timestamp[3]": str(now + 86400),
        },
    )
    body = r.json()["scrobbles"]
    assert body["@attr"] == {"accepted": 1, "ignored": 3}
    assert [x["ignoredMessage"]["@attr"]["code"] for x in body["scrobble"]] == ["0", "1", "3", "4"]
    assert await stack.wait_count(1, user="raw") == 1
    cases: list[tuple[dict[str, str], int]] = [
        (
            {
                "method": "track.scrobble",
                "api_key": "k",
                "sk": "nope",
                "artist": "A",
                "track": "T",
                "timestamp": "1700000000",
            },
            9,
        ),
        ({"method": "track.scrobble", "api_key": "k"}, 9),
        ({"method": "track.love", "api_key": "k", "sk": sk}, 3),
        ({"method": "track.scrobble", "sk": sk}, 10),
        ({"method": "track.scrobble", "api_key": "k", "sk": sk}, 6),
        ({"method": "auth.getMobileSession", "api_key": "k", "username": "raw", "password": "bad"}, 4),
        ({"method": "auth.getMobileSession", "api_key": "k", "username": "raw"}, 6),
    ]
    for params, code in cases:
        xml = await post(stack, **params)
        assert f'<error code="{code}">' in xml.text, (params, xml.text)
        assert 'status="failed"' in xml.text
        js = await post(stack, **params, format="json")
        assert js.json()["error"] == code
    too_many = {
        f"{k}[{i}]": v
        for i in range(51)
        for k, v in (("artist", "A"), ("track", f"T{i}"), ("timestamp", str(now - i)))
    }
    r = await post(stack, method="track.scrobble", api_key="k", sk=sk, format="json", **too_many)
    assert r.json()["error"] == 6
    assert await stack.count(user="raw") == 1


def test_signature_is_md5_of_sorted_params_and_secret() -> None:
    params = {"method": "auth.getMobileSession", "api_key": "k", "username": "u", "format": "json"}
    expected = hashlib.md5(b"api_keykmethodauth.getMobileSessionusernameu" + b"secret").hexdigest()
    assert signature(params, "secret") == expected
