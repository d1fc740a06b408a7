"""The machinery of :class:`~.client.AirtableClient`: a rate-limiter slot and a worker
thread per request, retries where they are safe, one metric and one usage callback per
upstream request, and Airtable's errors mapped to platform errors (naming the valid tables,
bases or fields). The bases and schema reads live here too: the error messages need them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import requests
from pyairtable import Api
from redis.asyncio import Redis

from pyairtable_platform.core.airtable.cache import AirtableCache, tables_of
from pyairtable_platform.core.airtable.config import AirtableSettings
from pyairtable_platform.core.airtable.exceptions import (
    AirtableBusy,
    AirtableError,
    AirtableInvalidFormula,
    AirtableInvalidRequest,
    AirtableNotFound,
    AirtableTokenInvalid,
    AirtableUnavailable,
    AirtableUnknownField,
    AirtableWriteUncertain,
)
from pyairtable_platform.core.airtable.metrics import (
    PAUSES,
    UPSTREAM_LATENCY,
    UPSTREAM_REQUESTS,
    charge_upstream,
)
from pyairtable_platform.core.airtable.ratelimit import RateLimiter, token_fingerprint
from pyairtable_platform.core.airtable.transport import (
    AirtableConnection,
    GuardedSession,
    Observation,
    Permit,
    UpstreamCall,
    UsageRecorder,
    acting_user_id,
    airtable_error,
    describe_target,
    local,
    never_sent,
    retry_after,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
BATCH = 10  # Airtable's limit of records per write request
_MAX_THROTTLED = 2  # 429s one call may meet before giving up with 503


class ClientCore:
    """The shared part of :class:`~.client.AirtableClient` (one per connection)."""

    def __init__(
        self,
        redis: Redis,
        settings: AirtableSettings,
        connection: AirtableConnection,
        *,
        limiter: RateLimiter | None = None,
        on_upstream_call: UsageRecorder | None = None,
    ) -> None:
        self.settings = settings
        self.connection = connection
        self.limiter = limiter or RateLimiter(
            redis,
            per_base=settings.rate_per_base,
            per_token=settings.rate_per_token,
            window_ms=1000 + settings.window_margin_ms,
            max_wait_seconds=settings.max_wait_seconds,
            pause_seconds=settings.pause_seconds,
        )
        self.cache = AirtableCache(redis, settings, connection.connection_id)
        self.on_upstream_call = on_upstream_call
        self._token_hash = token_fingerprint(connection.token)
        self._executor = ThreadPoolExecutor(
            max_workers=settings.threads, thread_name_prefix="airtable"
        )
        self._slots = asyncio.Semaphore(settings.threads)
        self._margin = settings.window_margin_ms / 1000
        self.api = Api(
            connection.token,
            retry_strategy=None,
            endpoint_url=connection.endpoint_url.rstrip("/"),
            timeout=(settings.connect_timeout_seconds, settings.read_timeout_seconds),  # type: ignore[arg-type]  # pyairtable annotates ints; requests takes floats
        )
        self.api.session = GuardedSession(self._guard)
        self.api.api_key = connection.token  # puts the Authorization header on the new session

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.api.session.close()

    # ----- bases and schema ------------------------------------------------------

    async def whoami(self) -> dict[str, Any]:
        """The token's user id and scopes (uncached: it is how a token is validated)."""
        result: dict[str, Any] = await self._call(
            "whoami", None, None, lambda: self.api.request("GET", self.api.urls.whoami)
        )
        return result

    async def list_bases(self) -> list[dict[str, Any]]:
        """Every base the token can see (cached ``cache_bases_ttl_seconds``)."""

        async def load() -> list[dict[str, Any]]:
            bases: list[dict[str, Any]] = []
            offset: str | None = None
            while True:
                params = {"offset": offset} if offset else {}
                page = await self._call(
                    "list_bases",
                    None,
                    None,
                    partial(self.api.request, "GET", self.api.urls.bases, params=params),
                )
                bases.extend(page.get("bases", []))
                offset = page.get("offset")
                if not offset:
                    return bases

        return await self.cache.bases(load)

    async def base_schema(self, base_id: str) -> dict[str, Any]:
        """Tables, fields and views of a base (cached ``cache_schema_ttl_seconds``)."""

        async def load() -> dict[str, Any]:
            url = self.api.base(base_id).urls.tables
            result: dict[str, Any] = await self._call(
                "base_schema", base_id, None, partial(self.api.request, "GET", url)
            )
            return result

        return await self.cache.schema(base_id, load)

    # ----- machinery -------------------------------------------------------------

    def _guard(self, base_id: str | None) -> None:
        """Runs in the worker thread right before a request leaves."""
        permit: Permit | None = getattr(local, "permit", None)
        local.permit = None
        if permit and permit.base_id == base_id and time.monotonic() <= permit.expires:
            return
        loop: asyncio.AbstractEventLoop | None = getattr(local, "loop", None)
        if loop is None:
            raise RuntimeError("Airtable requests must go through AirtableClient")
        # An unplanned request (or a late thread): take a slot through the event loop.
        future = asyncio.run_coroutine_threadsafe(
            self.limiter.acquire(base_id, self._token_hash), loop
        )
        future.result()

    def _run(
        self, permit: Permit, loop: asyncio.AbstractEventLoop, fn: Callable[[], T]
    ) -> tuple[bool, Any, list[Observation]]:
        local.permit, local.loop, local.observations = permit, loop, []
        try:
            return True, fn(), local.observations
        except Exception as exc:  # handed back to the event loop, which classifies it
            return False, exc, local.observations
        finally:
            local.permit = local.loop = None

    async def _send_once(
        self,
        operation: str,
        base_id: str | None,
        fn: Callable[[], Any],
        attempt: int,
        wait_bound: float,
    ) -> tuple[bool, Any]:
        """Take a worker thread and a rate-limiter slot, send one request, observe it."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.max_wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise AirtableBusy(
                f"all {self.settings.threads} Airtable worker threads stayed busy for "
                f"{self.settings.max_wait_seconds:g} s; try again shortly",
                retry_after=1,
            ) from None
        try:
            grant = await self.limiter.acquire(base_id, self._token_hash, max_wait=wait_bound)
            # The permit is only good for the window margin: a thread that starts later
            # takes a fresh slot, so a late start never crowds Airtable's second.
            permit = Permit(base_id, grant.monotonic + self._margin)
            ok, value, observations = await loop.run_in_executor(
                self._executor, self._run, permit, loop, fn
            )
        finally:
            self._slots.release()
            charge_upstream(time.perf_counter() - started)
        await self._observe(operation, observations, attempt)
        return ok, value

    async def _call(
        self,
        operation: str,
        base_id: str | None,
        table: str | None,
        fn: Callable[[], T],
        *,
        idempotent: bool = True,
        attempted: list[Any] | None = None,
        record_id: str | None = None,
    ) -> T:
        """One logical request: rate-limited, retried where safe, errors mapped."""
        attempt = throttled = 0
        wait_bound = self.settings.max_wait_seconds
        while True:
            attempt += 1
            ok, value = await self._send_once(operation, base_id, fn, attempt, wait_bound)
            if ok:
                return value  # type: ignore[no-any-return]
            exc: Exception = value
            retry = attempt <= self.settings.max_retries
            if isinstance(exc, requests.HTTPError) and exc.response is not None:
                status = exc.response.status_code
                if status == 429:
                    throttled += 1
                    PAUSES.inc()
                    wanted = retry_after(exc.response) or 0.0
                    paused = await self.limiter.pause(
                        base_id, max(self.limiter.pause_seconds, wanted)
                    )
                    # Waiting out the pause is the point of retrying: it does not count
                    # against the caller's usual wait for a slot.
                    wait_bound = self.settings.max_wait_seconds + paused
                    if throttled > _MAX_THROTTLED:
                        raise AirtableBusy(
                            "Airtable keeps answering 429 (too many requests) for base "
                            f"{base_id}; it is paused, try again in a minute",
                            retry_after=self.settings.pause_seconds,
                        ) from exc
                    continue
                if status >= 500:
                    if not idempotent:
                        raise self._uncertain(operation, base_id, table, attempted, exc) from exc
                    if retry:
                        await self._backoff(attempt)
                        continue
                    raise AirtableUnavailable(
                        f"Airtable answered {status} to {operation} after {attempt} attempts; "
                        "it may be down, try again later",
                        extra={"base_id": base_id},
                    ) from exc
                raise await self._map_http_error(
                    exc.response, operation, base_id, table, record_id
                ) from exc
            if isinstance(exc, requests.RequestException):
                if never_sent(exc) or idempotent:
                    if retry:
                        await self._backoff(attempt)
                        continue
                    raise AirtableUnavailable(
                        f"Airtable could not be reached for {operation} after {attempt} "
                        f"attempts ({type(exc).__name__}); try again later",
                        extra={"base_id": base_id},
                    ) from exc
                raise self._uncertain(operation, base_id, table, attempted, exc) from exc
            if isinstance(exc, ValueError | TypeError):
                # pyairtable's own argument checks
                raise AirtableInvalidRequest(str(exc)) from exc
            raise exc

    def _uncertain(
        self,
        operation: str,
        base_id: str | None,
        table: str | None,
        attempted: list[Any] | None,
        exc: Exception,
    ) -> AirtableWriteUncertain:
        what = f"{len(attempted)} record(s)" if attempted else "the request"
        return AirtableWriteUncertain(
            f"{operation} of {what} in base {base_id} table {table} may or may not have "
            f"happened ({type(exc).__name__}); it was not resent to avoid duplicates — "
            "check the table before trying again",
            operation=operation,
            base_id=base_id,
            table=table,
            attempted=list(attempted or []),
        )

    async def _backoff(self, attempt: int) -> None:
        delay = min(4.0, self.settings.retry_backoff_seconds * 2 ** (attempt - 1))
        await asyncio.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter only

    async def _observe(self, operation: str, observations: list[Observation], attempt: int) -> None:
        for obs in observations:
            label = str(obs.status) if obs.status is not None else (obs.error or "error")
            base = obs.base_id or "-"
            UPSTREAM_REQUESTS.labels(base, operation, label).inc()
            UPSTREAM_LATENCY.labels(base, operation, label).observe(obs.latency_s)
            if self.on_upstream_call is None:
                continue
            call = UpstreamCall(
                connection_id=self.connection.connection_id,
                workspace_id=self.connection.workspace_id,
                base_id=obs.base_id,
                operation=operation,
                method=obs.method,
                status=obs.status,
                latency_s=obs.latency_s,
                attempt=attempt,
                error=obs.error,
                user_id=acting_user_id.get(),
            )
            try:
                await self.on_upstream_call(call)
            except Exception:
                logger.exception("recording an Airtable call failed")

    async def _map_http_error(
        self,
        response: requests.Response,
        operation: str,
        base_id: str | None,
        table: str | None,
        record_id: str | None,
    ) -> AirtableError:
        status = response.status_code
        kind, message = airtable_error(response)
        extra: dict[str, Any] = {"airtable_error": kind, "base_id": base_id, "table": table}
        where = describe_target(base_id, table, record_id)
        if status == 401:
            return AirtableTokenInvalid(
                "Airtable rejected this connection's token (revoked or expired); a workspace "
                "admin must reconnect Airtable with a valid personal access token",
                extra=extra,
            )
        if status == 404 or kind == "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND":
            hint = await self._known_names(base_id, table)
            return AirtableNotFound(f"{where} was not found{hint}", extra=extra)
        if status == 403:
            return AirtableTokenInvalid(
                f"the connection's token may not {operation} on {where} ({message or kind}); "
                "a workspace admin must reconnect Airtable with a token that has the needed "
                "scopes and access to this base",
                extra=extra,
            )
        if kind == "UNKNOWN_FIELD_NAME":
            names = await self._field_names(base_id, table)
            listing = f"; fields of table {table!r} are: {', '.join(names)}" if names else ""
            return AirtableUnknownField(f"{message or 'unknown field name'}{listing}", extra=extra)
        if kind == "INVALID_FILTER_BY_FORMULA":
            return AirtableInvalidFormula(
                f"invalid filterByFormula: {message or kind}; fix the formula and try again",
                extra=extra,
            )
        return AirtableInvalidRequest(
            f"Airtable rejected {operation} on {where} ({status} {kind}): {message}", extra=extra
        )

    async def _field_names(self, base_id: str | None, table: str | None) -> list[str]:
        if not base_id or not table:
            return []
        try:
            schema = await self.base_schema(base_id)
        except AirtableError:
            return []
        for entry in tables_of(schema):
            if table in (entry.get("id"), entry.get("name")):
                return [str(f.get("name")) for f in entry.get("fields", [])]
        return []

    async def _known_names(self, base_id: str | None, table: str | None) -> str:
        """A hint listing the valid tables (or bases) when a name was not found."""
        if not base_id:
            return ""
        try:
            schema = await self.base_schema(base_id)
        except AirtableError:
            try:
                bases = await self.list_bases()
            except AirtableError:
                return ""
            listing = ", ".join(f"{b.get('name')} ({b.get('id')})" for b in bases[:50])
            return f"; bases this connection can see: {listing}" if listing else ""
        if table is None:
            return ""
        names = [f"{t.get('name')} ({t.get('id')})" for t in tables_of(schema)]
        if any(table in (t.get("id"), t.get("name")) for t in tables_of(schema)):
            return ""  # the table exists: the record is what is missing
        return f"; tables of base {base_id} are: {', '.join(names)}" if names else ""
