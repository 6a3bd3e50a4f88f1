"""Rendering the fold's rows into multi-row INSERTs: DATETIME values bound as SQLAlchemy binds them,
whether they come as datetimes (the projector) or as msgspec's ISO text (a replay's writer process)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime, Table
from sqlalchemy.dialects import sqlite

from projector.db import _sqlite_text, _text_converter, render_insert_ignoring_duplicates
from projector.folds.sql_rows import COLUMNS
from projector.sql_sink import INSERTED

DIALECT = sqlite.dialect()
WITH_DATETIMES = [t for t in INSERTED if any(isinstance(c.type, DateTime) for c in t.c)]
naive = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999))


def _row(table: Table, draw: Any) -> tuple[Any, ...]:
    values: list[Any] = []
    for name in COLUMNS[table.name]:
        column = table.c[name]
        if isinstance(column.type, DateTime):
            when = draw(naive)
            values.append(draw(st.sampled_from([when, None])) if column.nullable else when)
        else:
            values.append(None)  # bound as it is either way
    return tuple(values)


def _as_sent(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows as a writer process decodes them: datetimes as the ISO text msgpack carries."""
    return [tuple(x) for x in msgspec.msgpack.decode(msgspec.msgpack.encode(rows))]


@given(st.data())
def test_iso_text_binds_what_sqlalchemy_binds(data: st.DataObject) -> None:
    table = data.draw(st.sampled_from(WITH_DATETIMES))
    rows = [_row(table, data.draw) for _ in range(data.draw(st.integers(1, 5)))]
    columns = COLUMNS[table.name]
    from_datetimes = render_insert_ignoring_duplicates(DIALECT, table, columns, rows, chunk=2)
    from_text = render_insert_ignoring_duplicates(
        DIALECT, table, columns, _as_sent(rows), chunk=2, iso_text=True
    )
    assert from_text == from_datetimes
    # And both are SQLAlchemy's own binding of each DATETIME column.
    params = [p for _, ps in from_datetimes for p in ps]
    width = len(columns)
    for i, name in enumerate(columns):
        column = table.c[name]
        if isinstance(column.type, DateTime):
            bind = column.type.dialect_impl(DIALECT).bind_processor(DIALECT)
            assert bind is not None
            assert params[i::width] == [bind(row[i]) for row in rows]


def test_whole_seconds_get_their_microseconds() -> None:
    """msgspec leaves out a zero fraction; SQLite's DATETIME text always has six digits (text
    comparisons of times depend on it)."""
    table = next(t for t in WITH_DATETIMES if t.name == "listens")
    columns = COLUMNS[table.name]
    at = columns.index("listened_at")
    row = tuple(
        datetime(2024, 5, 6, 7, 8, 9) if c in ("listened_at", "received_at") else None for c in columns
    )
    ((_, params),) = render_insert_ignoring_duplicates(
        DIALECT, table, columns, _as_sent([row]), iso_text=True
    )
    assert params[at] == "2024-05-06 07:08:09.000000"


def test_sqlite_takes_the_string_operation() -> None:
    """The fallback (parsing the text) is right too, so only this tells the fast path is in use."""
    listens = next(t for t in WITH_DATETIMES if t.name == "listens")
    assert _text_converter(listens.c.listened_at, DIALECT) is _sqlite_text
