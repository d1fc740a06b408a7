"""The mirror: every connected base's schema and records kept in PostgreSQL."""
