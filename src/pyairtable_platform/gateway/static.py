"""The web frontend (a Next.js static export) with single-page-app fallback.

A catch-all route placed after everything else. Unknown paths that a browser navigates to
(GET, ``Accept: text/html``) get ``index.html`` so client-side routes survive a reload;
anything under ``/api``, ``/mcp``, ``/sandbox`` or ``/.well-known`` and anything that is not
a page navigation get a JSON 404 — never HTML where a program expects JSON.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from pyairtable_platform.gateway.routes import is_reserved
from pyairtable_platform.kit.errors import error_response

# Next.js puts content-hashed assets here: safe to cache forever.
_IMMUTABLE_PREFIX = "_next/static/"


class _Label:
    path = "static"


class FrontendRoute(BaseRoute):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = StaticFiles(directory=directory, check_dir=False)
        self.label = _Label()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        # PARTIAL for other methods lets a gateway route of the same path answer 405.
        match = Match.FULL if scope["method"] in ("GET", "HEAD") else Match.PARTIAL
        return match, {"route": self.label}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.response_for(scope)
        await response(scope, receive, send)

    def response_for(self, scope: Scope) -> Response:
        path: str = scope["path"]
        if scope["method"] not in ("GET", "HEAD") or is_reserved(path):
            return _not_found(path)
        relative = path.lstrip("/")
        candidates = (
            [relative, f"{relative.rstrip('/')}.html", f"{relative.rstrip('/')}/index.html"]
            if relative
            else ["index.html"]
        )
        for candidate in candidates:
            response = self._file(candidate, scope)
            if response is not None:
                return response
        accept = Headers(scope=scope).get("accept", "")
        if "text/html" in accept:
            fallback = self._file("index.html", scope)
            if fallback is not None:
                return fallback
        return _not_found(path)

    def _file(self, relative: str, scope: Scope) -> Response | None:
        full_path, stat_result = self.files.lookup_path(relative)
        if stat_result is None or not stat.S_ISREG(stat_result.st_mode):
            return None
        response = self.files.file_response(full_path, stat_result, scope)
        if relative.startswith(_IMMUTABLE_PREFIX):
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        elif os.path.splitext(relative)[1] == ".html":
            # Pages name the current asset hashes: always revalidate.
            response.headers["cache-control"] = "no-cache"
        else:
            response.headers["cache-control"] = "public, max-age=3600"
        return response


def _not_found(path: str) -> Response:
    return error_response(404, "not_found", f"no such endpoint or page: {path}")
