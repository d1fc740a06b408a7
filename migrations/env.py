"""Alembic environment: runs as the owner role, synchronously, with psycopg 3."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

from pyairtable_platform.kit.db import Base, plain_url

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = (
        config.attributes.get("database_url")
        or os.environ.get("MIGRATION_DATABASE_URL")
        or os.environ.get("DATABASE_OWNER_URL")
        or os.environ.get("DATABASE_URL")
    )
    if not url:
        raise SystemExit(
            "no database to migrate: set MIGRATION_DATABASE_URL (the owner role) or DATABASE_URL"
        )
    return "postgresql+psycopg://" + plain_url(url)[len("postgresql://") :]


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
