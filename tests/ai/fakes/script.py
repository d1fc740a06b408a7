"""What a scripted fake provider answers: a list of steps per chat turn.

A step is chosen from the request itself (how many assistant messages follow the last user
message), not from a global counter, so many concurrent conversations can share one fake and
each still walks through its own script.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette

from tests.support.servers import ThreadServer


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 100
    output_tokens: int = 20
    cached_tokens: int = 0
    thinking_tokens: int = 0
    # Tokens written to the prompt cache (part of ``input_tokens``); only Anthropic reports them.
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One model response: text, tool calls, or an HTTP error from the provider."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    thinking: str = ""  # a visible reasoning block before the answer (fakes that support it)
    usage: Usage = Usage()
    error_status: int | None = None
    error_message: str = "the fake provider failed on purpose"
    # The error comes inside a stream that already started (fakes that support it), not as
    # the HTTP status.
    error_mid_stream: bool = False


def text(value: str, **usage: int) -> Step:
    return Step(text=value, usage=Usage(**usage))


def call(*calls: ToolCall, **usage: int) -> Step:
    return Step(tool_calls=calls, usage=Usage(**usage))


def error(
    status: int = 500,
    message: str = "the fake provider failed on purpose",
    *,
    mid_stream: bool = False,
) -> Step:
    return Step(error_status=status, error_message=message, error_mid_stream=mid_stream)


@dataclass
class Recorder:
    """Every request body the fake received, for assertions (thread-safe)."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(body)

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    def __len__(self) -> int:
        with self.lock:
            return len(self.requests)


@dataclass
class Script:
    steps: list[Step] = field(default_factory=lambda: [text("Hello from the fake.")])

    def pick(self, step_index: int) -> Step:
        if step_index < len(self.steps):
            return self.steps[step_index]
        return self.steps[-1] if not self.steps[-1].tool_calls else text("Done.")


@dataclass
class ScriptedFake:
    """A fake provider serving on loopback: the script it plays and what it received."""

    server: ThreadServer
    script: Script
    recorder: Recorder

    def play(self, *steps: Step) -> None:
        self.script.steps = list(steps)
        self.recorder.clear()


@contextmanager
def serve(create_app: Callable[[Script, Recorder], Starlette]) -> Iterator[ScriptedFake]:
    """A fake provider's app (``create_openai_app``, ``create_gemini_app``…) on loopback."""
    script, recorder = Script(), Recorder()
    with ThreadServer(create_app(script, recorder)) as server:
        yield ScriptedFake(server, script, recorder)
