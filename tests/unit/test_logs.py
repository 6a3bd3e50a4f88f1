"""Every log line written while a request is served carries its request id."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from scrobbler.logs import REQUEST_ID, configure_logging
from scrobbler.settings import LogSettings


def test_lines_carry_the_request_id_only_inside_the_request(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSettings(level="INFO", format="json"))
    try:
        log = structlog.get_logger("test")
        token = REQUEST_ID.set("req-42")
        log.info("inside", n=1)
        logging.getLogger("plain.stdlib").warning("stdlib inside")
        REQUEST_ID.reset(token)
        log.info("outside")
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
        by_event = {x["event"]: x for x in lines}
        assert by_event["inside"]["request_id"] == "req-42"
        assert by_event["inside"]["n"] == 1
        assert by_event["stdlib inside"]["request_id"] == "req-42"
        assert "request_id" not in by_event["outside"]
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
