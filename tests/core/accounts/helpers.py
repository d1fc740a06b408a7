"""Helpers shared by the accounts, workspaces and API key tests: a real core server on the
test PostgreSQL and Redis, and small HTTP shortcuts."""

from __future__ import annotations

import itertools
import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import redis

from pyairtable_platform.core.app import create_app
from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.devinfra.throwaway import Infra
from tests.support.servers import ThreadServer

PASSWORD = "correct-horse-battery-staple"
_ips = itertools.count(1)


def settings_for(infra: Infra, **overrides: Any) -> CoreSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": infra.app_url,
        "redis_url": infra.redis_url,
        "log_level": "WARNING",
        "secret_key": secrets.token_urlsafe(48),
        # Lockouts long enough that a test sees them, whatever the machine's speed.
        "login_lockout_base_seconds": 60.0,
    }
    values.update(overrides)
    return CoreSettings(**values)


@contextmanager
def core_server(infra: Infra, **overrides: Any) -> Iterator[tuple[ThreadServer, CoreSettings]]:
    settings = settings_for(infra, **overrides)
    with ThreadServer(create_app(settings)) as server:
        yield server, settings


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def client_ip() -> str:
    """A distinct client address per call (X-Forwarded-For), so per-IP login throttling of
    one test never touches another."""
    n = next(_ips)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    email: str
    password: str
    access: str
    refresh: str
    user_id: uuid.UUID
    workspace_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)


def whoami(client: httpx.Client, token: str) -> dict[str, Any]:
    response = client.get("/api/v1/auth/whoami", headers=bearer(token))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def register(
    client: httpx.Client, email: str | None = None, password: str = PASSWORD, **extra: Any
) -> Account:
    email = email or unique_email()
    response = client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, **extra},
        headers={"X-Forwarded-For": client_ip()},
    )
    assert response.status_code == 201, response.text
    pair = response.json()
    me = whoami(client, pair["access_token"])
    return Account(
        email=email,
        password=password,
        access=pair["access_token"],
        refresh=pair["refresh_token"],
        user_id=uuid.UUID(me["user_id"]),
        workspace_id=uuid.UUID(me["workspace_id"]),
    )


def login(client: httpx.Client, email: str, password: str, ip: str | None = None) -> httpx.Response:
    return client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": ip or client_ip()},
    )


def switch(client: httpx.Client, account: Account, workspace_id: uuid.UUID) -> str:
    response = client.post(f"/api/v1/workspaces/{workspace_id}/switch", headers=account.headers)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def outbox(redis_url: str, to: str, kind: str) -> list[dict[str, Any]]:
    """Messages of one kind sent to one address, newest first."""
    client = redis.Redis.from_url(redis_url)
    try:
        entries = [json.loads(raw) for raw in client.lrange("pap:mail:outbox", 0, -1)]
    finally:
        client.close()
    return [e for e in entries if e["to"].lower() == to.lower() and e["kind"] == kind]


def token_from_link(link: str) -> str:
    return link.split("token=", 1)[1]


def assert_error(response: httpx.Response, status: int, error: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert {"error", "detail", "request_id"} <= set(body), body
    if error is not None:
        assert body["error"] == error, body
    return body
