"""The agent's tools: core's MCP tools, reached over streamable HTTP as the calling user.

:class:`ChatToolset` wraps the MCP toolset and adds what chat needs around every call:

- **safe writes**: a tool that writes (not ``readOnlyHint``) and accepts ``preview`` is always
  called with ``preview: true``; core answers with an action id, a diff and an approval token,
  and the call is deferred (``CallDeferred``) so the turn pauses until the user approves or
  rejects it in the chat;
- **context economy**: a result longer than ``max_chars`` is cut, and the model is told the
  true size so it can narrow its next call;
- **observability**: the true size of each result and each tool error are recorded for the
  turn's ``tool_result`` / ``error`` events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic_ai import RunContext
from pydantic_ai.exceptions import CallDeferred, ModelRetry, ToolFailed
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

PREVIEW_ARGUMENT = "preview"
# Tools that never run as previews although they are not read-only: approving or undoing an
# action is itself the user's decision, taken outside the model's loop.
NEVER_PREVIEW = frozenset({"apply_action", "revert_action", "preview_changes"})
# Tools the model must not call itself: an approval is given by the user, not by the model.
HIDDEN_TOOLS = frozenset({"apply_action"})


@dataclass
class ToolRecord:
    size: int = 0
    truncated: bool = False
    error: str | None = None


@dataclass
class ToolJournal:
    """What happened to each tool call of a turn, by tool call id."""

    calls: dict[str, ToolRecord] = field(default_factory=dict)

    def get(self, tool_call_id: str) -> ToolRecord:
        return self.calls.setdefault(tool_call_id, ToolRecord())


def serialise(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def trim(value: Any, max_chars: int) -> tuple[Any, int, bool]:
    """The value as the model will see it, its true size in characters, and whether it was cut."""
    text = serialise(value)
    size = len(text)
    if size <= max_chars:
        return value, size, False
    note = (
        f"\n[truncated: showing {max_chars} of {size} characters. Ask for fewer records or "
        "fields, use a filter, or page with the cursor to see the rest.]"
    )
    return text[:max_chars] + note, size, True


def _as_json(value: Any) -> Any:
    """Core's tools answer JSON as text content; look inside it when it is an object."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def is_write(tool: ToolsetTool[Any]) -> bool:
    metadata = tool.tool_def.metadata or {}
    annotations = metadata.get("annotations") or {}
    return not annotations.get("readOnlyHint", False)


def takes_preview(tool: ToolsetTool[Any]) -> bool:
    properties = tool.tool_def.parameters_json_schema.get("properties", {})
    return PREVIEW_ARGUMENT in properties


class ChatToolset(WrapperToolset[Any]):
    def __init__(self, wrapped: AbstractToolset[Any], *, max_chars: int, journal: ToolJournal):
        super().__init__(wrapped)
        self.max_chars = max_chars
        self.journal = journal

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        tools = await super().get_tools(ctx)
        return {name: tool for name, tool in tools.items() if name not in HIDDEN_TOOLS}

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        record = self.journal.get(ctx.tool_call_id or name)
        previewing = name not in NEVER_PREVIEW and is_write(tool) and takes_preview(tool)
        if previewing:
            tool_args = {**tool_args, PREVIEW_ARGUMENT: True}
        try:
            result = await super().call_tool(name, tool_args, ctx, tool)
        except (ModelRetry, ToolFailed) as exc:
            record.error = str(exc)
            raise
        parsed = _as_json(result)
        if previewing and isinstance(parsed, dict) and parsed.get("approval_token"):
            result = parsed
            action = result.get("action") or {}
            raise CallDeferred(
                metadata={
                    "action_id": str(action.get("id") or result.get("action_id")),
                    "approval_token": result["approval_token"],
                    "diff": result.get("diff"),
                    "summary": action.get("summary"),
                    "expires_at": result.get("expires_at"),
                }
            )
        trimmed, size, truncated = trim(result, self.max_chars)
        record.size = size
        record.truncated = truncated
        return trimmed
