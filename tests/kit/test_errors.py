"""The shared error shape, on an app built with the same factory as the services."""

from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError

from pyairtable_platform.kit.app import create_service_app
from pyairtable_platform.kit.errors import NotFound, RateLimited
from pyairtable_platform.kit.settings import ServiceSettings
from tests.conftest import Infra
from tests.support.servers import ThreadServer

router = APIRouter()


class Item(BaseModel):
    name: str = Field(min_length=1)
    count: int


@router.post("/items")
async def create_item(item: Item) -> Item:
    return item


@router.get("/items/{item_id}")
async def get_item(item_id: int) -> dict[str, int]:
    raise NotFound(f"item {item_id} does not exist")


@router.get("/limited")
async def limited() -> None:
    raise RateLimited("slow down", retry_after=2.5)


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")


@pytest.fixture(scope="module")
def server(infra: Infra) -> Iterator[ThreadServer]:
    settings = ServiceSettings(redis_url=infra.redis_url, log_level="CRITICAL")
    app = create_service_app(service="errors-test", settings=settings, title="t", routers=[router])
    with ThreadServer(app) as srv:
        yield srv


async def test_platform_error_renders_status_and_shape(server: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/items/7", headers={"X-Request-ID": "r-1"})
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "detail": "item 7 does not exist",
        "request_id": "r-1",
    }


async def test_rate_limited_error_sets_retry_after(server: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/limited")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"] == "rate_limited"


async def test_validation_errors_are_422_in_the_same_shape(server: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post("/items", json={"name": "", "count": "many"})
    body = response.json()
    assert response.status_code == 422
    assert body["error"] == "validation_error"
    assert body["request_id"] == response.headers["x-request-id"]
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "name"), ("body", "count")}
    assert "body.name" in body["detail"]


async def test_malformed_json_is_422_not_500(server: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post(
            "/items", content=b'{"name": "x", ', headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["detail"] == "request body is not valid JSON"


async def test_path_parameter_of_wrong_type_is_422(server: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/items/abc")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["path", "item_id"]


async def test_unexpected_error_is_500_without_internals(server: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error"
    assert body["detail"] == "an unexpected error occurred"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


@router.get("/db/{sqlstate}")
async def db_failure(sqlstate: str) -> None:
    class FakeDriverError(Exception):
        pass

    orig = FakeDriverError("driver message with internals")
    orig.sqlstate = sqlstate  # type: ignore[attr-defined]
    raise DBAPIError("SELECT secret_column", {}, orig)


@pytest.mark.parametrize(
    ("sqlstate", "status", "error"),
    [
        ("42501", 403, "forbidden"),
        ("23505", 409, "conflict"),
        ("22P02", 422, "validation_error"),
        ("57014", 503, "service_unavailable"),
        ("XX000", 500, "internal_error"),
    ],
)
async def test_database_refusals_map_to_statuses_without_internals(
    server: ThreadServer, sqlstate: str, status: int, error: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get(f"/db/{sqlstate}")
    assert response.status_code == status
    assert response.json()["error"] == error
    assert "secret_column" not in response.text
    assert "internals" not in response.text
