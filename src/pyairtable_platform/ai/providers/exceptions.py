"""Errors about LLM providers."""

from __future__ import annotations

from pyairtable_platform.kit.errors import PlatformError

HOW_TO_CONFIGURE = (
    "no LLM provider is configured. Set one of GEMINI_API_KEY (Google Gemini, default model "
    "gemini-2.5-flash), OPENAI_API_KEY, ANTHROPIC_API_KEY, or OPENAI_BASE_URL for an "
    "OpenAI-compatible server (Ollama, vLLM, LM Studio) in the ai service's environment, "
    "optionally with LLM_MODEL; or, as a workspace admin, PUT /api/v1/ai/provider "
    '{"provider": "gemini|openai|anthropic|openai-compatible", "model": ..., "api_key": ...}'
)


class LlmNotConfigured(PlatformError):
    status_code = 503
    error = "llm_not_configured"

    def __init__(self, detail: str = HOW_TO_CONFIGURE) -> None:
        super().__init__(detail)


class ProviderKeyUnreadable(PlatformError):
    status_code = 503
    error = "llm_not_configured"
