"""The error of an event that a projection cannot decode or fold."""

from __future__ import annotations

__all__ = ["PoisonEvent"]


class PoisonEvent(RuntimeError):
    """An event that cannot be decoded or folded: the projection stops at its sequence."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"event at stream sequence {seq} cannot be projected: {reason}")
        self.seq = seq
