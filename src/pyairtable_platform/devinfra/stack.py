"""`make up` / `make down`: the whole platform as local processes, tracked by pid files.

Layout of the state directory (``.data/`` in the checkout, or ``PAP_DATA_DIR``)::

    state.json        ports and generated passwords (kept so `up` is idempotent)
    pg/               the PostgreSQL cluster          redis/  the Redis server
    logs/<svc>.log    service logs                    pids/<svc>.pid
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyairtable_platform.devinfra.local import (
    REPO_ROOT,
    Credentials,
    InfraError,
    LocalPostgres,
    LocalRedis,
    database_urls,
    free_port,
    pid_alive,
    port_is_free,
)

SERVICES = ("core", "ai", "gateway")
DEFAULT_PORTS = {"gateway": 8000, "core": 8001, "ai": 8002}


def data_dir() -> Path:
    return Path(os.environ.get("PAP_DATA_DIR", REPO_ROOT / ".data")).resolve()


@dataclass
class StackState:
    pg_port: int
    redis_port: int
    superuser_password: str
    credentials: Credentials
    secret_key: str
    service_ports: dict[str, int] = field(default_factory=dict)

    @property
    def urls(self) -> dict[str, str]:
        return database_urls(self.pg_port, self.credentials)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = asdict(self)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        raw["credentials"] = Credentials(**raw["credentials"])
        return cls(**raw)


def _service_ports(previous: dict[str, int]) -> dict[str, int]:
    """Explicit env wins; else the ports this checkout used before; else 8000-8002, or the
    first offset of 100 whose three ports are free (a second checkout running beside)."""
    explicit = "PORT_OFFSET" in os.environ or any(
        f"{name.upper()}_PORT" in os.environ for name in DEFAULT_PORTS
    )
    if explicit:
        offset = int(os.environ.get("PORT_OFFSET", "0"))
        return {
            name: int(os.environ.get(f"{name.upper()}_PORT", default + offset))
            for name, default in DEFAULT_PORTS.items()
        }
    if previous:
        return previous
    for offset in range(0, 1000, 100):
        ports = {name: default + offset for name, default in DEFAULT_PORTS.items()}
        if all(port_is_free(port) for port in ports.values()):
            return ports
    raise InfraError("no free set of service ports between 8000 and 8902; set PORT_OFFSET")


def load_or_create_state() -> StackState:
    path = data_dir() / "state.json"
    state = StackState.load(path)
    if state is None:
        state = StackState(
            pg_port=int(os.environ.get("PG_PORT") or free_port(55432)),
            redis_port=int(os.environ.get("REDIS_PORT") or free_port(56379)),
            superuser_password=secrets.token_urlsafe(18),
            credentials=Credentials.generate(),
            secret_key=secrets.token_urlsafe(48),
        )
    state.service_ports = _service_ports(state.service_ports)
    state.save(path)
    return state


def external_urls() -> tuple[str | None, str | None]:
    return os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")


def service_env(state: StackState) -> dict[str, str]:
    """The environment every service process gets."""
    db_url, redis_url = external_urls()
    ports = state.service_ports
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db_url or state.urls["app"],
            "REDIS_URL": redis_url or f"redis://127.0.0.1:{state.redis_port}/0",
            "SECRET_KEY": os.environ.get("SECRET_KEY", state.secret_key),
            "CORE_URL": f"http://127.0.0.1:{ports['core']}",
            "AI_URL": f"http://127.0.0.1:{ports['ai']}",
            "PUBLIC_URL": f"http://127.0.0.1:{ports['gateway']}",
        }
    )
    return env


def migration_url(state: StackState) -> str:
    return (
        os.environ.get("MIGRATION_DATABASE_URL")
        or os.environ.get("DATABASE_OWNER_URL")
        or os.environ.get("DATABASE_URL")
        or state.urls["owner"]
    )


def start_infrastructure(state: StackState) -> None:
    """Start the project's PostgreSQL and Redis unless external ones are configured."""
    db_url, redis_url = external_urls()
    root = data_dir()
    if not db_url:
        pg = LocalPostgres(
            root / "pg", state.pg_port, state.superuser_password, root / "logs" / "postgres.log"
        )
        pg.start()
        pg.bootstrap(state.credentials)
    if not redis_url:
        LocalRedis(root / "redis", state.redis_port).start()


def stop_infrastructure(state: StackState) -> None:
    root = data_dir()
    LocalRedis(root / "redis", state.redis_port).stop()
    LocalPostgres(root / "pg", state.pg_port, state.superuser_password).stop()


def _pid_file(name: str) -> Path:
    return data_dir() / "pids" / f"{name}.pid"


def _read_pid(name: str) -> int | None:
    try:
        return int(_pid_file(name).read_text().strip())
    except (OSError, ValueError):
        return None


def _http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_services(state: StackState) -> None:
    env = service_env(state)
    logs = data_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    _pid_file("x").parent.mkdir(parents=True, exist_ok=True)
    for name in SERVICES:
        port = state.service_ports[name]
        pid = _read_pid(name)
        if pid and pid_alive(pid):
            continue
        if not port_is_free(port):
            raise InfraError(
                f"port {port} for {name} is taken by another process; stop it or choose other "
                f"ports, e.g. `PORT_OFFSET=100 make up` or `{name.upper()}_PORT=...`"
            )
        cmd = [sys.executable, "-m", "pyairtable_platform.cli", "serve", name, "--port", str(port)]
        with (logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=REPO_ROOT,
            )
        _pid_file(name).write_text(str(proc.pid))


def wait_healthy(state: StackState, timeout: float = 90) -> dict[str, Any]:
    url = f"http://127.0.0.1:{state.service_ports['gateway']}/api/health"
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for name in SERVICES:
            pid = _read_pid(name)
            if pid is None or not pid_alive(pid):
                tail = _tail(data_dir() / "logs" / f"{name}.log")
                raise InfraError(f"{name} exited during start; last log lines:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                last = json.loads(response.read())
                if last.get("status") == "healthy":
                    return last
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.3)
    raise InfraError(f"the stack did not become healthy within {timeout:g}s: {last}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_services(timeout: float = 15) -> list[str]:
    stopped = []
    for name in reversed(SERVICES):
        pid = _read_pid(name)
        if pid is None:
            continue
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid_alive(pid):
                os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        _pid_file(name).unlink(missing_ok=True)
    return stopped


def service_status(state: StackState) -> dict[str, str]:
    status = {}
    for name in SERVICES:
        pid = _read_pid(name)
        if pid and pid_alive(pid):
            ok = _http_ok(f"http://127.0.0.1:{state.service_ports[name]}/health")
            status[name] = f"running (pid {pid}){'' if ok else ', not answering'}"
        else:
            status[name] = "stopped"
    return status
