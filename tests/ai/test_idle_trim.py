"""The ai service hands the heap a burst of turns freed back to the OS once the turns are over:
once per burst, never while a turn runs, and not more often than its minimum interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pyairtable_platform.ai.chat.runner import TurnHandle, TurnRunner
from pyairtable_platform.ai.state import IdleTrim


async def _until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the condition is set by the runner's tasks
            await asyncio.sleep(0.005)


def _runner(log: list[str], *, delay: float, min_interval: float) -> TurnRunner:
    runner = TurnRunner()
    runner.on_idle = IdleTrim(
        lambda: runner.running,
        delay=delay,
        min_interval=min_interval,
        release=lambda: log.append("trim"),
    )
    return runner


async def _turn(gate: asyncio.Event, log: list[str], name: str) -> None:
    await gate.wait()
    log.append(f"{name} ended")


async def test_the_heap_is_trimmed_once_after_the_last_turn_of_a_burst_and_not_while_one_runs() -> (
    None
):
    log: list[str] = []
    runner = _runner(log, delay=0.2, min_interval=0.0)
    gates = {name: asyncio.Event() for name in ("a", "b", "c")}
    for name in ("a", "b"):
        runner.spawn(_turn(gates[name], log, name), TurnHandle())
    gates["a"].set()
    gates["b"].set()
    await _until(lambda: runner.running == 0)
    # A turn starting before the trim is due postpones it until that turn is over too.
    runner.spawn(_turn(gates["c"], log, "c"), TurnHandle())
    trim = runner.on_idle
    assert isinstance(trim, IdleTrim)
    await _until(lambda: not trim.due)
    assert log == ["a ended", "b ended"]
    gates["c"].set()
    await _until(lambda: "trim" in log)
    assert log == ["a ended", "b ended", "c ended", "trim"]


async def test_bursts_close_together_are_trimmed_at_most_once_per_minimum_interval() -> None:
    log: list[str] = []
    runner = _runner(log, delay=0.0, min_interval=0.3)
    trimmed_at: list[float] = []
    for count, burst in enumerate(("first", "second"), start=1):
        gate = asyncio.Event()
        runner.spawn(_turn(gate, log, burst), TurnHandle())
        gate.set()
        await _until(lambda: log.count("trim") == count)  # noqa: B023 - awaited in this iteration
        trimmed_at.append(time.monotonic())
    assert log == ["first ended", "trim", "second ended", "trim"]
    assert trimmed_at[1] - trimmed_at[0] >= 0.3 - 0.02
