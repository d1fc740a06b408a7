"""The core platform service (port 8001): accounts, Airtable access, MCP, files, workflows."""

from __future__ import annotations

from fastapi import FastAPI

from pyairtable_platform.core.accounts.router import direct_routes as accounts_direct_routes
from pyairtable_platform.core.accounts.router import router as accounts_router
from pyairtable_platform.core.actions.router import router as actions_router
from pyairtable_platform.core.airtable.deps import airtable_extension
from pyairtable_platform.core.airtable.router import router as airtable_router
from pyairtable_platform.core.api_keys.router import router as api_keys_router
from pyairtable_platform.core.auth.router import router as auth_router
from pyairtable_platform.core.auth.state import auth_extension
from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.core.jobs import jobs_extension
from pyairtable_platform.core.mcp.server import McpMount
from pyairtable_platform.core.monitoring.router import router as monitoring_router
from pyairtable_platform.core.sandbox.api_router import router as sandbox_tokens_router
from pyairtable_platform.core.sandbox.app import create_sandbox_app, sandbox_extension
from pyairtable_platform.core.search.router import router as search_router
from pyairtable_platform.core.workspaces.router import router as workspaces_router
from pyairtable_platform.kit.app import create_service_app


def create_app(settings: CoreSettings | None = None) -> FastAPI:
    settings = settings or CoreSettings()
    sandbox = create_sandbox_app(settings)
    mcp = McpMount(settings)
    app = create_service_app(
        service="core",
        settings=settings,
        title="PyAirtable Platform core",
        routers=[
            auth_router,
            accounts_router,
            workspaces_router,
            api_keys_router,
            monitoring_router,
            sandbox_tokens_router,
            actions_router,
            airtable_router,
            search_router,
        ],
        extensions=[
            auth_extension,
            sandbox_extension(sandbox),
            airtable_extension,
            jobs_extension,
            mcp.extension,
        ],
    )
    app.mount("/sandbox", sandbox)
    mcp.install(app)
    app.router.routes[0:0] = accounts_direct_routes
    return app
