"""Query API: serves listens, statistics and the web UI from the read models."""
