"""Which LLM answers a turn: deployment settings, overridden per workspace (by its admins) and
per session (model, temperature, max tokens, thinking budget); and the pydantic-ai model for it.

Models are cached per (provider, model, key, base URL): each one owns a pooled HTTP client, and
building one per turn would open new connections to the provider every time.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import orjson
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.ai.config import AiSettings
from pyairtable_platform.ai.providers import repository
from pyairtable_platform.ai.providers.exceptions import LlmNotConfigured, ProviderKeyUnreadable
from pyairtable_platform.ai.providers.schemas import (
    PROVIDER_NAMES,
    ProviderName,
    ProviderUpdate,
    ProviderView,
)
from pyairtable_platform.kit.crypto import CryptoError, SecretBox
from pyairtable_platform.kit.errors import BadRequest

DEFAULT_MODELS: dict[ProviderName, str] = {
    "gemini": "gemini-2.5-flash",
    "openai": "gpt-4.1-mini",
    # Not claude-sonnet-4-5: it reaches end of life on 2026-11-30 (the anthropic SDK warns).
    "anthropic": "claude-sonnet-4-6",
    "openai-compatible": "llama3.1",
}
# genai-prices provider ids, to price a model on the provider that served it.
PRICE_PROVIDER_IDS: dict[ProviderName, str | None] = {
    "gemini": "google",
    "openai": "openai",
    "anthropic": "anthropic",
    "openai-compatible": None,
}


@dataclass(frozen=True)
class ProviderConfig:
    provider: ProviderName
    model: str
    api_key: str | None
    base_url: str | None
    source: str  # "workspace" or "deployment"


@dataclass(frozen=True)
class SessionModelSettings:
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    thinking_budget: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SessionModelSettings:
        data = data or {}
        return cls(
            model=data.get("model"),
            temperature=data.get("temperature"),
            max_tokens=data.get("max_tokens"),
            thinking_budget=data.get("thinking_budget"),
        )


def _aad(workspace_id: uuid.UUID) -> str:
    return f"llm:{workspace_id}"


def _infer_provider(model: str) -> ProviderName | None:
    lowered = model.lower()
    if lowered.startswith("gemini"):
        return "gemini"
    if lowered.startswith("claude"):
        return "anthropic"
    if lowered.startswith(("gpt", "o1", "o3", "o4", "chatgpt")):
        return "openai"
    return None


def deployment_config(settings: AiSettings) -> ProviderConfig | None:
    """The provider the deployment's settings name, or ``None`` when nothing is configured."""
    keys: dict[ProviderName, str | None] = {
        "gemini": settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None,
        "openai": settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
        "anthropic": (
            settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None
        ),
    }
    base_urls: dict[ProviderName, str | None] = {
        "gemini": settings.gemini_base_url,
        "openai": settings.openai_base_url,
        "anthropic": settings.anthropic_base_url,
        "openai-compatible": settings.openai_base_url,
    }
    chosen: ProviderName | None = None
    if settings.llm_provider:
        if settings.llm_provider not in PROVIDER_NAMES:
            raise LlmNotConfigured(
                f"LLM_PROVIDER={settings.llm_provider!r} is not one of {', '.join(PROVIDER_NAMES)}"
            )
        chosen = settings.llm_provider
    else:
        inferred = _infer_provider(settings.llm_model)
        if inferred and keys.get(inferred):
            chosen = inferred
        else:
            chosen = next((name for name, key in keys.items() if key), None)
            if chosen is None and settings.openai_base_url:
                chosen = "openai-compatible"
    if chosen is None:
        return None
    key = keys.get("openai" if chosen == "openai-compatible" else chosen)
    if chosen != "openai-compatible" and not key and not base_urls[chosen]:
        return None
    model = settings.llm_model
    if settings.llm_provider is None and _infer_provider(model) not in (None, chosen):
        model = DEFAULT_MODELS[chosen]
    return ProviderConfig(chosen, model, key, base_urls[chosen], "deployment")


def workspace_config(
    row: repository.ProviderRow, workspace_id: uuid.UUID, box: SecretBox, settings: AiSettings
) -> ProviderConfig:
    provider = cast(ProviderName, row.provider)
    api_key = None
    if row.api_key_encrypted:
        try:
            api_key = box.decrypt_str(row.api_key_encrypted, associated_data=_aad(workspace_id))
        except CryptoError as exc:
            raise ProviderKeyUnreadable(
                "the workspace's LLM API key cannot be decrypted (was the key ring changed?); "
                "an admin must PUT /api/v1/ai/provider again"
            ) from exc
    model = row.model or DEFAULT_MODELS[provider]
    return ProviderConfig(provider, model, api_key, row.base_url, "workspace")


async def resolve(
    session: AsyncSession, workspace_id: uuid.UUID, settings: AiSettings, box: SecretBox
) -> ProviderConfig:
    """The provider for a workspace; :class:`LlmNotConfigured` (503) saying what to set."""
    row = await repository.get(session, workspace_id)
    if row is not None:
        return workspace_config(row, workspace_id, box, settings)
    config = deployment_config(settings)
    if config is None:
        raise LlmNotConfigured()
    return config


async def view(
    session: AsyncSession, workspace_id: uuid.UUID, settings: AiSettings
) -> ProviderView:
    row = await repository.get(session, workspace_id)
    if row is not None:
        return ProviderView(
            configured=True,
            source="workspace",
            provider=cast(ProviderName, row.provider),
            model=row.model or DEFAULT_MODELS[cast(ProviderName, row.provider)],
            base_url=row.base_url,
            has_api_key=row.api_key_encrypted is not None,
        )
    config = deployment_config(settings)
    if config is None:
        return ProviderView(
            configured=False,
            source=None,
            provider=None,
            model=None,
            base_url=None,
            has_api_key=False,
        )
    return ProviderView(
        configured=True,
        source="deployment",
        provider=config.provider,
        model=config.model,
        base_url=config.base_url,
        has_api_key=config.api_key is not None,
    )


async def update(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    body: ProviderUpdate,
    settings: AiSettings,
    box: SecretBox,
) -> ProviderView:
    """Store a workspace's provider; the key is encrypted and bound to the workspace."""
    if body.provider == "openai-compatible" and not body.base_url:
        raise BadRequest(
            "an openai-compatible provider needs base_url (e.g. http://ollama:11434/v1)"
        )
    if body.provider != "openai-compatible" and body.api_key is None and not body.base_url:
        existing = await repository.get(session, workspace_id)
        if existing is None or existing.provider != body.provider or not existing.api_key_encrypted:
            raise BadRequest(f"provider {body.provider!r} needs api_key")
    encrypted: str | None
    if body.api_key is not None:
        encrypted = box.encrypt(body.api_key.get_secret_value(), associated_data=_aad(workspace_id))
    else:
        existing = await repository.get(session, workspace_id)
        same = existing is not None and existing.provider == body.provider
        encrypted = existing.api_key_encrypted if same and existing else None
    await repository.upsert(
        session,
        workspace_id,
        user_id,
        provider=body.provider,
        model=body.model,
        base_url=body.base_url,
        api_key_encrypted=encrypted,
    )
    return await view(session, workspace_id, settings)


async def reset(
    session: AsyncSession, workspace_id: uuid.UUID, settings: AiSettings
) -> ProviderView:
    await repository.delete(session, workspace_id)
    return await view(session, workspace_id, settings)


class ModelCache:
    """pydantic-ai models by configuration, least recently used evicted."""

    def __init__(self, settings: AiSettings, size: int = 64) -> None:
        self._settings = settings
        self._size = size
        self._models: OrderedDict[tuple[str, ...], Model] = OrderedDict()

    def get(self, config: ProviderConfig, model_name: str) -> Model:
        digest = hashlib.sha256((config.api_key or "").encode()).hexdigest()
        key = (config.provider, model_name, digest, config.base_url or "")
        model = self._models.get(key)
        if model is not None:
            self._models.move_to_end(key)
            return model
        model = build_model(config, model_name, self._settings)
        self._models[key] = model
        while len(self._models) > self._size:
            self._models.popitem(last=False)
        return model


class ToolSchemaMemo:
    """Tool schemas already rewritten for one model.

    Before every request pydantic-ai rewrites each tool's JSON schema for the provider (a deep
    copy and a walk per tool, through ``Model.customize_request_parameters``). A chat sends the
    same ~25 MCP tools with every LLM call, so that was the largest share of the ai service's
    CPU per turn; the rewritten schemas are kept here, keyed by the tool's full definition.
    The pooled MCP toolset hands out the same schema objects from call to call, so a schema
    seen before (the very object, still held here) is not serialised again to find its key.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._done: OrderedDict[tuple[Any, ...], ToolDefinition] = OrderedDict()
        self._schemas: OrderedDict[int, tuple[dict[str, Any], bytes]] = OrderedDict()
        # The rewritten list for a whole tool list (the same ~25 tools on every call of a turn).
        self._lists: OrderedDict[tuple[tuple[Any, ...], ...], list[ToolDefinition]] = OrderedDict()

    def _key(self, tool: ToolDefinition) -> tuple[Any, ...]:
        schema = tool.parameters_json_schema
        seen = self._schemas.get(id(schema))
        if seen is not None and seen[0] is schema:
            dumped = seen[1]
        else:
            dumped = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
            self._schemas[id(schema)] = (schema, dumped)
            while len(self._schemas) > self._size:
                self._schemas.popitem(last=False)
        return (tool.name, tool.description, tool.strict, tool.kind, dumped)

    def customize(
        self,
        params: ModelRequestParameters,
        rewrite: Callable[[ModelRequestParameters], ModelRequestParameters],
    ) -> ModelRequestParameters:
        keys = [self._key(t) for t in params.function_tools]
        whole = tuple(keys)
        # Without output tools or object, the rewrite changes the function tools only.
        tools_only = not params.output_tools and params.output_object is None
        listed = self._lists.get(whole) if tools_only else None
        if listed is not None:
            self._lists.move_to_end(whole)
            return replace(params, function_tools=list(listed))
        missing = [
            t for t, k in zip(params.function_tools, keys, strict=True) if k not in self._done
        ]
        # Output tools and objects are few and per run: rewritten as before.
        done = rewrite(replace(params, function_tools=missing))
        for tool, rewritten in zip(missing, done.function_tools, strict=True):
            self._done[self._key(tool)] = rewritten
        tools = []
        for tool, key in zip(params.function_tools, keys, strict=True):
            rewritten = self._done[key]
            self._done.move_to_end(key)
            tools.append(
                replace(
                    tool,
                    parameters_json_schema=rewritten.parameters_json_schema,
                    strict=rewritten.strict,
                )
            )
        while len(self._done) > self._size:
            self._done.popitem(last=False)
        if tools_only:
            self._lists[whole] = tools
            while len(self._lists) > 64:
                self._lists.popitem(last=False)
        return replace(done, function_tools=tools)


def build_model(config: ProviderConfig, model_name: str, settings: AiSettings) -> Model:
    """The pydantic-ai model speaking this provider's own wire protocol (with its tool schemas
    rewritten once, not per request: :class:`ToolSchemaMemo`; OpenAI's client built once with
    its retries: :mod:`~pyairtable_platform.ai.providers.clients`)."""
    memo = ToolSchemaMemo()
    if config.provider in ("openai", "openai-compatible"):
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        from pyairtable_platform.ai.providers.clients import openai_client

        class OpenAIModel(OpenAIChatModel):
            def customize_request_parameters(
                self, params: ModelRequestParameters
            ) -> ModelRequestParameters:
                return memo.customize(params, super().customize_request_parameters)

        # Local servers (Ollama, LM Studio) accept any key, but the SDK insists on one.
        client = openai_client(
            base_url=config.base_url,
            api_key=config.api_key or "none",
            max_retries=settings.provider_max_retries,
        )
        return OpenAIModel(model_name, provider=OpenAIProvider(openai_client=client))
    if config.provider == "gemini":
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider

        class GeminiModel(GoogleModel):
            def customize_request_parameters(
                self, params: ModelRequestParameters
            ) -> ModelRequestParameters:
                return memo.customize(params, super().customize_request_parameters)

        return GeminiModel(
            model_name, provider=GoogleProvider(api_key=config.api_key, base_url=config.base_url)
        )
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    class ClaudeModel(AnthropicModel):
        def customize_request_parameters(
            self, params: ModelRequestParameters
        ) -> ModelRequestParameters:
            return memo.customize(params, super().customize_request_parameters)

    from pyairtable_platform.ai.providers.clients import provider_http_client

    return ClaudeModel(
        model_name,
        provider=AnthropicProvider(
            api_key=config.api_key, base_url=config.base_url, http_client=provider_http_client()
        ),
    )


def model_settings(
    config: ProviderConfig, session: SessionModelSettings, settings: AiSettings
) -> ModelSettings:
    """Per-request settings: the session's choices mapped onto the provider's own knobs."""
    result: dict[str, Any] = {
        "max_tokens": session.max_tokens or settings.default_max_output_tokens,
        "timeout": settings.provider_timeout_seconds,
    }
    if config.provider not in ("openai", "openai-compatible"):
        # OpenAI's client carries its retries (build_model): per request, they would send
        # every request through a fresh copy of the client.
        result["max_retries"] = settings.provider_max_retries
    if session.temperature is not None:
        result["temperature"] = session.temperature
    budget = session.thinking_budget
    if budget is not None:
        if config.provider == "gemini":
            result["google_thinking_config"] = {"thinking_budget": budget}
        elif config.provider == "anthropic":
            if budget > 0:
                result |= _anthropic_thinking(session.model or config.model, budget)
                # Anthropic refuses temperature (other than 1) while the model thinks.
                result.pop("temperature", None)
        elif budget > 0:
            result["thinking"] = _effort(budget)
    return cast(ModelSettings, result)


def _effort(budget: int) -> str:
    return "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"


def _anthropic_thinking(model: str, budget: int) -> dict[str, Any]:
    """Anthropic's thinking settings for a token budget. Claude 4.7 and later refuse a fixed
    budget (the API answers 400, pydantic-ai raises before sending): they think adaptively,
    the budget choosing the effort. Older models take the budget, at least the API's 1024."""
    from pydantic_ai.profiles.anthropic import AnthropicModelProfile, anthropic_model_profile

    profile = cast(AnthropicModelProfile, anthropic_model_profile(model) or {})
    if profile.get("anthropic_disallows_budget_thinking", False):
        return {"anthropic_thinking": {"type": "adaptive"}, "anthropic_effort": _effort(budget)}
    return {"anthropic_thinking": {"type": "enabled", "budget_tokens": max(budget, 1024)}}
