"""A core server of its own for the accounts, workspaces and API key tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from pyairtable_platform.core.config import CoreSettings
from tests.conftest import Infra
from tests.core.accounts.helpers import core_server
from tests.support.servers import ThreadServer


@pytest.fixture(scope="session")
def core(infra: Infra) -> Iterator[tuple[ThreadServer, CoreSettings]]:
    with core_server(infra) as running:
        yield running


@pytest.fixture
def client(core: tuple[ThreadServer, CoreSettings]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=core[0].url, timeout=30) as http:
        yield http
