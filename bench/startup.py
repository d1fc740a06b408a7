"""Time to ready and idle RSS of each service.

Starts throwaway PostgreSQL and Redis, then each service as its own process (exactly as
`make up` does), and prints how long each took from exec to a 200 on /ready and its
resident memory after settling idle.

    uv run python bench/startup.py [--idle-seconds 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.procstat import rss_mb
from pyairtable_platform.devinfra.throwaway import throwaway_infra


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"service exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.01)
    raise SystemExit(f"{url} not ready within {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    args = parser.parse_args()
    with throwaway_infra("pap_bench") as infra:
        ports = {name: free_port() for name in ("core", "ai", "gateway")}
        env = {
            **os.environ,
            "DATABASE_URL": infra.app_url,
            "REDIS_URL": infra.redis_url,
            "CORE_URL": f"http://127.0.0.1:{ports['core']}",
            "AI_URL": f"http://127.0.0.1:{ports['ai']}",
            "LOG_LEVEL": "WARNING",
        }
        procs: dict[str, subprocess.Popen[bytes]] = {}
        results: dict[str, float] = {}
        try:
            for name, port in ports.items():
                cmd = [sys.executable, "-m", "pyairtable_platform.cli", "serve", name]
                procs[name] = subprocess.Popen(
                    [*cmd, "--port", str(port)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                results[name] = wait_ready(f"http://127.0.0.1:{port}/ready", procs[name])
            time.sleep(args.idle_seconds)
            print(f"{'service':<10}{'time to ready':>16}{'idle RSS':>12}")
            total = 0.0
            for name, proc in procs.items():
                rss = rss_mb(proc.pid)
                total += rss
                print(f"{name:<10}{results[name] * 1000:>13.0f} ms{rss:>9.1f} MB")
            print(f"{'total':<10}{sum(results.values()) * 1000:>13.0f} ms{total:>9.1f} MB")
        finally:
            for proc in procs.values():
                proc.terminate()
            for proc in procs.values():
                proc.wait(10)


if __name__ == "__main__":
    main()
