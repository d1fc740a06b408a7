"""Run the Alembic history programmatically (CLI, tests, the Kubernetes migration Job)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util.exc import CommandError
from sqlalchemy import create_engine, pool

from pyairtable_platform.kit.db import plain_url

REPO_ROOT = Path(__file__).resolve().parents[2]


class MigrationError(RuntimeError):
    pass


def alembic_config(database_url: str) -> Config:
    root = Path(os.environ.get("PAP_PROJECT_DIR", REPO_ROOT))
    ini = root / "alembic.ini"
    if not ini.exists():
        raise MigrationError(f"alembic.ini not found in {root}; set PAP_PROJECT_DIR")
    config = Config(str(ini))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def current_revision(database_url: str) -> str | None:
    url = "postgresql+psycopg://" + plain_url(database_url)[len("postgresql://") :]
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def check_not_newer(database_url: str) -> None:
    """Refuse to touch a database migrated by newer code than this checkout."""
    config = alembic_config(database_url)
    script = ScriptDirectory.from_config(config)
    current = current_revision(database_url)
    if current is None:
        return
    try:
        known = script.get_revision(current) is not None
    except (ResolutionError, CommandError):
        known = False
    if not known:
        raise MigrationError(
            f"the database is at revision {current!r}, which this code does not know: "
            "it was migrated by a newer version. Deploy that version (or newer) instead."
        )


def upgrade(database_url: str, revision: str = "head") -> None:
    check_not_newer(database_url)
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    check_not_newer(database_url)
    command.downgrade(alembic_config(database_url), revision)
