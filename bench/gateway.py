"""Gateway latency at 1,000 concurrent users, against a minimal ASGI app in the same run.

Starts throwaway PostgreSQL and Redis, then core, ai and the gateway as separate processes
(exactly as `make up` does), signs a user up through the gateway and points 1,000 simulated
users at an authenticated, cheap core endpoint through the gateway — each user on its own
keep-alive connection, one request per second (`--rate`), for `--seconds`. Then the same
load against a minimal ASGI app (one uvicorn process answering a fixed JSON body), and the
ratio of the two.

The load generator is our own: an asyncio + uvloop client writing raw HTTP/1.1 in a
separate process. `wrk` has no rate control (it measures a closed loop at full throttle,
not 1,000 users at 1 req/s) and `wrk2` is not packaged. Latency is measured from each
request's *scheduled* send time, so a stalled server or generator cannot hide queueing
(no coordinated omission). The generator shares the machine's cores with the services:
the figures include its cost, as the target demands.

The default target, ``GET /api/v1/users/me``, is core's cached read: the token's
revocation counters and the cached profile come back in one Redis round trip, with no
database transaction (docs/decisions/0005-gateway.md). All simulated users share one
account, so the gateway's rate-limit bucket and core's profile entry are one each.

``--sweep 200,400,...`` measures the gateway at each user count in turn (same rate) and
names the highest that meets the goal: on a machine where the full load is out of reach,
that is the honest figure.

    uv run python bench/gateway.py [--users 1000] [--rate 1] [--seconds 30]
                                   [--gateway-workers 1] [--core-workers 1]
                                   [--path /api/v1/users/me] [--sweep 200,400,600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.procstat import children, cpu_seconds, pss_kb, rss_mb
from pyairtable_platform.devinfra.throwaway import throwaway_infra
from pyairtable_platform.gateway.routes import access_for

# --- the load generator (runs in its own process: `--generate`) ---------------------------

# A request without an answer by then counts as an error (and its connection is replaced).
REQUEST_TIMEOUT = 10.0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = -1
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    body = b""
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:-2]
            if size == 0:
                break
    elif length > 0:
        body = await reader.readexactly(length)
    return status, body


async def _user(
    port: int,
    request: bytes,
    first: float,
    period: float,
    measure_from: float,
    until: float,
    latencies: list[float],
    errors: list[str],
    sent: list[int],
    samples: list[str],
) -> None:
    loop = asyncio.get_running_loop()
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    scheduled = first
    # An overloaded server must not stretch the run: past the end, remaining slots are
    # counted as errors instead of being sent late.
    while scheduled < until and loop.time() < until:
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), REQUEST_TIMEOUT
                )
            writer.write(request)
            # asyncio.timeout, not wait_for: wait_for wraps the read in a new task, which
            # doubled the generator's CPU per request (it shares the cores it measures).
            async with asyncio.timeout(REQUEST_TIMEOUT):
                status, body = await _read_response(reader)
            error = None if status == 200 else f"HTTP {status}"
            if error and len(samples) < 3:
                samples.append(f"{error}: {body[:300].decode(errors='replace')}")
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
            error = type(exc).__name__
            if writer is not None:
                writer.close()
            reader = writer = None
        sent.append(1)
        if scheduled >= measure_from:
            latencies.append(loop.time() - scheduled)
            if error:
                errors.append(error)
        scheduled += period
    while scheduled < until:
        if scheduled >= measure_from:
            errors.append("not sent in time")
            latencies.append(REQUEST_TIMEOUT)
        scheduled += period
    if writer is not None:
        writer.close()


async def _generate(
    port: int, path: str, token: str | None, users: int, rate: float, warmup: float, seconds: float
) -> dict[str, Any]:
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    request = (head + "\r\n").encode()
    loop = asyncio.get_running_loop()
    period = 1 / rate
    start = loop.time() + 0.5
    measure_from = start + warmup
    until = measure_from + seconds
    latencies: list[float] = []
    errors: list[str] = []
    sent: list[int] = []
    samples: list[str] = []
    rng = random.Random(7)
    await asyncio.gather(
        *(
            _user(
                port,
                request,
                start + rng.random() * period,
                period,
                measure_from,
                until,
                latencies,
                errors,
                sent,
                samples,
            )
            for _ in range(users)
        )
    )
    return {
        "latencies": latencies,
        "errors": errors,
        "seconds": seconds,
        "sent": len(sent),
        "samples": samples,
    }


def generate_main(args: argparse.Namespace) -> None:
    import uvloop

    result = uvloop.run(
        _generate(
            args.port, args.path, args.token, args.users, args.rate, args.warmup, args.seconds
        )
    )
    json.dump(result, sys.stdout)


# --- the minimal app the gateway is compared with (`--serve-minimal`) ---------------------

_MINIMAL_BODY = b'{"user_id":"00000000-0000-0000-0000-000000000000","scope":"full"}'


async def minimal_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(_MINIMAL_BODY)),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": _MINIMAL_BODY})


def serve_minimal(port: int) -> None:
    import uvicorn

    uvicorn.run(minimal_app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- orchestration -------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    peak_rss_mb: float = 0.0
    samples: list[float] = field(default_factory=list)


def _pid_from(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class RssSampler(threading.Thread):
    """Peak RSS per service, and the peak of the whole stack's memory — the three services,
    PostgreSQL (postmaster and every backend) and Redis — as one PSS sum per sample."""

    def __init__(self, services: list[Service], infra_pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.services = services
        self.infra_pids = infra_pids
        self.peak_stack_mb = 0.0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.25):
            for service in self.services:
                service.peak_rss_mb = max(service.peak_rss_mb, rss_mb(service.proc.pid))
            roots = [s.proc.pid for s in self.services if s.name != "minimal ASGI app"]
            pids = {p for root in (*roots, *self.infra_pids) for p in (root, *children(root))}
            stack_mb = sum(pss_kb(p) for p in pids) / 1024
            self.peak_stack_mb = max(self.peak_stack_mb, stack_mb)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: service exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} not ready within {timeout}s")


def _post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def sign_in(gateway: str) -> str | None:
    """Register and log in through the gateway; None when core has no such endpoints yet."""
    email = f"bench-{secrets.token_hex(4)}@example.com"
    password = f"bench-{secrets.token_urlsafe(12)}"
    status, _ = _post_json(
        f"{gateway}/api/v1/auth/register",
        {"email": email, "password": password, "full_name": "Bench User"},
    )
    if status == 404:
        return None
    status, body = _post_json(
        f"{gateway}/api/v1/auth/login", {"email": email, "password": password}
    )
    if status != 200:
        raise SystemExit(f"login through the gateway failed: HTTP {status} {body}")
    return str(body["access_token"])


def run_load(
    port: int, path: str, token: str | None, args: argparse.Namespace, watch: list[Service]
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--generate",
        "--port",
        str(port),
        "--path",
        path,
        "--users",
        str(args.users),
        "--rate",
        str(args.rate),
        "--warmup",
        str(args.warmup),
        "--seconds",
        str(args.seconds),
    ]
    if token:
        cmd += ["--token", token]
    before = {service.name: cpu_seconds(service.proc.pid) for service in watch}
    generator_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, check=False)
    generator_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"load generator failed: {done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["cpu"] = {s.name: cpu_seconds(s.proc.pid) - before[s.name] for s in watch}
    result["cpu"]["load generator"] = (generator_after.ru_utime + generator_after.ru_stime) - (
        generator_before.ru_utime + generator_before.ru_stime
    )
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(name: str, result: dict[str, Any]) -> dict[str, float]:
    latencies = result["latencies"]
    row = {
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "errors": float(len(result["errors"])),
        "rps": len(latencies) / result["seconds"],
        "requests": float(len(latencies)),
    }
    kinds: dict[str, int] = {}
    for error in result["errors"]:
        kinds[error] = kinds.get(error, 0) + 1
    print(
        f"{name:<26}{row['p50']:>9.1f}{row['p95']:>9.1f}{row['p99']:>9.1f}"
        f"{int(row['errors']):>8}{row['rps']:>9.0f}{int(row['requests']):>10}"
        + (f"   errors: {kinds}" if kinds else "")
    )
    for sample in result.get("samples", []):
        print(f"{'':<26}e.g. {sample}")
    return row


def _loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def sweep(
    port: int, path: str, token: str | None, args: argparse.Namespace, watch: list[Service]
) -> None:
    """The gateway at each user count of ``--sweep``; the highest meeting the goal."""
    best = None
    for users in (int(u) for u in args.sweep.split(",") if u.strip()):
        step = argparse.Namespace(**{**vars(args), "users": users})
        run = run_load(port, path, token, step, watch)
        row = summarize(f"sweep: {users} users", run)
        cpu = " ".join(f"{n} {c / max(1, run['sent']) * 1000:.2f}" for n, c in run["cpu"].items())
        print(f"{'':<26}load average {_loadavg()}; CPU ms/request: {cpu}")
        if row["p95"] < 100 and row["errors"] == 0:
            best = users
    rate = f"{best * args.rate:g} req/s" if best else "none"
    print(
        f"highest swept load meeting p95 < 100 ms with 0 errors: {best or 'none'} users ({rate})\n"
    )


def start_service(
    name: str, port: int, env: dict[str, str], workers: int = 1, log_dir: str | None = None
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "pyairtable_platform.cli", "serve", name, "--port", str(port)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, f"{name}.log"), "wb") as log:
            return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1.0, help="requests per second per user")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--gateway-workers", type=int, default=1)
    parser.add_argument("--core-workers", type=int, default=1)
    parser.add_argument("--path", default="/api/v1/users/me")
    parser.add_argument(
        "--sweep", help="comma-separated user counts to measure through the gateway in turn"
    )
    parser.add_argument("--log-requests", action="store_true", help="keep per-request access logs")
    parser.add_argument("--log-dir", help="write each service's log to DIR/<service>.log")
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-minimal", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate_main(args)
        return
    if args.serve_minimal:
        serve_minimal(args.serve_minimal)
        return

    # `timeout` and Ctrl-C alike: unwind, so services and the throwaway servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with throwaway_infra("pap_bench_gateway") as infra:
        ports = {name: free_port() for name in ("core", "ai", "gateway", "minimal")}
        env = {
            **os.environ,
            "DATABASE_URL": infra.app_url,
            "REDIS_URL": infra.redis_url,
            "CORE_URL": f"http://127.0.0.1:{ports['core']}",
            "AI_URL": f"http://127.0.0.1:{ports['ai']}",
            "LOG_LEVEL": "WARNING",
            "LOG_REQUESTS": "true" if args.log_requests else "false",
            "SECRET_KEY": secrets.token_urlsafe(48),
            # The bench measures latency, not the limiter's verdicts: 1,000 users from one IP.
            "GATEWAY_RATE_LIMIT_AUTHENTICATED": "1000000/minute",
            "GATEWAY_RATE_LIMIT_ANONYMOUS": "1000000/minute",
            "GATEWAY_RATE_LIMIT_AUTH": "1000/minute",
            "GATEWAY_RATE_LIMIT_SANDBOX": "1000000/minute",
        }
        services: list[Service] = []
        try:
            for name in ("core", "ai", "gateway"):
                workers = {"gateway": args.gateway_workers, "core": args.core_workers}.get(name, 1)
                proc = start_service(name, ports[name], env, workers, args.log_dir)
                services.append(Service(name, proc))
                wait_ready(f"http://127.0.0.1:{ports[name]}/ready", proc)
            minimal = subprocess.Popen(
                [sys.executable, __file__, "--serve-minimal", str(ports["minimal"])],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            services.append(Service("minimal ASGI app", minimal))
            wait_ready(f"http://127.0.0.1:{ports['minimal']}/", minimal)

            gateway_url = f"http://127.0.0.1:{ports['gateway']}"
            token = sign_in(gateway_url)
            path = args.path
            if token is None:
                path = "/.well-known/jwks.json"
                print("core has no sign-up endpoint yet: measuring the anonymous JWKS route")
            print(
                f"{args.users} users x {args.rate:g} req/s, {args.seconds:g} s measured after "
                f"{args.warmup:g} s warm-up; workers: gateway {args.gateway_workers}, core "
                f"{args.core_workers}; access log: {'on' if args.log_requests else 'off'}"
            )
            print(f"machine: {os.cpu_count()} CPUs, load average {_loadavg()} before the run")
            kind = "authenticated" if token and not access_for(path).anonymous else "anonymous"
            print(f"target through the gateway: GET {path} ({kind})")
            print(
                "load generator: own asyncio+uvloop raw HTTP/1.1 client, open schedule, 1 process"
            )
            infra_pids = [
                pid
                for pid in (
                    _pid_from(infra.data_dir / "pg" / "postmaster.pid"),
                    _pid_from(infra.data_dir / "redis" / "redis.pid"),
                )
                if pid is not None
            ]
            sampler = RssSampler(services, infra_pids)
            sampler.start()
            columns = ("p50 ms", "p95 ms", "p99 ms", "errors", "req/s", "requests")
            widths = (9, 9, 9, 8, 9, 10)
            print(
                "\n" + " " * 26 + "".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
            )
            stack = [s for s in services if s.name != "minimal ASGI app"]
            if args.sweep:
                sweep(ports["gateway"], path, token, args, stack)
            through_run = run_load(ports["gateway"], path, token, args, stack)
            through = summarize("through the gateway", through_run)
            bare_run = run_load(ports["minimal"], "/", None, args, services[-1:])
            bare = summarize("minimal ASGI app", bare_run)
            sampler.stop_event.set()
            sampler.join()
            ratio = through["p95"] / bare["p95"] if bare["p95"] else float("nan")
            print(f"\np95 ratio gateway / minimal app: {ratio:.1f}x")
            verdict = "meets" if through["p95"] < 100 and through["errors"] == 0 else "misses"
            print(f"target p95 < 100 ms with 0 errors: {verdict}")
            print(f"\n{'service':<26}{'peak RSS':>10}{'CPU ms/request':>16}")
            for service in services:
                run = bare_run if service.name == "minimal ASGI app" else through_run
                per_request = run["cpu"][service.name] / max(1, run["sent"]) * 1000
                print(f"{service.name:<26}{service.peak_rss_mb:>7.1f} MB{per_request:>16.2f}")
            for label, run in (("(gateway run)", through_run), ("(minimal app run)", bare_run)):
                per_request = run["cpu"]["load generator"] / max(1, run["sent"]) * 1000
                print(f"{'load generator ' + label:<36}{per_request:>16.2f}")
            stack_rss = sum(s.peak_rss_mb for s in stack)
            print(f"{'gateway + core + ai':<26}{stack_rss:>7.1f} MB  (sum of peaks)")
            if len(infra_pids) == 2:
                verdict = "meets" if sampler.peak_stack_mb < 1024 else "misses"
                print(
                    f"{'whole stack (PSS)':<26}{sampler.peak_stack_mb:>7.1f} MB  (3 services +"
                    f" PostgreSQL + Redis, peak of the sum; target < 1 GB: {verdict})"
                )
            else:
                print("whole stack: PostgreSQL/Redis not started by this run, not sampled")
            print(f"load average after the run: {_loadavg()}")
        finally:
            for service in services:
                if service.proc.poll() is None:
                    service.proc.send_signal(signal.SIGTERM)
            for service in services:
                try:
                    service.proc.wait(15)
                except subprocess.TimeoutExpired:
                    service.proc.kill()


if __name__ == "__main__":
    main()
