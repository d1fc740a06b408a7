"""/ready follows Redis going away and coming back, without a restart of the service."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pyairtable_platform.core.app import create_app
from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.devinfra.local import LocalRedis, free_port
from tests.conftest import Infra
from tests.support.servers import ThreadServer


def _wait_status(url: str, status: int, timeout: float = 15) -> httpx.Response:
    deadline = time.monotonic() + timeout
    response = httpx.get(url, timeout=5)
    while response.status_code != status and time.monotonic() < deadline:
        time.sleep(0.1)
        response = httpx.get(url, timeout=5)
    return response


@pytest.fixture
def own_redis(infra: Infra) -> Iterator[LocalRedis]:
    redis = LocalRedis(Path(infra.data_dir) / f"redis-ready-{free_port()}", free_port())
    redis.start()
    yield redis
    redis.stop()


def test_ready_goes_503_when_redis_stops_and_200_when_it_returns(
    infra: Infra, own_redis: LocalRedis
) -> None:
    settings = CoreSettings(
        database_url=infra.app_url, redis_url=own_redis.url, log_level="CRITICAL"
    )
    with ThreadServer(create_app(settings)) as server:
        assert httpx.get(f"{server.url}/ready").status_code == 200

        own_redis.stop()
        down = _wait_status(f"{server.url}/ready", 503)
        assert down.status_code == 503
        body = down.json()
        assert body["checks"]["redis"]["ok"] is False
        assert body["checks"]["postgres"]["ok"] is True
        assert body["detail"] == "unavailable: redis"

        own_redis.start()
        up = _wait_status(f"{server.url}/ready", 200)
        assert up.status_code == 200
        assert up.json()["checks"]["redis"]["ok"] is True


def test_ready_reports_postgres_unreachable(infra: Infra, own_redis: LocalRedis) -> None:
    dead = f"postgresql://application_user:x@127.0.0.1:{free_port()}/nothing"
    settings = CoreSettings(database_url=dead, redis_url=own_redis.url, log_level="CRITICAL")
    with ThreadServer(create_app(settings)) as server:
        response = httpx.get(f"{server.url}/ready", timeout=10)
    assert response.status_code == 503
    assert response.json()["checks"]["postgres"]["ok"] is False
    assert response.json()["checks"]["redis"]["ok"] is True
