"""`pyairtable-platform up` / `down` end to end, in a private data dir on free ports, so it
runs beside a developer's own `make up` without colliding."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyairtable_platform.devinfra.local import free_port, pid_alive, port_is_free


@pytest.fixture
def stack_env() -> Iterator[dict[str, str]]:
    data = Path(tempfile.mkdtemp(prefix="pap-stack-"))
    data.chmod(0o755)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "ENVIRONMENT", "SECRET_KEY"}
    }
    env.update(
        {
            "PAP_DATA_DIR": str(data),
            "PG_PORT": str(free_port()),
            "REDIS_PORT": str(free_port()),
            "GATEWAY_PORT": str(free_port()),
            "CORE_PORT": str(free_port()),
            "AI_PORT": str(free_port()),
        }
    )
    yield env
    subprocess.run([sys.executable, "-m", "pyairtable_platform.cli", "down"], env=env, check=False)
    shutil.rmtree(data, ignore_errors=True)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyairtable_platform.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _pids(data: Path) -> list[int]:
    pids = [int(p.read_text()) for p in (data / "pids").glob("*.pid")]
    pids.append(int((data / "pg" / "postmaster.pid").read_text().split()[0]))
    pids.append(int((data / "redis" / "redis.pid").read_text().strip()))
    return pids


def test_up_is_healthy_idempotent_and_down_leaves_nothing_running(
    stack_env: dict[str, str],
) -> None:
    first = _cli(stack_env, "up")
    assert first.returncode == 0, first.stderr + first.stdout
    assert "demo login: demo@pyairtable.local" in first.stdout

    url = f"http://127.0.0.1:{stack_env['GATEWAY_PORT']}/api/health"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert response.status == 200
    assert body["status"] == "healthy"
    assert body["services"]["core"]["status"] == "healthy"
    assert body["services"]["ai"]["status"] == "healthy"

    data = Path(stack_env["PAP_DATA_DIR"])
    pids = _pids(data)
    second = _cli(stack_env, "up")
    assert second.returncode == 0, second.stderr
    assert "workspace already present" in second.stdout
    assert _pids(data) == pids  # nothing restarted, nothing duplicated

    url_result = _cli(stack_env, "db-url", "--role", "owner")
    assert url_result.stdout.startswith("postgresql://pap_owner:")
    assert f":{stack_env['PG_PORT']}/pyairtable" in url_result.stdout

    down = _cli(stack_env, "down")
    assert down.returncode == 0, down.stderr
    assert [pid for pid in pids if pid_alive(pid)] == []
    for name in ("PG_PORT", "REDIS_PORT", "GATEWAY_PORT", "CORE_PORT", "AI_PORT"):
        assert port_is_free(int(stack_env[name])), name
