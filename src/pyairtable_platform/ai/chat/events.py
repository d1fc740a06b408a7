"""The events of a chat turn, as sent over SSE (``event: <type>`` + ``data: <json>``) and
collected into the JSON answer when the client did not ask for a stream.

Order: ``message_start``, then any of ``text_delta`` / ``tool_call`` / ``tool_result`` /
``approval_required`` / ``error`` (a tool error: the turn goes on), one ``usage`` per LLM
call, and always exactly one ``message_end`` last (after an ``error`` that ended the turn).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

EventType = Literal[
    "message_start",
    "text_delta",
    "tool_call",
    "tool_result",
    "approval_required",
    "usage",
    "message_end",
    "error",
]


@dataclass(frozen=True)
class ChatEvent:
    type: EventType
    data: dict[str, Any] = field(default_factory=dict)

    def sse(self) -> bytes:
        return b"event: " + self.type.encode() + b"\ndata: " + _dumps(self.data) + b"\n\n"


def _dumps(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, default=str)
