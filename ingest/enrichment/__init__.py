"""Genre enrichment of imported listens from MusicBrainz."""

from ingest.enrichment.enricher import Enricher, lookup_key
from ingest.enrichment.musicbrainz import MusicBrainzClient, RateLimiter, best_tags

__all__ = ["Enricher", "MusicBrainzClient", "RateLimiter", "best_tags", "lookup_key"]
