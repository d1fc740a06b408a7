"""`pyairtable-platform`: serve a service, migrate, seed, and run the local stack."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from enum import StrEnum
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


class Service(StrEnum):
    gateway = "gateway"
    core = "core"
    ai = "ai"


class Role(StrEnum):
    owner = "owner"
    app = "app"
    admin = "admin"


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@app.command()
def serve(
    service: Service,
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8000/8001/8002)")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Run one service with uvicorn."""
    import uvicorn
    from pydantic import ValidationError

    from pyairtable_platform.ai.config import AiSettings
    from pyairtable_platform.core.config import CoreSettings
    from pyairtable_platform.gateway.config import GatewaySettings

    settings_class = {"gateway": GatewaySettings, "core": CoreSettings, "ai": AiSettings}[service]
    try:
        settings = settings_class()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        _fail(f"{service} cannot start, its settings are invalid: {problems}")
        return
    uvicorn.run(
        f"pyairtable_platform.{service}.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=service == "gateway",
        server_header=False,
    )


@app.command()
def migrate(
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
    down: Annotated[bool, typer.Option(help="downgrade to --revision instead")] = False,
) -> None:
    """Apply (or roll back) the Alembic history as the owner role."""
    from pyairtable_platform.migrations_runner import MigrationError, downgrade, upgrade

    url = _migration_url()
    try:
        if down:
            downgrade(url, revision)
        else:
            upgrade(url, revision)
    except MigrationError as exc:
        _fail(str(exc))


def _migration_url() -> str:
    for name in ("MIGRATION_DATABASE_URL", "DATABASE_OWNER_URL"):
        if os.environ.get(name):
            return os.environ[name]
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from pyairtable_platform.devinfra.stack import load_or_create_state

    return load_or_create_state().urls["owner"]


def _app_database_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from pyairtable_platform.devinfra.stack import load_or_create_state

    return load_or_create_state().urls["app"]


@app.command()
def seed() -> None:
    """Create the demo user, workspace, sandbox base "Product Launch" and the workspace's
    sandbox connection (idempotent)."""
    from pyairtable_platform.core.airtable.connections import ensure_sandbox_connection
    from pyairtable_platform.core.config import CoreSettings
    from pyairtable_platform.core.sandbox.seed import DEMO_BASE_NAME, seed_sandbox_demo
    from pyairtable_platform.core.seed import DEMO_EMAIL, seed_demo
    from pyairtable_platform.kit.db import create_engine, create_session_factory

    async def run() -> None:
        engine = create_engine(_app_database_url(), pool_size=2)
        try:
            factory = create_session_factory(engine)
            result = await seed_demo(factory)
            base_id, base_created = await seed_sandbox_demo(factory, result.workspace_id)
            _, connected = await ensure_sandbox_connection(
                factory,
                CoreSettings().secret_box(),
                result.workspace_id,
                result.user_id,
                base=(base_id, DEMO_BASE_NAME),
            )
        finally:
            await engine.dispose()
        verb = "created" if result.created else "already present"
        typer.echo(f"demo workspace {verb}: {DEMO_EMAIL} (workspace {result.workspace_id})")
        verb = "created" if base_created else "already present"
        typer.echo(f"sandbox base {verb}: {DEMO_BASE_NAME} ({base_id})")
        verb = "created" if connected else "already present"
        typer.echo(f"sandbox connection {verb} (the mirror syncs the base in the background)")

    asyncio.run(run())


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="jobs run at once")] = None,
) -> None:
    """Run the job worker (mirror sync, retention...) as its own process. Core runs one
    inside itself unless CORE_WITH_WORKER=false."""
    from pyairtable_platform.core.config import CoreSettings
    from pyairtable_platform.core.jobs import run_worker

    asyncio.run(run_worker(CoreSettings(), concurrency=concurrency))


@app.command("db-url")
def db_url(
    role: Annotated[Role, typer.Option(help="which role's URL")] = Role.app,
) -> None:
    """Print the connection URL of the project's database (for psql and operators)."""
    if role is Role.app and os.environ.get("DATABASE_URL"):
        typer.echo(os.environ["DATABASE_URL"])
        return
    if role is Role.owner and (
        os.environ.get("MIGRATION_DATABASE_URL") or os.environ.get("DATABASE_OWNER_URL")
    ):
        typer.echo(os.environ.get("MIGRATION_DATABASE_URL") or os.environ["DATABASE_OWNER_URL"])
        return
    from pyairtable_platform.devinfra.stack import load_or_create_state

    typer.echo(load_or_create_state().urls[role.value])


@app.command("db-bootstrap")
def db_bootstrap(
    superuser_url: Annotated[str, typer.Option(help="a superuser URL of the target server")],
) -> None:
    """Create roles, database and extensions on an external server (run once, privileged)."""
    from pyairtable_platform.devinfra.sql import bootstrap_database
    from pyairtable_platform.devinfra.stack import load_or_create_state

    state = load_or_create_state()
    installed = bootstrap_database(superuser_url, state.credentials, "pyairtable")
    typer.echo(f"bootstrapped; extensions: {', '.join(installed) or 'none'}")


@app.command()
def up() -> None:
    """Start PostgreSQL, Redis and the three services; migrate; seed; wait until healthy."""
    from pyairtable_platform.core.seed import DEMO_EMAIL, DEMO_PASSWORD
    from pyairtable_platform.devinfra import stack
    from pyairtable_platform.devinfra.local import InfraError
    from pyairtable_platform.migrations_runner import MigrationError, upgrade

    state = stack.load_or_create_state()
    try:
        stack.start_infrastructure(state)
        upgrade(stack.migration_url(state))
        env = stack.service_env(state)
        subprocess.run(
            [sys.executable, "-m", "pyairtable_platform.cli", "seed"], env=env, check=True
        )
        stack.start_services(state)
        health = stack.wait_healthy(state)
    except (InfraError, MigrationError, subprocess.CalledProcessError) as exc:
        _fail(f"{exc}\nlogs: {stack.data_dir() / 'logs'}")
        return
    gateway = state.service_ports["gateway"]
    services = ", ".join(f"{k} {v['status']}" for k, v in health["services"].items())
    typer.echo(
        f"\nPyAirtable Platform is up: http://127.0.0.1:{gateway}  ({services})\n"
        f"  demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
        f"  health:     curl http://127.0.0.1:{gateway}/api/health\n"
        f"  logs:       make logs     stop: make down"
    )


@app.command()
def down() -> None:
    """Stop everything `up` started (services, Redis, PostgreSQL), by pid."""
    from pyairtable_platform.devinfra import stack

    stopped = stack.stop_services()
    state = stack.StackState.load(stack.data_dir() / "state.json")
    if state is not None:
        stack.stop_infrastructure(state)
    typer.echo(
        f"stopped: {', '.join(stopped) or 'no services were running'}; infrastructure stopped"
    )


@app.command()
def status() -> None:
    """Show which services of the local stack are running."""
    from pyairtable_platform.devinfra import stack

    state = stack.load_or_create_state()
    for name, line in stack.service_status(state).items():
        typer.echo(f"{name:8} {line}")


sandbox_app = typer.Typer(no_args_is_help=True, help="The sandbox Airtable: tokens, bases.")
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("token")
def sandbox_token(
    workspace: Annotated[
        str | None, typer.Option(help="workspace id (default: the demo workspace)")
    ] = None,
    name: Annotated[str, typer.Option(help="a label for the token")] = "CLI token",
) -> None:
    """Issue a sandbox personal access token and print it (shown only once)."""
    from pyairtable_platform.core.sandbox.admin import WorkspaceNotFound, issue_cli_token

    try:
        issued = asyncio.run(issue_cli_token(_app_database_url(), workspace, name))
    except WorkspaceNotFound as exc:
        _fail(str(exc))
        return
    typer.echo(issued.token)


@sandbox_app.command("generate")
def sandbox_generate(
    records: Annotated[int, typer.Option(min=1, help="how many records")],
    workspace: Annotated[
        str | None, typer.Option(help="workspace id (default: the demo workspace)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="base name")] = None,
) -> None:
    """Create a sandbox base with one table of N records (for benchmarks)."""
    from pyairtable_platform.core.sandbox.admin import WorkspaceNotFound, generate

    try:
        base_id = asyncio.run(generate(_app_database_url(), workspace, records, name))
    except WorkspaceNotFound as exc:
        _fail(str(exc))
        return
    typer.echo(f"{base_id} (table Items, {records} records)")


@app.command("mcp-stdio")
def mcp_stdio(
    url: Annotated[
        str, typer.Option(help="the platform's MCP endpoint", envvar="PAP_MCP_URL")
    ] = "http://127.0.0.1:8000/mcp",
    api_key: Annotated[
        str | None, typer.Option(help="an API key (pap_...)", envvar="PAP_API_KEY")
    ] = None,
) -> None:
    """Relay MCP over stdio (for desktop clients) to a running platform's /mcp endpoint."""
    import anyio

    from pyairtable_platform.core.mcp.stdio import relay

    if not api_key:
        _fail(
            "an API key is needed: --api-key pap_... (or PAP_API_KEY); create one with "
            "`pyairtable-platform api-key create`"
        )
        return
    anyio.run(relay, url, api_key)


api_key_app = typer.Typer(no_args_is_help=True, help="API keys for MCP clients and scripts.")
app.add_typer(api_key_app, name="api-key")


class KeyScope(StrEnum):
    read = "read"
    write = "write"


@api_key_app.command("create")
def api_key_create(
    workspace: Annotated[
        str | None, typer.Option(help="workspace id (default: the demo workspace)")
    ] = None,
    scope: Annotated[KeyScope, typer.Option(help="read or write")] = KeyScope.read,
    name: Annotated[str, typer.Option(help="a label for the key")] = "CLI key",
) -> None:
    """Create an API key for the workspace's owner and print it (shown only once)."""
    from pyairtable_platform.core.mcp.admin import WorkspaceNotFound, create_cli_key

    try:
        issued = asyncio.run(create_cli_key(_app_database_url(), workspace, scope.value, name))
    except WorkspaceNotFound as exc:
        _fail(str(exc))
        return
    typer.echo(issued.key)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
