"""API keys: per user and workspace, scoped read/write, hashed at rest, revocable."""
