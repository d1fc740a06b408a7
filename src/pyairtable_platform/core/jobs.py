"""The durable job queue (procrastinate on PostgreSQL) and its worker.

Every blueprint of core is registered here under its namespace. The worker runs inside
core by default (a lifespan extension; ``CORE_WITH_WORKER=false`` turns it off, and it is
off by default when ``ENVIRONMENT=test`` so test servers do not run periodic jobs behind
the tests' backs) and as its own process with ``pyairtable-platform worker``. Its schema
comes from migration 0005.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import procrastinate
import psycopg_pool
from fastapi import FastAPI
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pyairtable_platform.core.actions import tasks as actions_tasks
from pyairtable_platform.core.analytics import tasks as analytics_tasks
from pyairtable_platform.core.audit import tasks as audit_tasks
from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.core.mirror import tasks as mirror_tasks
from pyairtable_platform.kit.app import Resources
from pyairtable_platform.kit.db import plain_url

logger = logging.getLogger(__name__)


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    # None: on, except with ENVIRONMENT=test.
    with_worker: bool | None = Field(
        default=None, validation_alias=AliasChoices("CORE_WITH_WORKER", "WITH_WORKER")
    )
    worker_concurrency: int = Field(
        default=2, ge=1, le=32, validation_alias=AliasChoices("CORE_WORKER_CONCURRENCY")
    )


# procrastinate binds a blueprint to the first App it is added to (renaming its tasks in
# place). Production runs one App per process; tests run several core apps in one process,
# so the mirror's tasks come from a fresh blueprint per App, and the module-level blueprints
# of audit and analytics join the first App only.
_module_blueprints_taken = False


def create_job_app(database_url: str) -> procrastinate.App:
    global _module_blueprints_taken  # noqa: PLW0603 - once per process, see above
    connector = procrastinate.PsycopgConnector(
        conninfo=plain_url(database_url), min_size=1, max_size=4
    )
    app = procrastinate.App(connector=connector)
    if not _module_blueprints_taken:
        _module_blueprints_taken = True
        app.add_tasks_from(audit_tasks.blueprint, namespace="audit")
        app.add_tasks_from(analytics_tasks.blueprint, namespace="analytics")
    app.add_tasks_from(mirror_tasks.make_blueprint(), namespace=mirror_tasks.NAMESPACE)
    app.add_tasks_from(actions_tasks.make_blueprint(), namespace=actions_tasks.NAMESPACE)
    return app


SHUTDOWN_GRACE_SECONDS = 10.0


def worker_options(resources: Resources, concurrency: int) -> dict[str, Any]:
    return {
        "concurrency": concurrency,
        "install_signal_handlers": False,
        "additional_context": {"airtable": resources.extras.get("airtable")},
        "delete_jobs": "successful",
        # At shutdown running jobs get this long to finish, then are aborted (and retried by
        # the next worker): without a limit a stop waits on the slowest job, and a service
        # that does not stop is killed by its supervisor anyway.
        "shutdown_graceful_timeout": SHUTDOWN_GRACE_SECONDS,
    }


@asynccontextmanager
async def jobs_extension(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
    """Open the job queue for deferring; run the worker here unless turned off."""
    settings = resources.settings
    assert isinstance(settings, CoreSettings)
    job_settings = JobSettings()
    jobs = create_job_app(settings.database_url.get_secret_value())
    resources.extras["jobs"] = jobs
    app.state.jobs = jobs
    airtable = resources.extras.get("airtable")
    if airtable is not None:
        airtable.jobs = jobs
    run_worker = job_settings.with_worker
    if run_worker is None:
        run_worker = settings.environment.value != "test"
    # Our own pool, opened without waiting: a core whose database is down still starts and
    # answers /ready with 503 instead of crashing; the pool connects when PostgreSQL returns.
    pool = psycopg_pool.AsyncConnectionPool(
        plain_url(settings.database_url.get_secret_value()),
        min_size=1,
        max_size=4,
        open=False,
        check=psycopg_pool.AsyncConnectionPool.check_connection,
    )
    await pool.open(wait=False)
    try:
        async with jobs.open_async(pool=pool):
            task = None
            if run_worker:
                options = worker_options(resources, job_settings.worker_concurrency)
                task = asyncio.create_task(_supervise_worker(jobs, options))
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
    finally:
        await pool.close()


async def _supervise_worker(jobs: procrastinate.App, options: dict[str, Any]) -> None:
    """Keep the in-process worker running: restart it with backoff when it stops on an
    error (the database went away), until the service shuts down."""
    delay = 1.0
    while True:
        try:
            await jobs.run_worker_async(**options)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("job worker stopped; restarting in %.0fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)


async def run_worker(settings: CoreSettings, *, concurrency: int | None = None) -> None:
    """``pyairtable-platform worker``: the job worker as its own process (same image)."""
    from pyairtable_platform.core.airtable.deps import build_airtable_deps
    from pyairtable_platform.kit.db import create_engine, create_session_factory
    from pyairtable_platform.kit.http import create_http_client
    from pyairtable_platform.kit.redis import create_redis

    engine = create_engine(settings.database_url.get_secret_value(), pool_size=4)
    redis = create_redis(settings.redis_url)
    http = create_http_client()
    resources = Resources(
        settings=settings,
        redis=redis,
        http=http,
        engine=engine,
        session_factory=create_session_factory(engine),
    )
    deps = build_airtable_deps(settings, resources)
    resources.extras["airtable"] = deps
    jobs = create_job_app(settings.database_url.get_secret_value())
    deps.jobs = jobs
    try:
        async with jobs.open_async():
            options = worker_options(resources, concurrency or JobSettings().worker_concurrency)
            options["install_signal_handlers"] = True
            await jobs.run_worker_async(**options)
    finally:
        await deps.clients.aclose()
        await http.aclose()
        await redis.aclose()
        await engine.dispose()
