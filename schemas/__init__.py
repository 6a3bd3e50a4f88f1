"""Wire types shared by every process: events, request bodies, identities, subjects."""

from schemas.events import (
    EVENT_DECODER,
    ArtistCredit,
    ConfigChanged,
    Event,
    JobUpdated,
    LibraryFileIndexed,
    ListenEnriched,
    ListenRecorded,
    ListensDeleted,
    PasswordSet,
    TokenIssued,
    TokenRevoked,
    UserCreated,
    decode_event,
    encode_event,
    event_user,
)
from schemas.identity import listen_id, normalize_name, normalize_title, stable_id
from schemas.listens import new_listen, primary_artist, to_utc_second

__all__ = [
    "EVENT_DECODER",
    "ArtistCredit",
    "ConfigChanged",
    "Event",
    "JobUpdated",
    "LibraryFileIndexed",
    "ListenEnriched",
    "ListenRecorded",
    "ListensDeleted",
    "PasswordSet",
    "TokenIssued",
    "TokenRevoked",
    "UserCreated",
    "decode_event",
    "encode_event",
    "event_user",
    "listen_id",
    "new_listen",
    "normalize_name",
    "normalize_title",
    "primary_artist",
    "stable_id",
    "to_utc_second",
]
