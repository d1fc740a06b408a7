"""Turns run in tasks detached from the HTTP response: a client that disconnects mid-turn
loses nothing, the turn completes and is stored. The response only reads the turn's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from pyairtable_platform.ai.chat.events import ChatEvent

logger = logging.getLogger(__name__)


class TurnHandle:
    """The events of one running turn: kept in full and fed to one live reader."""

    def __init__(self) -> None:
        self.events: list[ChatEvent] = []
        self._queue: asyncio.Queue[ChatEvent | None] = asyncio.Queue()
        self._held: list[ChatEvent] = []
        self.done = asyncio.Event()
        self.first_event_at: float | None = None

    def emit(self, event: ChatEvent, *, hold: bool = False) -> None:
        """Queue an event for the reader. ``hold`` keeps it back until the next event that is
        not held (or the end): for an event that is always followed at once by another
        (``usage`` by the next ``tool_call``, or by ``message_end``), so both go out in one
        write rather than two."""
        if self.first_event_at is None:
            self.first_event_at = asyncio.get_running_loop().time()
        self.events.append(event)
        if hold:
            self._held.append(event)
            return
        self._release()
        self._queue.put_nowait(event)

    def _release(self) -> None:
        for held in self._held:
            self._queue.put_nowait(held)
        self._held.clear()

    def close(self) -> None:
        if not self.done.is_set():
            self.done.set()
            self._release()
            self._queue.put_nowait(None)

    async def stream(self) -> AsyncIterator[bytes]:
        """The events as SSE bytes, in order. Events already waiting go out together in one
        chunk (a reply streams many small ``text_delta``s): one write instead of one each,
        and none is held back to wait for more."""
        while True:
            chunk = []
            event = await self._queue.get()
            while event is not None:
                chunk.append(event.sse())
                if self._queue.empty():
                    break
                event = self._queue.get_nowait()
            if chunk:
                yield b"".join(chunk)
            if event is None:
                return


class TurnRunner:
    """Owns the turn tasks so they are neither garbage-collected nor cut short by a response."""

    def __init__(self, on_idle: Callable[[], None] | None = None) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        # Called when the last running turn ends (the ai service trims its heap then).
        self.on_idle = on_idle

    def spawn(self, coroutine: Coroutine[Any, Any, None], handle: TurnHandle) -> None:
        async def guarded() -> None:
            try:
                await coroutine
            except Exception:  # the turn's own handler reports errors; this is the last net
                logger.exception("chat turn failed")
            finally:
                handle.close()

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks and self.on_idle is not None:
            self.on_idle()

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def drain(self, grace_seconds: float) -> None:
        """At shutdown: let running turns finish (and be stored) for a while, then cancel."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
