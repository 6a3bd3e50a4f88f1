"""A job's progress: counters, the cursor it resumes from, and the rows it could not use. Pure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ingest.importers.rows import Bad, Skipped

__all__ = ["MAX_REPORTED", "MAX_SKIPS_LISTED", "Progress"]

MAX_REPORTED = 100
"""Bad rows listed in a job's progress; the counters count them all."""
MAX_SKIPS_LISTED = 1000
"""Skipped rows/listens listed with their reason (an export says why per listen)."""


@dataclass
class Progress:
    """What ``GET /api/v1/jobs/{id}`` shows, and what a resumed job starts from."""

    params: dict[str, Any] = field(default_factory=dict)
    """The job's arguments (never a secret), so a restarted ingest can resume it."""
    cursor: dict[str, Any] = field(default_factory=dict)
    """Where to resume: ``max_ts`` for ListenBrainz pages, ``rows`` for files, ``after`` for exports."""
    pages: int = 0
    seen: int = 0
    new: int = 0
    duplicates: int = 0
    errors: int = 0
    skipped: int = 0
    submitted: int = 0
    enrichment_queued: int = 0
    bad_rows: list[dict[str, Any]] = field(default_factory=list)
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    skipped_listens: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    listens_per_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def bad(self, row: Bad) -> None:
        self.errors += 1
        if len(self.bad_rows) < MAX_REPORTED:
            self.bad_rows.append({"line": row.line, "reason": row.reason})

    def skip(self, reason: str, *, line: int | None = None, listen_id: str | None = None) -> None:
        self.skipped += 1
        self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + 1
        if len(self.skipped_listens) < MAX_SKIPS_LISTED:
            entry: dict[str, Any] = {"reason": reason}
            if line is not None:
                entry["line"] = line
            if listen_id is not None:
                entry["listen_id"] = listen_id
            self.skipped_listens.append(entry)

    def skipped_row(self, row: Skipped) -> None:
        self.skip(row.reason, line=row.line)

    def timing(self, elapsed_s: float) -> None:
        self.elapsed_s = round(elapsed_s, 3)
        self.listens_per_s = round(self.seen / elapsed_s, 1) if elapsed_s > 0 else 0.0
