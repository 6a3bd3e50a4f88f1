"""Projector: folds events from the stream into the SQL read model."""
