"""One line of the results: a figure, its ceiling measured in the same run, the ratio and the verdict."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["Row", "unavailable"]


class Row(msgspec.Struct, kw_only=True):
    figure: float | None
    unit: str
    ceiling: float | None
    ratio: float | None
    target: str
    pass_: bool = msgspec.field(name="pass")
    note: str = ""
    details: dict[str, Any] = {}
    """Every other number measured (percentiles, CPU of the load generator, sizes, settings)."""


def unavailable(unit: str, target: str, what: str) -> Row:
    """The row of a scenario whose feature is not in the tree yet."""
    return Row(
        figure=None,
        unit=unit,
        ceiling=None,
        ratio=None,
        target=target,
        pass_=False,
        note=f"not available yet: {what}",
    )
