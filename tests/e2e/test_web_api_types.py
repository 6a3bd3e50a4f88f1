"""The web UI's generated API client matches the server: a changed endpoint breaks the build."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from scrobbler.openapi import openapi_json
from tests.conftest import REQUIRE_SERVICES

WEB = Path(__file__).resolve().parents[2] / "web"
API = WEB / "src" / "lib" / "api"


def test_committed_openapi_matches_the_server() -> None:
    committed = json.loads((API / "openapi.json").read_bytes())
    assert committed == json.loads(openapi_json()), "run `cd web && npm run gen-api` and commit the result"


def test_committed_typescript_types_match_the_openapi(tmp_path: Path) -> None:
    npx = shutil.which("npx")
    if npx is None or not (WEB / "node_modules" / "openapi-typescript").is_dir():
        reason = "npx or web/node_modules missing (cd web && npm ci)"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    out = tmp_path / "schema.d.ts"
    subprocess.run(
        [
            npx,
            "--no-install",
            "openapi-typescript",
            str(API / "openapi.json"),
            "-o",
            str(out),
            "--alphabetize",
        ],
        cwd=WEB,
        check=True,
        capture_output=True,
    )
    assert out.read_text() == (API / "schema.d.ts").read_text(), (
        "run `cd web && npm run gen-api` and commit the result"
    )
