"""Which filter subjects of a range read cover the whole stream (and are then left out)."""

from __future__ import annotations

import pytest

from projector.stream_read import covers_stream
from schemas.subjects import stream_subjects


@pytest.mark.parametrize(
    ("filter_subject", "subjects", "covers"),
    [
        ("scrobbles.>", stream_subjects("scrobbles"), True),
        ("scrobbles.>", ["scrobbles.>"], True),
        ("scrobbles.>", [*stream_subjects("scrobbles"), "other.>"], False),
        ("scrobbles.u.>", stream_subjects("scrobbles"), False),
        ("scrobbles.>", ["scrobbles"], False),
        ("scrobbles.>", ["scrobblesx.u.>"], False),
        ("scrobbles.g", ["scrobbles.g"], True),
        ("scrobbles.g", ["scrobbles.g", "scrobbles.u.>"], False),
        ("scrobbles.>", [], False),
    ],
)
def testcovers_stream(filter_subject: str, subjects: list[str], covers: bool) -> None:
    assert covers_stream(filter_subject, subjects) is covers
