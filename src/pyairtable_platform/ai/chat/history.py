"""The conversation as the model sees it: the stored turns, fitted to the context window by
tokens. Whole turns are dropped oldest first, so a tool call is never separated from its
result; a note tells the model that earlier turns were left out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter

# Characters per token: a conservative average for English and JSON, used where the provider's
# own tokenizer is not at hand (counting exactly would need a round trip per turn).
CHARS_PER_TOKEN = 4


def estimate_tokens(text_length: int) -> int:
    return text_length // CHARS_PER_TOKEN + 1


@dataclass(frozen=True)
class Turn:
    messages: list[ModelMessage]
    tokens: int


@dataclass(frozen=True)
class FittedHistory:
    messages: list[ModelMessage]
    tokens: int
    dropped_turns: int


def turns_from_rows(rows: list[dict[str, Any]]) -> list[Turn]:
    turns = []
    for row in rows:
        stored = (row.get("metadata") or {}).get("messages")
        if not stored:
            continue
        messages = ModelMessagesTypeAdapter.validate_python(stored)
        size = len(ModelMessagesTypeAdapter.dump_json(messages))
        turns.append(Turn(messages, estimate_tokens(size)))
    return turns


def fit(turns: list[Turn], budget_tokens: int) -> FittedHistory:
    """The newest turns that fit in ``budget_tokens`` (the newest one is always kept)."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        if kept and used + turn.tokens > budget_tokens:
            break
        kept.append(turn)
        used += turn.tokens
    kept.reverse()
    messages = [message for turn in kept for message in turn.messages]
    return FittedHistory(messages, used, len(turns) - len(kept))


def dump(messages: list[ModelMessage]) -> list[Any]:
    dumped: list[Any] = ModelMessagesTypeAdapter.dump_python(messages, mode="json")
    return dumped
