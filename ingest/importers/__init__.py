"""Importers: ListenBrainz over HTTP, and listening-history files, as streams of listen events."""

from ingest.importers.formats import FORMATS, FileFormat, UnknownFormat, detect_format, parse_file
from ingest.importers.rows import Bad, Parsed, Row, Skipped

__all__ = [
    "FORMATS",
    "Bad",
    "FileFormat",
    "Parsed",
    "Row",
    "Skipped",
    "UnknownFormat",
    "detect_format",
    "parse_file",
]
