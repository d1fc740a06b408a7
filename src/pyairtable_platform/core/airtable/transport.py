"""Types and the thread side of the Airtable client: the guarded ``requests`` session
every upstream request leaves through, and helpers that read Airtable's answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from pyairtable_platform.core.airtable.exceptions import AirtableError

Record = dict[str, Any]

# The user on whose behalf the current task calls Airtable. Clients are shared per connection
# (one thread pool and cache namespace for everyone), so the acting user travels with the
# task instead: the service sets it before each call, the usage row reads it.
acting_user_id: ContextVar[str | None] = ContextVar("airtable_acting_user_id", default=None)


@dataclass(frozen=True)
class AirtableConnection:
    """What a client needs to reach one Airtable account (or the sandbox)."""

    connection_id: str
    token: str = field(repr=False)
    endpoint_url: str = "https://api.airtable.com"
    workspace_id: str | None = None


@dataclass(frozen=True)
class UpstreamCall:
    """One HTTP request sent upstream, for metrics and the ``api_usage_logs`` row."""

    connection_id: str
    workspace_id: str | None
    base_id: str | None
    operation: str
    method: str
    status: int | None  # None: no response (timeout, connection error)
    latency_s: float
    attempt: int
    error: str | None
    user_id: str | None = None


UsageRecorder = Callable[[UpstreamCall], Awaitable[None]]


@dataclass
class ChunkFailure:
    index: int  # position of the chunk (of 10) within the write
    records: list[Any]
    error: AirtableError


@dataclass
class WriteResult:
    """Outcome of a write of any size: what succeeded, what failed, what was not tried.

    A write stops sending new chunks after the first failed one; chunks already in flight
    finish. When nothing succeeded the first error is raised instead.
    """

    records: list[Record] = field(default_factory=list)
    failures: list[ChunkFailure] = field(default_factory=list)
    not_attempted: list[Any] = field(default_factory=list)
    created_record_ids: list[str] = field(default_factory=list)  # upserts only
    updated_record_ids: list[str] = field(default_factory=list)  # upserts only
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.not_attempted


# --- the thread side -----------------------------------------------------------------

local = threading.local()


@dataclass
class Permit:
    base_id: str | None
    expires: float  # time.monotonic()


@dataclass
class Observation:
    method: str
    base_id: str | None
    status: int | None
    latency_s: float
    error: str | None


def base_from_url(url: str | None) -> str | None:
    """The base a request addresses: ``/v0/{base}/...`` or ``/v0/meta/bases/{base}/...``."""
    parts = [p for p in urlsplit(url or "").path.split("/") if p]
    if "v0" not in parts:
        return None
    rest = parts[parts.index("v0") + 1 :]
    if not rest:
        return None
    if rest[0] == "meta":
        return rest[2] if len(rest) > 2 and rest[1] == "bases" else None
    return rest[0]


class GuardedSession(requests.Session):
    """A ``requests`` session that lets no request out without a rate-limiter slot."""

    def __init__(self, guard: Callable[[str | None], None]) -> None:
        super().__init__()
        self._guard = guard

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        base_id = base_from_url(request.url)
        self._guard(base_id)
        observations: list[Observation] = getattr(local, "observations", [])
        method = request.method or "GET"
        start = time.perf_counter()
        try:
            response = super().send(request, **kwargs)
        except requests.RequestException as exc:
            elapsed = time.perf_counter() - start
            observations.append(Observation(method, base_id, None, elapsed, type(exc).__name__))
            raise
        elapsed = time.perf_counter() - start
        observations.append(Observation(method, base_id, response.status_code, elapsed, None))
        return response


def sort_option(sort: Sequence[str | dict[str, str]] | None) -> list[str] | None:
    if not sort:
        return None
    out = []
    for item in sort:
        if isinstance(item, str):
            out.append(item)
        else:
            prefix = "-" if item.get("direction", "asc") == "desc" else ""
            out.append(prefix + item["field"])
    return out


def airtable_error(response: requests.Response) -> tuple[str, str]:
    """Airtable's ``{"error": {"type", "message"}}`` or ``{"error": "TYPE"}``."""
    try:
        body = response.json()
    except ValueError:
        return "UNKNOWN", response.text[:500]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("type", "UNKNOWN")), str(error.get("message", ""))
    if isinstance(error, str):
        return error, str(body.get("message", ""))
    return "UNKNOWN", ""


def describe_target(base_id: str | None, table: str | None, record_id: str | None) -> str:
    parts = []
    if base_id:
        parts.append(f"base {base_id!r}")
    if table:
        parts.append(f"table {table!r}")
    if record_id:
        parts.append(f"record {record_id!r}")
    return ", ".join(parts) or "the resource"


def retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server (safe to resend)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = exc.args[0]
        inner = getattr(reason, "reason", reason)
        return isinstance(inner, urllib3.exceptions.NewConnectionError)
    return False
