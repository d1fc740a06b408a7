"""The ai service answers on its event loop: no endpoint or dependency goes to the thread pool.

FastAPI runs a plain ``def`` endpoint or dependency in a worker thread: a thread hop per
request, and under a burst a pool of threads that each keep a malloc arena of their own.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from pyairtable_platform.ai.app import create_app
from pyairtable_platform.ai.config import AiSettings


def _runs_on_the_loop(call: Any) -> bool:
    if inspect.isroutine(call):
        return inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
    # An instance with ``__call__`` (a security scheme, a class dependency).
    method = getattr(call, "__call__", None)  # noqa: B004 - we need the method itself
    return inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)


def _threaded(dependant: Dependant, where: str) -> list[str]:
    found = []
    if dependant.call is not None and not _runs_on_the_loop(dependant.call):
        found.append(f"{where}: {getattr(dependant.call, '__qualname__', dependant.call)!r}")
    for sub in dependant.dependencies:
        found.extend(_threaded(sub, where))
    return found


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # FastAPI keeps an included router as such
            found.extend(_api_routes(route.original_router.routes))
    return found


def test_no_ai_endpoint_or_dependency_runs_in_the_thread_pool(service_env: dict[str, str]) -> None:
    app = create_app(AiSettings())
    routes = _api_routes(app.routes)
    # Chat, sessions, provider, budgets, usage, analysis: a FastAPI that hid them would make
    # this test pass on nothing.
    assert any(route.path == "/api/v1/chat" for route in routes)
    threaded = [
        found
        for route in routes
        for found in _threaded(route.dependant, f"{sorted(route.methods)} {route.path}")
    ]
    assert threaded == []
