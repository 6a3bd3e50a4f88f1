"""Import and export jobs run by ingest: progress as JobUpdated events, resumable from a cursor."""

from ingest.jobs.context import JobContext
from ingest.jobs.progress import Progress
from ingest.jobs.runner import JOB_KINDS, JobRunner

__all__ = ["JOB_KINDS", "JobContext", "JobRunner", "Progress"]
