"""What the benchmarks read of a process from ``/proc``: CPU time and memory of a service, its
uvicorn worker processes included (``--workers`` forks them as children)."""

from __future__ import annotations

import os


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except OSError:
        return []


def family(pid: int) -> list[int]:
    """A process and its children."""
    return [pid, *children(pid)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its children have used so far."""
    ticks = 0
    for each in family(pid):
        try:
            with open(f"/proc/{each}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field: str, path: str = "status") -> int:
    try:
        with open(f"/proc/{pid}/{path}") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def rss_kb(pid: int) -> int:
    """Resident memory of one process (0 once it is gone)."""
    return _status_kb(pid, "VmRSS:")


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (PostgreSQL's shared buffers, the interpreter's
    copy-on-write pages after a fork) divided among the processes sharing them, so summing
    it over a process tree does not count them twice, as summing RSS would."""
    return _status_kb(pid, "Pss:", "smaps_rollup")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    return sum(rss_kb(each) for each in family(pid)) / 1024
