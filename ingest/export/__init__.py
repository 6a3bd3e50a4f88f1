"""Sending listens to ListenBrainz: the one-shot export job and the payload/record it shares with sync."""
