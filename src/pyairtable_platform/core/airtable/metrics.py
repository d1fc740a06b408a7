"""Prometheus metrics of Airtable traffic: one observation per upstream request."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

UPSTREAM_REQUESTS = Counter(
    "airtable_upstream_requests_total",
    "Requests sent to Airtable (or the sandbox)",
    ["base", "operation", "status"],
)
UPSTREAM_LATENCY = Histogram(
    "airtable_upstream_request_duration_seconds",
    "Latency of requests sent to Airtable",
    ["base", "operation", "status"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LIMITER_WAIT = Histogram(
    "airtable_ratelimit_wait_seconds",
    "Time callers waited for a rate-limiter slot",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PAUSES = Counter("airtable_base_pauses_total", "Bases paused after Airtable answered 429")
CACHE = Counter(
    "airtable_cache_requests_total",
    "Reads served by the Airtable cache",
    ["kind", "result"],  # result: hit, miss (this process loaded), shared (another loaded)
)


@dataclass
class UpstreamClock:
    """Time one unit of work (an MCP tool call) spent waiting on Airtable: rate-limiter slots,
    the requests themselves, and loads of the same data by another caller it waited for. Lets
    callers tell the platform's own latency from Airtable's (bench/chat.py)."""

    seconds: float = 0.0
    waits: int = 0


upstream_clock: ContextVar[UpstreamClock | None] = ContextVar("airtable_upstream", default=None)


def charge_upstream(seconds: float) -> None:
    clock = upstream_clock.get()
    if clock is not None:
        clock.seconds += seconds
        clock.waits += 1
