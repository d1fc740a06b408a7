"""The unit of work of an ai request: one transaction in the caller's RLS context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.ai.deps import CurrentCaller, StateDep
from pyairtable_platform.kit.db import unit_of_work


async def get_db(caller: CurrentCaller, state: StateDep) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(
        state.session_factory, user_id=caller.user_id, workspace_id=caller.workspace_id
    ) as session:
        yield session


# scope="function": the transaction commits before the response leaves, so a client that
# reads its own write right after sees it.
DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]
