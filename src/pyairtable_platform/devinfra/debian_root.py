"""A cached Debian root with PostgreSQL 17 + TimescaleDB + pgaudit, and a server running from it.

Debian 12 ships no TimescaleDB package, but Debian 13 (trixie) ships the Apache edition as
``postgresql-17-timescaledb``. Rather than depending on a third-party apt repository (not
reachable here) or a container runtime (not installed), we ``debootstrap`` a minimal trixie
root once per machine, install the server packages into it with ``chroot apt-get``, and run
``postgres`` from that root with ``chroot --userspec``. A chroot shares the host's network
namespace, so a server listening on ``127.0.0.1:<port>`` inside it is reachable from the host
like any local server.

Everything here needs root (``debootstrap`` and ``chroot`` both do).

CLI: ``python -m pyairtable_platform.devinfra.debian_root build`` builds (or reuses) the root and
prints its path, so a Makefile or CI script can pay the one-off build cost up front.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = [
    "DEFAULT_CACHE_DIR",
    "ChrootPostgres",
    "DebianRootError",
    "ensure_debian_root",
    "host_has_timescaledb",
    "main",
]

log = logging.getLogger(__name__)

PG_MAJOR = 17
PACKAGES: tuple[str, ...] = (
    f"postgresql-{PG_MAJOR}",
    f"postgresql-{PG_MAJOR}-timescaledb",
    f"postgresql-{PG_MAJOR}-pgaudit",
)
# Bump when the build recipe changes in a way that should invalidate existing cached roots: the
# marker records it, and a root whose marker disagrees is rebuilt rather than trusted.
RECIPE_VERSION = 1
MARKER_NAME = ".pap-debian-root.json"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# Generous bounds: a cold debootstrap + apt install is a few minutes on a decent link, but a hung
# mirror connection must not stall a test run forever.
_BUILD_STEP_TIMEOUT_S = 1800.0
_CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    # The root has no locales package; C.UTF-8 is built into glibc, so it always exists.
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
}


def _exe(name: str) -> str:
    """Absolute path of a host tool (sbin dirs included: non-login root shells may lack them)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    found = shutil.which(name, path=search)
    if found is None:
        raise DebianRootError(f"{name} is not installed on this host")
    return found


def _run(
    argv: Sequence[str], *, check: bool = False, **kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    """subprocess.run with the program resolved to an absolute path and no implicit check.

    All commands here are built from fixed program names plus paths and names we validated, never
    from a shell string, so running them is not an injection risk.
    """
    return subprocess.run([_exe(argv[0]), *argv[1:]], check=check, **kwargs)


def _default_cache_dir() -> Path:
    # Machine-wide by default so every clone, worktree and CI run on the machine shares one
    # multi-minute build; per-user only when we could not write /var/cache anyway.
    override = os.environ.get("PAP_DEBIAN_ROOT_CACHE")
    if override:
        return Path(override)
    if os.geteuid() == 0:
        return Path("/var/cache/pyairtable-platform")
    return Path.home() / ".cache" / "pyairtable-platform"


DEFAULT_CACHE_DIR: Path = _default_cache_dir()


class DebianRootError(RuntimeError):
    """Building the Debian root or running PostgreSQL from it failed; the message says what."""


def host_has_timescaledb(pg_major: int) -> bool:
    """True when the host's own PostgreSQL ``pg_major`` has the TimescaleDB extension installed."""
    return Path(f"/usr/share/postgresql/{pg_major}/extension/timescaledb.control").is_file()


# --------------------------------------------------------------------------------------------
# Mount hygiene
# --------------------------------------------------------------------------------------------


def _unescape_mountinfo(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal sequences.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts_under(path: Path) -> list[Path]:
    """Mount points at or below ``path``, deepest first (the order they must be unmounted in)."""
    base = os.path.realpath(path)
    found: list[Path] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        point = _unescape_mountinfo(fields[4])
        if point == base or point.startswith(base.rstrip("/") + "/"):
            found.append(Path(point))
    found.sort(key=lambda p: len(p.parts), reverse=True)
    return found


def _unmount_all_under(path: Path) -> None:
    """Unmount everything below ``path``; raise if anything is still mounted afterwards."""
    for point in _mounts_under(path):
        result = _run(["umount", str(point)], capture_output=True, text=True)
        if result.returncode != 0:
            # A busy mount (a process still has cwd there) cannot be unmounted normally; a lazy
            # unmount detaches it from the tree now, which is what matters for deleting safely.
            _run(["umount", "--lazy", str(point)], capture_output=True, text=True)
    leftover = _mounts_under(path)
    if leftover:
        raise DebianRootError(
            f"could not unmount {', '.join(map(str, leftover))}; refusing to continue because "
            "deleting or reusing the tree could reach into the mounted host filesystem"
        )


def _remove_tree(path: Path) -> None:
    """Delete a (possibly half-built) root, making sure no mount inside it survives first.

    shutil.rmtree descends into mount points, so a leftover bind mount of /dev or /proc from a
    killed build would otherwise let it delete host files.
    """
    if not path.exists() and not path.is_symlink():
        return
    _unmount_all_under(path)
    shutil.rmtree(path)


@contextmanager
def _proc_mounted(root: Path) -> Iterator[None]:
    # Some maintainer scripts (and apt's own helpers) read /proc; mount it only for the apt
    # phase, and always unmount, so a cached root never carries a mount around.
    proc = root / "proc"
    proc.mkdir(exist_ok=True)
    mounted = _run(["mount", "-t", "proc", "proc", str(proc)], capture_output=True, text=True)
    if mounted.returncode != 0:
        raise DebianRootError(f"mounting /proc in {root} failed: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        _unmount_all_under(proc)


# --------------------------------------------------------------------------------------------
# Building the root
# --------------------------------------------------------------------------------------------


def _expected_marker(suite: str) -> dict[str, object]:
    return {"recipe": RECIPE_VERSION, "suite": suite, "packages": list(PACKAGES)}


def _marker_ok(root: Path, suite: str) -> bool:
    try:
        data = json.loads((root / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    expected = _expected_marker(suite)
    return all(data.get(key) == value for key, value in expected.items())


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _diagnose(output: str) -> str:
    """Turn the usual debootstrap/apt failure lines into a one-line cause."""
    missing = re.findall(r"Unable to locate package (\S+)", output)
    if missing:
        return f"package(s) not found in the archive: {', '.join(sorted(set(missing)))}"
    missing = re.findall(r"Package '?(\S+?)'? has no installation candidate", output)
    if missing:
        return f"package(s) have no installation candidate: {', '.join(sorted(set(missing)))}"
    for pattern, cause in (
        (
            r"Failed getting release file|Temporary failure resolving|Could not resolve|"
            r"Failed to fetch|Connection (refused|timed out)|Couldn't download|"
            r"Network is unreachable",
            "the Debian mirror is unreachable or returned errors",
        ),
        (
            r"Release signed by unknown key|NO_PUBKEY|Invalid Release signature|BADSIG",
            "the mirror's Release file could not be verified with the local archive keyring",
        ),
        (r"Could not get lock|dpkg was interrupted", "the dpkg/apt lock could not be taken"),
        (r"No space left on device", "the disk is full"),
        (r"No such script", "this debootstrap does not know the requested suite"),
    ):
        if re.search(pattern, output):
            return cause
    return "see the log for details"


def _run_logged(
    cmd: Sequence[str], logfile: Path, what: str, *, env: Mapping[str, str] | None = None
) -> None:
    """Run a build step, appending its output to ``logfile``; raise a DebianRootError on failure.

    Output goes to a file rather than the terminal because a cold build prints thousands of lines
    that would drown test output; the error message quotes the relevant tail instead.
    """
    log.info("debian root: %s", what)
    with logfile.open("a") as out:
        out.write(f"\n=== {what}: {' '.join(cmd)}\n")
        out.flush()
        start = out.tell()
        try:
            result = _run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                timeout=_BUILD_STEP_TIMEOUT_S,
            )
        except FileNotFoundError as exc:
            raise DebianRootError(f"{what} failed: {cmd[0]} not found ({exc})") from exc
        except subprocess.TimeoutExpired as exc:
            raise DebianRootError(
                f"{what} did not finish within {_BUILD_STEP_TIMEOUT_S:.0f}s (log: {logfile})"
            ) from exc
    if result.returncode != 0:
        output = logfile.read_bytes()[start:].decode(errors="replace")
        raise DebianRootError(
            f"{what} failed (exit {result.returncode}): {_diagnose(output)}\n"
            f"log: {logfile}\n--- last lines ---\n{_tail(logfile)}"
        )


def _host_apt_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DEBIAN_FRONTEND"] = "noninteractive"
    return env


# Another process may be mid-`apt-get install` on the host; waiting on the dpkg lock is better
# than failing a test run because of it.
_APT_LOCK_WAIT = ["-o", "DPkg::Lock::Timeout=900"]


_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


def _find_debootstrap() -> str | None:
    try:
        return _exe("debootstrap")
    except DebianRootError:
        return None


def _ensure_debootstrap(logfile: Path) -> str:
    """Return debootstrap's path, installing it (and the archive keyring) on the host if needed.

    The keyring matters as much as the tool: without it debootstrap cannot verify the mirror's
    Release file, and we never want to build from an unverified archive.
    """
    missing = []
    if _find_debootstrap() is None:
        missing.append("debootstrap")
    if not _KEYRING.is_file():
        missing.append("debian-archive-keyring")
    if missing:
        if shutil.which("apt-get") is None:
            raise DebianRootError(f"{' and '.join(missing)} missing and apt-get is unavailable")
        env = _host_apt_env()
        _run_logged(
            ["apt-get", *_APT_LOCK_WAIT, "update"], logfile, "apt-get update (host)", env=env
        )
        _run_logged(
            ["apt-get", *_APT_LOCK_WAIT, "install", "-y", "--no-install-recommends", *missing],
            logfile,
            f"installing {' '.join(missing)} on the host",
            env=env,
        )
    found = _find_debootstrap()
    if found is None or not _KEYRING.is_file():
        raise DebianRootError(f"{' and '.join(missing)} still missing after apt-get install")
    return found


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _prepare_for_apt(root: Path) -> None:
    # Maintainer scripts try to start services; in a chroot that would start a stray server on
    # the host's network namespace (and fail noisily). 101 = "action forbidden by policy".
    _write(root / "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
    # postgresql-common would otherwise create and start a default "main" cluster on port 5432.
    _write(root / "etc/postgresql-common/createcluster.conf", "create_main_cluster = false\n")
    _write(
        root / "etc/apt/apt.conf.d/90pap",
        'APT::Install-Recommends "false";\n'
        'APT::Install-Suggests "false";\n'
        'Acquire::Languages "none";\n'
        # The mirror may be a pinned archive snapshot whose Release file is past Valid-Until.
        'Acquire::Check-Valid-Until "false";\n',
    )
    # Documentation and translations are dead weight in a root used only to run a server.
    _write(
        root / "etc/dpkg/dpkg.cfg.d/90pap-nodoc",
        "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n"
        "path-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\n"
        "path-exclude=/usr/share/locale/*\n",
    )
    # apt inside the chroot resolves the mirror's name with the chroot's resolv.conf.
    host_resolv = Path("/etc/resolv.conf")
    if host_resolv.exists():
        target = root / "etc/resolv.conf"
        if target.is_symlink():
            target.unlink()
        shutil.copyfile(host_resolv, target)


def _verify_root(root: Path) -> None:
    required = [
        root / f"usr/lib/postgresql/{PG_MAJOR}/bin/postgres",
        root / f"usr/lib/postgresql/{PG_MAJOR}/bin/initdb",
        root / f"usr/lib/postgresql/{PG_MAJOR}/bin/pg_ctl",
        root / f"usr/lib/postgresql/{PG_MAJOR}/bin/pg_isready",
        root / f"usr/share/postgresql/{PG_MAJOR}/extension/timescaledb.control",
        root / f"usr/share/postgresql/{PG_MAJOR}/extension/pgaudit.control",
    ]
    missing = [str(p.relative_to(root)) for p in required if not p.exists()]
    if missing:
        raise DebianRootError(f"the built root lacks {', '.join(missing)}")
    _chroot_ids(root, "postgres")  # raises if the packages did not create the user
    # Postgres opens /dev/null and /dev/urandom; a cache dir on a nodev filesystem would make
    # the device nodes debootstrap created unusable, so check they actually work.
    probe = _run(
        [
            "chroot",
            str(root),
            "/bin/sh",
            "-c",
            "head -c 16 /dev/urandom > /dev/null && : > /dev/null",
        ],
        capture_output=True,
        text=True,
        env=_CHROOT_ENV,
    )
    if probe.returncode != 0:
        raise DebianRootError(
            f"device nodes in {root}/dev are unusable (nodev filesystem?): {probe.stderr.strip()}"
        )


def _build(build_dir: Path, suite: str, logfile: Path) -> None:
    debootstrap = _ensure_debootstrap(logfile)
    mirror = os.environ.get("PAP_DEBIAN_MIRROR", DEFAULT_MIRROR)
    # The keyring is passed explicitly so a signature problem fails loudly instead of
    # debootstrap silently falling back to unverified downloads.
    cmd = [debootstrap, "--variant=minbase", "--components=main", f"--keyring={_KEYRING}"]
    cmd += [suite, str(build_dir), mirror]
    try:
        _run_logged(cmd, logfile, f"debootstrap {suite} from {mirror}")
    finally:
        # debootstrap mounts /proc and /sys in the target; if it died mid-way they can linger.
        _unmount_all_under(build_dir)

    _prepare_for_apt(build_dir)
    env = dict(_CHROOT_ENV, DEBIAN_FRONTEND="noninteractive", HOME="/root")
    chroot = ["chroot", str(build_dir)]
    with _proc_mounted(build_dir):
        _run_logged(
            [*chroot, "apt-get", "update"], logfile, f"apt-get update ({suite} root)", env=env
        )
        _run_logged(
            [*chroot, "apt-get", "install", "-y", "--no-install-recommends", *PACKAGES],
            logfile,
            f"apt-get install {' '.join(PACKAGES)} ({suite} root)",
            env=env,
        )
        _run_logged([*chroot, "apt-get", "clean"], logfile, "apt-get clean", env=env)
    # Package lists are ~100 MB and only useful for further installs, which we never do; a
    # recipe change bumps RECIPE_VERSION and rebuilds from scratch instead.
    lists = build_dir / "var/lib/apt/lists"
    for entry in lists.iterdir() if lists.is_dir() else ():
        if entry.is_file() and entry.name != "lock":
            entry.unlink()
    # Belt and braces: if the createcluster.conf was somehow ignored, drop the default cluster
    # so it can never be started by accident on 5432.
    for leftover in (
        build_dir / f"etc/postgresql/{PG_MAJOR}/main",
        build_dir / f"var/lib/postgresql/{PG_MAJOR}/main",
    ):
        if leftover.exists():
            shutil.rmtree(leftover)
    # initdb and postgres (running as the postgres user) need a world-writable, sticky /tmp.
    (build_dir / "tmp").mkdir(exist_ok=True)
    (build_dir / "tmp").chmod(0o1777)
    (build_dir / "var/lib/pap").mkdir(parents=True, exist_ok=True)
    _verify_root(build_dir)


def ensure_debian_root(cache_dir: Path = DEFAULT_CACHE_DIR, *, suite: str = "trixie") -> Path:
    """Return a Debian ``suite`` root with PostgreSQL 17, TimescaleDB and pgaudit installed.

    Idempotent and safe to call from several processes at once: the first caller builds while
    the others wait on a lock file; later calls return the cached root immediately.
    """
    if not re.fullmatch(r"[a-z][a-z0-9-]*", suite):
        raise DebianRootError(f"invalid suite name {suite!r}")
    name = f"debian-{suite}-pg{PG_MAJOR}"
    root = cache_dir / name
    # Fast path without the lock: the marker only ever appears in a fully built root, because
    # the root is renamed into place after the marker was written.
    if _marker_ok(root, suite):
        return root
    if os.geteuid() != 0:
        raise DebianRootError("building the Debian root needs root (debootstrap and chroot)")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DebianRootError(f"cannot create cache dir {cache_dir}: {exc}") from exc
    lock_path = cache_dir / f"{name}.lock"
    with lock_path.open("a") as lock_file:
        if not _try_lock(lock_file):
            log.info("debian root: waiting for another build of %s to finish", root)
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            # Another process may have finished the build while we waited.
            if _marker_ok(root, suite):
                return root
            return _build_locked(cache_dir, root, name, suite)
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _try_lock(lock_file: IO[str]) -> bool:
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _build_locked(cache_dir: Path, root: Path, name: str, suite: str) -> Path:
    # Under the lock nobody else is building, so any temp dir or unmarked root is debris from a
    # crashed or outdated build and can go.
    for debris in cache_dir.glob(f".{name}.build-*"):
        _remove_tree(debris)
    if root.exists():
        log.info("debian root: %s is incomplete or outdated; rebuilding", root)
        _remove_tree(root)
    build_dir = cache_dir / f".{name}.build-{os.getpid()}"
    logfile = cache_dir / f"{name}.build.log"
    logfile.write_text("")
    started = time.monotonic()
    ok = False
    try:
        _build(build_dir, suite, logfile)
        marker = dict(
            _expected_marker(suite), built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        )
        (build_dir / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n")
        os.sync()  # the rename below publishes the root; make sure its contents are on disk
        os.rename(build_dir, root)
        ok = True
    finally:
        if not ok:
            try:
                _remove_tree(build_dir)
            except DebianRootError:
                log.exception("debian root: could not clean up %s", build_dir)
    log.info("debian root: built %s in %.0fs", root, time.monotonic() - started)
    return root


# --------------------------------------------------------------------------------------------
# Running PostgreSQL from the root
# --------------------------------------------------------------------------------------------


def _chroot_ids(root: Path, user: str) -> tuple[int, int]:
    # The chroot's postgres user has whatever uid Debian's adduser gave it inside the root, which
    # need not match the host's, so ownership must come from the root's own /etc/passwd.
    try:
        for line in (root / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if len(fields) >= 4 and fields[0] == user:
                return int(fields[2]), int(fields[3])
    except OSError as exc:
        raise DebianRootError(f"cannot read {root}/etc/passwd: {exc}") from exc
    raise DebianRootError(f"user {user!r} does not exist in {root}")


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie has exited; it only lingers until its (re)parent reaps it.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _conf_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


class ChrootPostgres:
    """A PostgreSQL 17 server from the Debian root, listening on 127.0.0.1:port."""

    _START_TIMEOUT_S = 60.0
    _STOP_TIMEOUT_S = 60.0

    def __init__(self, root: Path, *, port: int, name: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", name):
            # The name becomes a directory and part of the socket path; keep it boring.
            raise ValueError(f"invalid instance name {name!r}")
        if not 0 < port < 65536:
            raise ValueError(f"invalid port {port}")
        self.root = Path(root)
        self.port = port
        self.name = name
        # Paths as the server sees them (inside the chroot) and as the host sees them.
        self._inner_dir = f"/var/lib/pap/{name}"
        self._inner_data = f"{self._inner_dir}/data"
        self._inner_log = f"{self._inner_dir}/postgres.log"
        self.instance_dir = self.root / self._inner_dir.lstrip("/")
        self.data_dir = self.root / self._inner_data.lstrip("/")
        self.log_file = self.root / self._inner_log.lstrip("/")
        # Kept outside the data dir (root-owned, 0600) so a restarted instance can reuse it.
        self._password_file = self.instance_dir / "superuser.password"
        self._password: str | None = None

    # -- helpers ---------------------------------------------------------------------------

    def _bin(self, tool: str) -> str:
        return f"/usr/lib/postgresql/{PG_MAJOR}/bin/{tool}"

    def _run_as_postgres(
        self, args: Sequence[str], *, timeout: float = 120.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["chroot", "--userspec=postgres:postgres", str(self.root), *args]
        env = dict(_CHROOT_ENV, HOME="/var/lib/postgresql", PGTZ="UTC")
        try:
            result = _run(
                cmd,
                capture_output=True,
                text=True,
                env=env,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise DebianRootError(f"{args[0]} did not finish within {timeout:.0f}s") from exc
        if check and result.returncode != 0:
            raise DebianRootError(
                f"{' '.join(args)} failed (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}"
            )
        return result

    def _log_tail(self) -> str:
        tail = _tail(self.log_file, 30)
        return f"\n--- {self.log_file} ---\n{tail}" if tail else ""

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while a postmaster.pid file exists, else None."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            return int(first)
        except (OSError, ValueError):
            return None

    def is_running(self) -> bool:
        pid = self.pid
        return pid is not None and _pid_alive(pid)

    @property
    def password(self) -> str:
        if self._password is None:
            try:
                self._password = self._password_file.read_text().strip()
            except OSError as exc:
                raise DebianRootError(
                    f"no superuser password for instance {self.name!r}; start() it first"
                ) from exc
        return self._password

    @property
    def superuser_url(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    # -- lifecycle -------------------------------------------------------------------------

    def _initdb(self) -> None:
        uid, gid = _chroot_ids(self.root, "postgres")
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.instance_dir, uid, gid)
        self.instance_dir.chmod(0o700)
        # token_urlsafe only yields [A-Za-z0-9_-], so the password needs no URL escaping.
        password = secrets.token_urlsafe(24)
        old_umask = os.umask(0o077)
        try:
            self._password_file.write_text(password + "\n")
            # initdb runs as postgres and must read the password; it is deleted right after.
            pwfile = self.instance_dir / "initdb.pw"
            pwfile.write_text(password + "\n")
        finally:
            os.umask(old_umask)
        os.chown(pwfile, uid, gid)
        try:
            self._run_as_postgres(
                [
                    self._bin("initdb"),
                    "-D",
                    self._inner_data,
                    "--username=postgres",
                    f"--pwfile={self._inner_dir}/initdb.pw",
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                    "--locale=C.UTF-8",
                    "--encoding=UTF8",
                    "--no-instructions",
                    # Disposable server: flushing the new cluster to disk only costs time.
                    "--no-sync",
                ],
                timeout=300.0,
            )
        except DebianRootError:
            # Leave no half-initialised data dir behind: the next start() would skip initdb.
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)
            raise
        finally:
            pwfile.unlink(missing_ok=True)
        self._password = password
        # TCP only from loopback, always with a password; the unix socket (inside the data dir,
        # so instances never collide) uses peer auth for the chroot's own tools.
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(
            "local all all peer\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        os.chown(hba, uid, gid)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# Managed by pyairtable_platform.devinfra.debian_root; rewritten on "
                "every start.\ninclude_if_exists = 'pap.conf'\n"
            )

    def _write_runtime_conf(
        self, shared_preload_libraries: Sequence[str], settings: Mapping[str, str] | None
    ) -> None:
        values: dict[str, str] = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": self._inner_data,
            "password_encryption": "scram-sha-256",
            "shared_preload_libraries": ",".join(shared_preload_libraries),
            # The chroot has no /dev/shm mount and we do not want to add one (mounts can leak),
            # so dynamic shared memory uses files in the data dir instead of POSIX shm.
            "dynamic_shared_memory_type": "mmap",
            "huge_pages": "off",
            "timezone": "UTC",
            "log_timezone": "UTC",
            # Never phone home from a test server.
            "timescaledb.telemetry_level": "off",
            # A disposable dev/test server: trade crash safety for speed. Overridable.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        for key, value in (settings or {}).items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
                raise ValueError(f"invalid setting name {key!r}")
            values[key] = str(value)
        body = "".join(f"{key} = {_conf_quote(value)}\n" for key, value in values.items())
        uid, gid = _chroot_ids(self.root, "postgres")
        conf = self.data_dir / "pap.conf"
        conf.write_text("# Written by ChrootPostgres.start(); do not edit.\n" + body)
        os.chown(conf, uid, gid)

    def start(
        self,
        *,
        shared_preload_libraries: Sequence[str] = ("timescaledb", "pg_stat_statements", "pgaudit"),
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """initdb on first use, (re)write the config, start, and wait until it accepts clients."""
        if os.geteuid() != 0:
            raise DebianRootError("running PostgreSQL from the Debian root needs root (chroot)")
        if self.is_running():
            return
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._write_runtime_conf(shared_preload_libraries, settings)
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        # -W: return at once; readiness is checked below with pg_isready so that a server that
        # dies on startup is reported with its log instead of a generic pg_ctl timeout.
        self._run_as_postgres(
            [self._bin("pg_ctl"), "start", "-W", "-D", self._inner_data, "-l", self._inner_log]
        )
        isready = [
            self._bin("pg_isready"),
            "-q",
            "-h",
            self._inner_data,
            "-p",
            str(self.port),
            "-t",
            "2",
        ]
        started = time.monotonic()
        deadline = started + self._START_TIMEOUT_S
        while True:
            # Ask through this instance's own unix socket, not 127.0.0.1:port: if something else
            # already listens on the port, TCP would report *that* server as ready while ours
            # failed to bind. Postgres exits when it cannot bind its TCP address, so our socket
            # answering also means the TCP listener is up.
            ready = self._run_as_postgres(isready, check=False, timeout=30.0)
            pid = self.pid
            if ready.returncode == 0 and pid is not None and _pid_alive(pid):
                return
            if self._startup_failed(pid, log_offset, time.monotonic() - started):
                raise DebianRootError(
                    f"PostgreSQL instance {self.name!r} exited during startup{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise DebianRootError(
                    f"PostgreSQL instance {self.name!r} did not accept connections on "
                    f"127.0.0.1:{self.port} within {self._START_TIMEOUT_S:.0f}s"
                    f"{self._log_tail()}"
                )
            time.sleep(0.2)

    def _startup_failed(self, pid: int | None, log_offset: int, elapsed: float) -> bool:
        if pid is not None:
            return not _pid_alive(pid)
        # No pid file: either the postmaster has not written it yet (pg_ctl -W returns before
        # that) or it already exited and removed it. A FATAL/PANIC logged since our start tells
        # the two apart at once; the grace period covers a death that logged nothing.
        try:
            with self.log_file.open("rb") as fh:
                fh.seek(log_offset)
                new_log = fh.read().decode(errors="replace")
        except OSError:
            new_log = ""
        return bool(re.search(r"\b(FATAL|PANIC):", new_log)) or elapsed > 10.0

    def stop(self) -> None:
        """Fast shutdown; a no-op when the server is not running."""
        pid = self.pid
        if pid is None or not _pid_alive(pid):
            return
        self._run_as_postgres(
            [
                self._bin("pg_ctl"),
                "stop",
                "-D",
                self._inner_data,
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(self._STOP_TIMEOUT_S)),
            ],
            check=False,
            timeout=self._STOP_TIMEOUT_S + 30,
        )
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            # A fast shutdown that hangs (e.g. a stuck client) must not leave a server behind
            # after destroy(); SIGQUIT is postgres' immediate shutdown, SIGKILL the last resort.
            os.kill(pid, signal.SIGQUIT)
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)

    def destroy(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop()
        if self.instance_dir.exists():
            shutil.rmtree(self.instance_dir)
        self._password = None

    def __enter__(self) -> ChrootPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pyairtable_platform.devinfra.debian_root",
        description="Build (or reuse) the cached Debian root with PostgreSQL 17 + TimescaleDB.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="ensure the root exists and print its path")
    build.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    build.add_argument("--suite", default="trixie")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        root = ensure_debian_root(args.cache_dir, suite=args.suite)
    except DebianRootError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(f"{root}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
