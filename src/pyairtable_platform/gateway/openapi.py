"""One API reference for the whole platform: core's and ai's OpenAPI documents merged with
the gateway's own, at ``/api/openapi.json``, browsable at ``/api/docs``.

Swagger UI's assets are served from the ``swagger-ui-bundle-v2`` package rather than a
CDN: the platform is self-hosted and must work offline (docs/decisions/0005-gateway.md).
"""

from __future__ import annotations

import asyncio
import copy
import importlib.resources
import logging
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.responses import FileResponse, HTMLResponse, Response

from pyairtable_platform import __version__
from pyairtable_platform.gateway.routes import Upstream, access_for, match_target
from pyairtable_platform.kit.errors import NotFound
from pyairtable_platform.kit.responses import JSONResponse

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

# The package is untyped; its one attribute is this directory.
_ASSETS = Path(str(importlib.resources.files("swagger_ui_bundle"))) / "vendor/swagger-ui-5.31.0"
_ASSET_FILES = frozenset(
    {
        "swagger-ui.css",
        "index.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
        "favicon-16x16.png",
    }
)
_SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token (JWT from /api/v1/auth/login) or an API key (pap_...).",
    },
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Failed fetches are retried sooner than good documents are refreshed.
_RETRY_FAILED_SECONDS = 5.0

_DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>PyAirtable Platform API</title>
    <link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
    <link rel="stylesheet" href="/api/docs/assets/index.css">
    <link rel="icon" type="image/png" href="/api/docs/assets/favicon-32x32.png" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/api/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/api/docs/assets/swagger-ui-standalone-preset.js"></script>
    <script src="/api/docs/init.js"></script>
  </body>
</html>
"""
# A file, not an inline script, so the page works under a CSP without 'unsafe-inline'.
_INIT_SCRIPT = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
};
"""


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                name = value.rsplit("/", 1)[-1]
                renamed = value.startswith("#/components/schemas/") and name in renames
                out[key] = f"#/components/schemas/{renames[name]}" if renamed else value
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def merge_documents(
    own: dict[str, Any], upstreams: dict[Upstream, dict[str, Any] | None]
) -> dict[str, Any]:
    """Merge the gateway's document with each upstream's.

    Only paths the gateway actually routes to that upstream are kept (so the reference
    never lists a path that would reach the wrong service). Schema names that clash with
    a different definition are prefixed with the service name. Operations behind
    authentication get the bearer / API key security requirement.
    """
    merged: dict[str, Any] = {
        "openapi": own.get("openapi", "3.1.0"),
        "info": {
            "title": "PyAirtable Platform API",
            "version": __version__,
            "description": (
                "Every endpoint of the platform, as reached through the gateway. "
                "Authenticate with `Authorization: Bearer <access token or API key>`."
            ),
        },
        "paths": copy.deepcopy(own.get("paths", {})),
        "components": {
            "schemas": copy.deepcopy(own.get("components", {}).get("schemas", {})),
            "securitySchemes": copy.deepcopy(_SECURITY_SCHEMES),
        },
        "tags": list(own.get("tags", [])),
    }
    schemas: dict[str, Any] = merged["components"]["schemas"]
    unavailable: list[str] = []
    for service, document in upstreams.items():
        if document is None:
            unavailable.append(service)
            continue
        renames: dict[str, str] = {}
        theirs = document.get("components", {}).get("schemas", {})
        for name, schema in theirs.items():
            if name in schemas and schemas[name] != schema:
                renames[name] = f"{service}__{name}"
        for name, schema in theirs.items():
            schemas[renames.get(name, name)] = _rewrite_refs(schema, renames)
        for path, item in document.get("paths", {}).items():
            target = match_target(path)
            if target is None or target.upstream != service:
                continue
            merged["paths"][path] = _secure(path, _rewrite_refs(item, renames))
        known_tags = {tag.get("name") for tag in merged["tags"]}
        merged["tags"].extend(
            t for t in document.get("tags", []) if t.get("name") not in known_tags
        )
    if unavailable:
        merged["x-unavailable-services"] = unavailable
        merged["info"]["description"] += (
            f"\n\n**Incomplete:** {', '.join(unavailable)} did not answer; their endpoints "
            "are missing from this page for now."
        )
    if not merged["tags"]:
        del merged["tags"]
    return merged


def _secure(path: str, item: dict[str, Any]) -> dict[str, Any]:
    if access_for(path).anonymous:
        return item
    for method in _METHODS:
        operation = item.get(method)
        if isinstance(operation, dict) and "security" not in operation:
            operation["security"] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
    return item


class OpenAPIAggregator:
    """Builds the merged document on demand and keeps it for ``ttl`` seconds."""

    def __init__(
        self, app: FastAPI, http: httpx.AsyncClient, urls: dict[Upstream, str], ttl: float
    ) -> None:
        self.app = app
        self.http = http
        self.urls = urls
        self.ttl = ttl
        self._document: dict[str, Any] | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        if self._document is not None and time.monotonic() < self._expires:
            return self._document
        async with self._lock:
            if self._document is not None and time.monotonic() < self._expires:
                return self._document
            services = list(self.urls)
            fetched = await asyncio.gather(*(self._fetch(self.urls[s]) for s in services))
            own = get_openapi(title="gateway", version=__version__, routes=self.app.routes)
            document = merge_documents(own, dict(zip(services, fetched, strict=True)))
            complete = all(doc is not None for doc in fetched)
            self._document = document
            self._expires = time.monotonic() + (self.ttl if complete else _RETRY_FAILED_SECONDS)
            return document

    async def _fetch(self, base: str) -> dict[str, Any] | None:
        try:
            response = await self.http.get(f"{base.rstrip('/')}/openapi.json", timeout=5.0)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("cannot fetch OpenAPI from %s: %s", base, exc)
            return None
        return body if isinstance(body, dict) else None


@router.get("/api/openapi.json")
async def merged_openapi(request: Request) -> JSONResponse:
    """The merged OpenAPI document of gateway, core and ai."""
    aggregator: OpenAPIAggregator = request.app.state.openapi
    return JSONResponse(await aggregator.document())


@router.get("/api/docs")
async def api_docs() -> HTMLResponse:
    """Swagger UI for the merged document, with its assets served locally."""
    return HTMLResponse(_DOCS_PAGE)


@router.get("/api/docs/init.js")
async def api_docs_init() -> Response:
    return Response(_INIT_SCRIPT, media_type="text/javascript")


@router.get("/api/docs/assets/{name}")
async def api_docs_asset(name: str) -> FileResponse:
    if name not in _ASSET_FILES:
        raise NotFound(f"no such asset: {name}")
    return FileResponse(_ASSETS / name, headers={"cache-control": "public, max-age=86400"})
