"""Read cache for Airtable in Redis, with single flight across processes.

Keys are namespaced per connection. Invalidation uses generation counters instead of
deleting keys: a cached page's key contains the generations of its base and table, so a
write bumps a counter and every page of that table becomes unreachable at once (the old
entries simply expire). Counters:

- ``g:{base}``         every record page and record of the base
- ``g:{base}:t:{tbl}`` one table, counted under each name it is read by (id and name)
- ``gs:{base}``        the base schema
- ``gb``               the list of bases

A table can be addressed by id or by name. A write bumps the counter of every alias the
cached schema knows; when no schema is cached it bumps the whole base, so a read through
another alias can never see a stale page.

Single flight: identical concurrent reads in one process share one task; across
processes the first takes a Redis lock (``SET NX PX``) and loads, renewing the lock while
it works; the others poll the value with a bounded wait. When the leader dies its lock
expires and a waiter takes over. A leader that fails with an expected error shares it
for a moment, so its waiters do not each repeat the same failing request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis

from pyairtable_platform.core.airtable.config import AirtableSettings
from pyairtable_platform.core.airtable.exceptions import (
    SHAREABLE_ERRORS,
    AirtableBusy,
    AirtableError,
)
from pyairtable_platform.core.airtable.metrics import CACHE, charge_upstream, upstream_clock

T = TypeVar("T")

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# A cached read in one round trip: the generation counters (the connection epoch folded into
# each: epoch * 1e6 + counter) name the key, and its value comes back with the key.
_READ = """
local epoch = tonumber(redis.call('GET', KEYS[1]) or '0')
local gens = {}
for i = 2, #KEYS do
  gens[i - 1] = string.format('%d', epoch * 1000000 + tonumber(redis.call('GET', KEYS[i]) or '0'))
end
local key = ARGV[1] .. table.concat(gens, '.') .. ARGV[2]
return {key, redis.call('GET', key) or false}
"""
_GENERATION_TTL_S = 7 * 86400  # far beyond any value TTL, so a reset counter is harmless
_ERROR_TTL_MS = 2000


def params_digest(params: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(params, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


class AirtableCache:
    def __init__(
        self,
        redis: Redis,
        settings: AirtableSettings,
        connection_id: str,
        *,
        prefix: str = "pap:at:c",
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.ns = f"{prefix}:{connection_id}"
        self._inflight: dict[str, asyncio.Task[Any]] = {}
        self._read = redis.register_script(_READ)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)

    # ----- reads -------------------------------------------------------------------

    async def bases(self, loader: Callable[[], Awaitable[T]]) -> T:
        key, raw = await self._lookup(f"{self.ns}:bases:", "", f"{self.ns}:gb")
        return await self._get(key, self.settings.cache_bases_ttl_seconds, loader, "bases", raw)

    async def schema(self, base_id: str, loader: Callable[[], Awaitable[T]]) -> T:
        key, raw = await self._lookup(f"{self.ns}:s:{base_id}:", "", f"{self.ns}:gs:{base_id}")
        return await self._get(key, self.settings.cache_schema_ttl_seconds, loader, "schema", raw)

    async def cached_schema(self, base_id: str) -> Any | None:
        """The base schema if it is cached now; never loads."""
        _, raw = await self._lookup(f"{self.ns}:s:{base_id}:", "", f"{self.ns}:gs:{base_id}")
        return None if raw is None else orjson.loads(raw)

    async def records(
        self,
        base_id: str,
        table: str,
        kind: str,
        params: dict[str, Any],
        loader: Callable[[], Awaitable[T]],
    ) -> T:
        """A records read (``kind``: ``page`` or ``record``) keyed by its parameters."""
        key, raw = await self._lookup(
            f"{self.ns}:r:{base_id}:{table}:",
            f":{kind}:{params_digest(params)}",
            f"{self.ns}:g:{base_id}",
            f"{self.ns}:g:{base_id}:t:{table}",
        )
        return await self._get(key, self.settings.cache_records_ttl_seconds, loader, kind, raw)

    # ----- invalidation --------------------------------------------------------------

    async def invalidate_records(self, base_id: str, table: str) -> None:
        """After a write to ``table``: every cached page and record of it goes stale."""
        aliases = await self._table_aliases(base_id, table)
        pipe = self.redis.pipeline(transaction=False)
        if aliases is None:
            keys = [f"{self.ns}:g:{base_id}"]
        else:
            keys = [f"{self.ns}:g:{base_id}:t:{alias}" for alias in aliases]
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, _GENERATION_TTL_S)
        await pipe.execute()

    async def invalidate_schema(self, base_id: str) -> None:
        """After a table or field change: the schema and every record read of the base."""
        await self._bump(f"{self.ns}:gs:{base_id}", f"{self.ns}:g:{base_id}")

    async def invalidate(self, base_id: str | None = None) -> None:
        """Drop everything cached for one base, or for the whole connection."""
        if base_id is None:
            # Bases are listed per connection; their own counters live with each base,
            # so a connection-wide drop moves a connection-wide epoch instead.
            await self._bump(f"{self.ns}:gb", f"{self.ns}:epoch")
        else:
            await self.invalidate_schema(base_id)

    # ----- internals -----------------------------------------------------------------

    async def _bump(self, *keys: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, _GENERATION_TTL_S)
        await pipe.execute()

    async def _lookup(self, prefix: str, suffix: str, *generations: str) -> tuple[str, Any]:
        """The key of a read (``prefix``, its generations joined by dots, ``suffix``) and
        its cached value or ``None``: one round trip (:data:`_READ`) where reading the
        generations, then the value, took two."""
        key, raw = await self._read(keys=[f"{self.ns}:epoch", *generations], args=[prefix, suffix])
        return (key.decode() if isinstance(key, bytes) else str(key)), raw

    async def _table_aliases(self, base_id: str, table: str) -> set[str] | None:
        schema = await self.cached_schema(base_id)
        if not isinstance(schema, dict):
            return None
        for entry in schema.get("tables", []):
            if table in (entry.get("id"), entry.get("name")):
                return {str(entry["id"]), str(entry["name"]), table}
        return None

    async def _get(
        self, key: str, ttl: int, loader: Callable[[], Awaitable[T]], kind: str, raw: Any
    ) -> T:
        """The value of ``key`` (``raw``: as just read from Redis), else loaded once."""
        if ttl <= 0:
            return await loader()
        if raw is not None:
            CACHE.labels(kind, "hit").inc()
            return orjson.loads(raw)  # type: ignore[no-any-return]
        started = time.perf_counter()
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._single_flight(key, ttl, loader, kind))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._forget(key, t))
        else:
            CACHE.labels(kind, "shared").inc()
        try:
            result: T = await asyncio.shield(task)
        finally:
            charge_upstream(time.perf_counter() - started)
        return result

    def _forget(self, key: str, task: asyncio.Task[Any]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # marks it retrieved even when every caller went away

    async def _single_flight(
        self, key: str, ttl: int, loader: Callable[[], Awaitable[T]], kind: str
    ) -> T:
        # Every caller waiting on this load is charged for it in _get; the requests it sends
        # (this task's copy of the context) must not be charged a second time.
        upstream_clock.set(None)
        lock, err_key = f"{key}:lock", f"{key}:err"
        me = uuid.uuid4().hex
        lock_ms = int(self.settings.singleflight_lock_ttl_seconds * 1000)
        bound = self.settings.max_wait_seconds + self.settings.read_timeout_seconds
        deadline = time.monotonic() + bound
        delay = 0.005
        while True:
            raw, err = await self.redis.mget([key, err_key])
            if raw is not None:
                CACHE.labels(kind, "shared").inc()
                return orjson.loads(raw)  # type: ignore[no-any-return]
            if err is not None:
                raise _rebuild_error(err if isinstance(err, bytes) else err.encode())
            if await self.redis.set(lock, me, nx=True, px=lock_ms):
                try:
                    raw = await self.redis.get(key)
                    if raw is not None:
                        CACHE.labels(kind, "shared").inc()
                        return orjson.loads(raw)  # type: ignore[no-any-return]
                    CACHE.labels(kind, "miss").inc()
                    async with self._renewing(lock, me, lock_ms):
                        try:
                            value = await loader()
                        except AirtableError as exc:
                            if type(exc).__name__ in SHAREABLE_ERRORS:
                                await self.redis.set(err_key, _dump_error(exc), px=_ERROR_TTL_MS)
                            raise
                    await self.redis.set(key, orjson.dumps(value), ex=ttl)
                    return value
                finally:
                    await self._release(keys=[lock], args=[me])
            if time.monotonic() > deadline:
                raise AirtableBusy(
                    f"waited {bound:g} s for another request loading the same Airtable data",
                    retry_after=1,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.1)

    @contextlib.asynccontextmanager
    async def _renewing(self, lock: str, me: str, lock_ms: int) -> AsyncIterator[None]:
        async def renew() -> None:
            while True:
                await asyncio.sleep(lock_ms / 3000)
                await self._renew(keys=[lock], args=[me, lock_ms])

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _dump_error(exc: AirtableError) -> bytes:
    return orjson.dumps({"type": type(exc).__name__, "detail": exc.detail, "extra": exc.extra})


def _rebuild_error(raw: bytes) -> AirtableError:
    data = orjson.loads(raw)
    cls = SHAREABLE_ERRORS.get(data.get("type", ""), SHAREABLE_ERRORS["AirtableUnavailable"])
    return cls(str(data.get("detail", "")), extra=data.get("extra") or None)


def tables_of(schema: Any) -> Iterable[dict[str, Any]]:
    """The table entries of a cached base schema (Airtable's ``tables`` list)."""
    if isinstance(schema, dict):
        yield from (t for t in schema.get("tables", []) if isinstance(t, dict))
