"""One unit of work per request with the RLS context set, plus after-commit callbacks.

Cache invalidations (an API key's Redis entry, say) must happen after the change they
reflect is committed: done earlier, a concurrent request could re-read the old row and
re-fill the cache. Services register them with :func:`after_commit`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.kit.db import unit_of_work

Callback = Callable[[], Awaitable[None]]
_KEY = "pap_after_commit"


def after_commit(session: AsyncSession, callback: Callback) -> None:
    """Run ``callback`` once the current unit of work has committed (never on rollback)."""
    session.info.setdefault(_KEY, []).append(callback)


@asynccontextmanager
async def transaction(
    factory: async_sessionmaker[AsyncSession],
    *,
    user_id: uuid.UUID | str | None = None,
    workspace_id: uuid.UUID | str | None = None,
) -> AsyncIterator[AsyncSession]:
    """:func:`kit.db.unit_of_work` that runs the after-commit callbacks it collected."""
    async with unit_of_work(factory, user_id=user_id, workspace_id=workspace_id) as session:
        yield session
    callbacks: list[Callback] = session.info.pop(_KEY, [])
    for callback in callbacks:
        await callback()
