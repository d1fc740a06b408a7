"""Throwaway PostgreSQL + Redis for a test run or a benchmark: private temp dir, free
ports, bootstrapped roles, migrated schema; everything removed on exit."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pyairtable_platform.devinfra.local import (
    Credentials,
    LocalPostgres,
    LocalRedis,
    database_urls,
    free_port,
)
from pyairtable_platform.devinfra.sql import bootstrap_database
from pyairtable_platform.migrations_runner import upgrade


@dataclass
class Infra:
    superuser_url: str
    credentials: Credentials
    pg_port: int
    redis_url: str
    data_dir: Path
    database: str

    def urls(self, database: str | None = None) -> dict[str, str]:
        return database_urls(self.pg_port, self.credentials, database or self.database)

    @property
    def app_url(self) -> str:
        return self.urls()["app"]

    @property
    def owner_url(self) -> str:
        return self.urls()["owner"]

    @property
    def admin_url(self) -> str:
        return self.urls()["admin"]


@contextmanager
def throwaway_infra(database: str = "pap_test", *, migrate: bool = True) -> Iterator[Infra]:
    """Start (or reuse, via TEST_PG_SUPERUSER_URL / TEST_REDIS_URL) PostgreSQL and Redis."""
    # Not pytest's tmp_path: its parents are private (0700) and the cluster runs as the
    # postgres system user, who must reach the directory.
    base = Path(tempfile.mkdtemp(prefix="pap-infra-"))
    base.chmod(0o755)
    credentials = Credentials.generate()
    external_pg = os.environ.get("TEST_PG_SUPERUSER_URL")
    external_redis = os.environ.get("TEST_REDIS_URL")
    pg: LocalPostgres | None = None
    redis: LocalRedis | None = None
    try:
        if external_pg:
            superuser_url = external_pg
            pg_port = int(external_pg.rsplit(":", 1)[1].split("/")[0])
        else:
            pg = LocalPostgres(base / "pg", free_port(), secrets.token_urlsafe(12))
            pg.start()
            superuser_url, pg_port = pg.superuser_url, pg.port
        if external_redis:
            redis_url = external_redis
        else:
            redis = LocalRedis(base / "redis", free_port())
            redis.start()
            redis_url = redis.url
        bootstrap_database(superuser_url, credentials, database)
        infra = Infra(superuser_url, credentials, pg_port, redis_url, base, database)
        if migrate:
            upgrade(infra.owner_url)
        yield infra
    finally:
        if redis is not None:
            redis.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(base, ignore_errors=True)
