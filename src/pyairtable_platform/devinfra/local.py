"""Project-owned PostgreSQL clusters and Redis servers, run as local processes.

No Docker engine runs on the machines this project targets, so ``make up`` and the test
suite start their own servers from the distribution's packages. PostgreSQL refuses to run
as root; when we are root the cluster is owned by and run as the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pyairtable_platform.devinfra.sql import bootstrap_database

REPO_ROOT = Path(__file__).resolve().parents[3]
PG_CONF = REPO_ROOT / "deploy" / "postgres" / "postgresql.conf"
# Preloaded when the server has them; order matters for timescaledb's own checks.
PRELOAD_CANDIDATES = ("timescaledb", "pg_stat_statements", "pgaudit", "auto_explain", "pg_cron")


class InfraError(RuntimeError):
    """A local server could not be prepared; the message says what to do."""


def free_port(start: int | None = None) -> int:
    """A free TCP port on loopback: the first free one from ``start``, else any."""
    if start is not None:
        for port in range(start, start + 200):
            if port_is_free(port):
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def wait_for(predicate: object, timeout: float, what: str, interval: float = 0.1) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise InfraError(f"timed out after {timeout:g}s waiting for {what}")


def pg_bindir() -> Path:
    """The newest installed PostgreSQL server's bin directory."""
    candidates = []
    for path in Path("/usr/lib/postgresql").glob("*/bin/postgres"):
        with contextlib.suppress(ValueError):
            candidates.append((int(path.parent.parent.name), path.parent))
    if not candidates:
        raise InfraError(
            "no PostgreSQL server found under /usr/lib/postgresql; run `make up` or "
            "`scripts/bootstrap.sh`, which install it with apt"
        )
    return max(candidates)[1]


def pg_major(bindir: Path) -> int:
    return int(bindir.parent.name)


def available_preload_libraries(bindir: Path) -> list[str]:
    libdir = bindir.parent / "lib"
    return [lib for lib in PRELOAD_CANDIDATES if (libdir / f"{lib}.so").exists()]


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _as_postgres(cmd: list[str]) -> list[str]:
    if _running_as_root():
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _chown_to_postgres(path: Path) -> None:
    if not _running_as_root():
        return
    entry = pwd.getpwnam("postgres")
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, entry.pw_uid, entry.pw_gid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), entry.pw_uid, entry.pw_gid)


def _postgres_can_reach(path: Path) -> bool:
    if not _running_as_root():
        return True
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(path)],
        check=False,
        capture_output=True,
    )
    return result.returncode == 0


@dataclass
class LocalPostgres:
    """One cluster in ``data_dir`` listening on 127.0.0.1:``port`` (TCP only, SCRAM)."""

    data_dir: Path
    port: int
    superuser_password: str
    log_file: Path | None = None

    @property
    def superuser_url(self) -> str:
        return f"postgresql://postgres:{self.superuser_password}@127.0.0.1:{self.port}/postgres"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def is_running(self) -> bool:
        pid = self.pid()
        return pid is not None and pid_alive(pid)

    def init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        bindir = pg_bindir()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if not _postgres_can_reach(self.data_dir.parent):
            raise InfraError(
                f"the postgres system user cannot reach {self.data_dir.parent}; "
                "put the checkout (or PAP_DATA_DIR) somewhere world-traversable"
            )
        staging = self.data_dir.with_name(self.data_dir.name + ".init")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        pwfile = staging.parent / f".{self.data_dir.name}.pw"
        pwfile.write_text(self.superuser_password + "\n")
        pwfile.chmod(0o600)
        _chown_to_postgres(staging)
        _chown_to_postgres(pwfile)
        try:
            cmd = [
                str(bindir / "initdb"),
                "-D",
                str(staging),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
            result = subprocess.run(_as_postgres(cmd), check=False, capture_output=True, text=True)
            if result.returncode != 0:
                raise InfraError(f"initdb failed: {result.stderr.strip() or result.stdout}")
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_config(staging, bindir)
        staging.rename(self.data_dir)

    def _write_config(self, data_dir: Path, bindir: Path) -> None:
        preload = available_preload_libraries(bindir)
        lines = [
            "# Written by pyairtable-platform; the shared settings live in deploy/postgres.",
        ]
        if PG_CONF.exists():
            lines.append(f"include '{PG_CONF}'")
        lines += [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            # TCP only: socket paths inside deep checkouts can pass the 107-byte limit.
            "unix_socket_directories = ''",
            f"shared_preload_libraries = '{','.join(preload)}'",
            "logging_collector = off",
        ]
        if "pgaudit" in preload:
            lines += ["pgaudit.log = 'write,ddl'", "pgaudit.log_parameter = on"]
        if "pg_cron" in preload:
            lines.append("cron.database_name = 'postgres'")
        (data_dir / "postgresql.auto.conf").write_text("\n".join(lines) + "\n")
        _chown_to_postgres(data_dir)

    def start(self, timeout: float = 60) -> None:
        if self.is_running():
            return
        self.init()
        log = self.log_file or (self.data_dir.parent / "postgres.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        log.touch()
        _chown_to_postgres(log)
        cmd = [
            str(pg_bindir() / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(log),
            "-w",
            "-t",
            str(int(timeout)),
            "-o",
            f"-p {self.port}",
            "start",
        ]
        result = subprocess.run(_as_postgres(cmd), check=False, capture_output=True, text=True)
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise InfraError(f"PostgreSQL did not start on port {self.port}:\n{tail}")
        wait_for(lambda: not port_is_free(self.port), 10, "PostgreSQL to listen")

    def stop(self) -> None:
        if not self.is_running():
            return
        cmd = [str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
        subprocess.run(_as_postgres(cmd), check=False, capture_output=True)
        pid = self.pid()
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)

    def bootstrap(self, credentials: Credentials, database: str = "pyairtable") -> None:
        bootstrap_database(self.superuser_url, credentials, database)


@dataclass
class Credentials:
    """Passwords of the three platform roles (owner runs migrations)."""

    owner_password: str
    app_password: str
    admin_password: str

    @classmethod
    def generate(cls) -> Credentials:
        return cls(
            owner_password=secrets.token_urlsafe(18),
            app_password=secrets.token_urlsafe(18),
            admin_password=secrets.token_urlsafe(18),
        )


def database_urls(
    port: int, credentials: Credentials, database: str = "pyairtable"
) -> dict[str, str]:
    host = f"127.0.0.1:{port}"
    return {
        "owner": f"postgresql://pap_owner:{credentials.owner_password}@{host}/{database}",
        "app": f"postgresql://application_user:{credentials.app_password}@{host}/{database}",
        "admin": f"postgresql://admin_user:{credentials.admin_password}@{host}/{database}",
    }


@dataclass
class LocalRedis:
    """A Redis server in ``data_dir`` on 127.0.0.1:``port``, without persistence (cache,
    rate limits and locks only)."""

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "redis.pid"

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def is_running(self) -> bool:
        pid = self.pid()
        return pid is not None and pid_alive(pid)

    def start(self, timeout: float = 20) -> None:
        if self.is_running():
            return
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise InfraError("redis-server is not installed; run `make up`, which installs it")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--pidfile",
            str(self.pid_file),
            "--dir",
            str(self.data_dir),
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory",
            "256mb",
            "--maxmemory-policy",
            "volatile-lru",
        ]
        result = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if result.returncode != 0:
            raise InfraError(f"redis-server failed: {result.stderr or result.stdout}")
        wait_for(self.ping, timeout, f"Redis on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10) -> None:
        pid = self.pid()
        if pid is None or not pid_alive(pid):
            return
        os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(InfraError):
            wait_for(lambda: not pid_alive(pid), timeout, "Redis to stop")
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
