"""The ListenBrainz-compatible API, driven by the real liblistenbrainz client and by raw HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import liblistenbrainz
import pytest
from liblistenbrainz.errors import ListenBrainzAPIException

from tests.conftest import Stack
from tests.integration.users_support import add_user


def lb_client(stack: Stack, token: str | None = None) -> liblistenbrainz.ListenBrainz:
    client = liblistenbrainz.ListenBrainz(api_base_url=stack.base_url)
    if token:
        client.set_auth_token(token, check_validity=False)
    return client


def listen(ts: int | None, title: str = "Song", artist: str = "Artist", **kw: Any) -> liblistenbrainz.Listen:
    return liblistenbrainz.Listen(track_name=title, artist_name=artist, listened_at=ts, **kw)


async def test_liblistenbrainz_single_multiple_playing_now_and_reads(stack: Stack) -> None:
    token = await add_user(stack, "lbuser")
    client = lb_client(stack)
    await asyncio.to_thread(client.set_auth_token, token)  # validates against /1/validate-token
    one = listen(
        1_700_000_000,
        release_name="Album",
        tags=["rock"],
        tracknumber=3,
        additional_info={"submission_client": "tests", "duration_ms": 200_000, "custom": "kept"},
    )
    assert (await asyncio.to_thread(client.submit_single_listen, one))["status"] == "ok"
    batch = [listen(1_700_000_100 + i, title=f"T{i}") for i in range(5)]
    assert (await asyncio.to_thread(client.submit_multiple_listens, batch))["status"] == "ok"
    # A client retry of the same listens is absorbed.
    await asyncio.to_thread(client.submit_multiple_listens, batch)
    assert await stack.wait_count(6, user="lbuser") == 6

    await asyncio.to_thread(client.submit_playing_now, listen(None, title="Now", artist="Live"))
    now = await asyncio.to_thread(client.get_playing_now, "lbuser")
    assert now is not None
    assert (now.track_name, now.artist_name) == ("Now", "Live")

    got = await asyncio.to_thread(client.get_listens, "lbuser")
    assert [x.listened_at for x in got] == [1_700_000_104 - i for i in range(5)] + [1_700_000_000]
    first = got[-1]
    assert (first.track_name, first.artist_name, first.release_name) == ("Song", "Artist", "Album")
    assert first.additional_info["custom"] == "kept"
    assert first.tags == ["rock"]
    assert first.recording_msid
    paged = await asyncio.to_thread(client.get_listens, "lbuser", max_ts=1_700_000_103, count=2)
    assert [x.listened_at for x in paged] == [1_700_000_102, 1_700_000_101]
    after = await asyncio.to_thread(client.get_listens, "lbuser", min_ts=1_700_000_000, count=2)
    assert [x.listened_at for x in after] == [1_700_000_101, 1_700_000_100]
    assert await asyncio.to_thread(client.get_user_listen_count, "lbuser") == 6

    # delete-listen tombstones exactly that listen.
    await asyncio.to_thread(client.delete_listen, first)
    assert await stack.wait_count(5, user="lbuser") == 5


async def test_bad_token_is_401_and_validate_token_semantics(stack: Stack) -> None:
    client = lb_client(stack, "not-a-token")
    with pytest.raises(ListenBrainzAPIException) as err:
        await asyncio.to_thread(client.submit_single_listen, listen(1_700_000_000))
    assert err.value.status_code == 401
    r = await stack.client.get("/1/validate-token", headers={"Authorization": "Token nope"})
    assert r.status_code == 200
    assert r.json() == {"code": 200, "message": "Token invalid.", "valid": False}
    r = await stack.client.get("/1/validate-token")
    assert r.status_code == 400
    assert r.json()["code"] == 400
    token = await add_user(stack, "val")
    r = await stack.client.get("/1/validate-token", params={"token": token})
    assert r.json() == {"code": 200, "message": "Token valid.", "valid": True, "user_name": "val"}
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset-In", "X-RateLimit-Reset"):
        assert name in r.headers
    r = await stack.client.post("/1/submit-listens", content=b"{}")
    assert r.status_code == 401
    assert r.json()["code"] == 401
    assert "X-RateLimit-Remaining" in r.headers


def _body(listens: list[dict[str, Any]], listen_type: str = "import") -> dict[str, Any]:
    return {"listen_type": listen_type, "payload": listens}


def _lb(ts: int = 1_700_000_000, **meta: Any) -> dict[str, Any]:
    return {"listened_at": ts, "track_metadata": {"artist_name": "A", "track_name": "T", **meta}}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_body([_lb(), _lb(1_700_000_001)], "single"), "exactly one listen"),
        (_body([]), "does not contain any listens"),
        (_body([_lb(ts=1_000_000_000)]), "2002-10-01"),
        (_body([_lb(ts=int(time.time()) + 7200)]), "future"),
        (_body([{**_lb(), "extra": 1}]), "payload[0]"),
        (_body([_lb(artist_name="  ")]), "artist_name"),
        (_body([_lb(additional_info={"recording_mbid": "nope"})]), "recording_mbid"),
        (_body([_lb(additional_info={"duration": 10, "duration_ms": 10000})]), "not both"),
        (_body([_lb(additional_info={"tags": ["x" * 65]})]), "64"),
        (_body([_lb(additional_info={"tags": ["t"] * 51})]), "50 tags"),
        (_body([_lb(track_name="a\u0000b")]), "NUL"),
        (_body([_lb(additional_info={"pad": "x" * 11_000})]), "10240 bytes"),
        (_body([_lb(ts=1_700_000_000 + i) for i in range(1001)]), "at most 1000"),
        ({"listen_type": "bogus", "payload": [_lb()]}, "listen_type"),
        (_body([{"track_metadata": {"artist_name": "A", "track_name": "T"}}]), "listened_at"),
    ],
)
async def test_submit_errors_are_400_in_listenbrainz_shape(
    stack: Stack, body: dict[str, Any], expected: str
) -> None:
    token = await add_user(stack, "errs")
    r = await stack.client.post("/1/submit-listens", json=body, headers={"Authorization": f"Token {token}"})
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"code", "error"}
    assert r.json()["code"] == 400
    assert expected in r.json()["error"]
    assert await stack.count(user="errs") == 0


async def test_no_content_type_empty_mbids_dropped_and_latest_import(stack: Stack) -> None:
    token = await add_user(stack, "raw")
    auth = {"Authorization": f"Token {token}"}
    import msgspec

    body = msgspec.json.encode(_body([_lb(additional_info={"recording_mbid": "", "artist_mbids": [""]})]))
    r = await stack.client.post("/1/submit-listens", content=body, headers=auth)  # no Content-Type
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert await stack.wait_count(1, user="raw") == 1
    got = (await stack.client.get("/1/user/raw/listens")).json()["payload"]
    assert got["count"] == 1
    assert got["latest_listen_ts"] == 1_700_000_000
    info = got["listens"][0]["track_metadata"]["additional_info"]
    assert "recording_mbid" not in info
    assert info["artist_mbids"] == []
    assert (await stack.client.get("/1/latest-import", params={"user_name": "raw"})).json() == {
        "musicbrainz_id": "raw",
        "latest_import": 0,
    }
    r = await stack.client.post("/1/latest-import", json={"ts": 1_700_000_000}, headers=auth)
    assert r.json() == {"status": "ok"}
    assert (await stack.client.get("/1/latest-import", params={"user_name": "raw"})).json()[
        "latest_import"
    ] == (1_700_000_000)
    empty = (await stack.client.get("/1/user/raw/playing-now")).json()["payload"]
    assert empty == {"count": 0, "user_id": "raw", "playing_now": True, "listens": []}
