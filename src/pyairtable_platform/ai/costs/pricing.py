"""Money for tokens: the maintained ``genai-prices`` table, overridden per model by
``AI_MODEL_PRICES`` (USD per million tokens). Money is always :class:`~decimal.Decimal`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from genai_prices import calc_price, data_snapshot, types
from pydantic_ai.usage import RequestUsage

MILLION = Decimal(1_000_000)
CENT_FRACTION = Decimal("0.000001")  # the precision of numeric(14, 6) columns


@dataclass(frozen=True)
class TokenUsage:
    """Tokens of one LLM call as the provider reported them. ``thinking_tokens`` are part of
    ``output_tokens``; ``cached_tokens`` (cache reads) and ``cache_write_tokens`` are part of
    ``input_tokens`` (providers bill them so)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    thinking_tokens: int = 0
    # Anthropic bills prompt-cache writes above the input price (1.25x for 5 minutes); not
    # stored as a column, but priced.
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_request_usage(cls, usage: RequestUsage) -> TokenUsage:
        thinking = usage.output_reasoning_tokens or int(usage.details.get("reasoning_tokens", 0))
        return cls(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cache_read_tokens,
            thinking_tokens=thinking,
            cache_write_tokens=usage.cache_write_tokens,
        )


@dataclass(frozen=True)
class Price:
    cost_usd: Decimal
    priced: bool  # False when neither an override nor the price table knows the model


class PriceTable:
    def __init__(self, overrides: dict[str, dict[str, Decimal]]) -> None:
        self._overrides = overrides
        remember_unknown_models()

    def price(self, usage: TokenUsage, model: str, provider_id: str | None) -> Price:
        override = self._overrides.get(model)
        if override is not None:
            input_price = override.get("input", Decimal(0))
            cached_price = override.get("cached_input", input_price)
            output_price = override.get("output", Decimal(0))
            uncached = max(usage.input_tokens - usage.cached_tokens, 0)
            total = (
                uncached * input_price
                + usage.cached_tokens * cached_price
                + usage.output_tokens * output_price
            ) / MILLION
            return Price(total.quantize(CENT_FRACTION), True)
        request_usage = RequestUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        )
        try:
            calculation = calc_price(request_usage, model, provider_id=provider_id)
        except LookupError:
            return Price(Decimal(0), False)
        return Price(Decimal(calculation.total_price).quantize(CENT_FRACTION), True)

    def estimate(
        self, model: str, provider_id: str | None, input_tokens: int, output_tokens: int
    ) -> Decimal:
        """An upper-bound guess of one call's cost, for the pre-flight budget check."""
        return self.price(
            TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens), model, provider_id
        ).cost_usd


@dataclass
class _SnapshotRememberingMisses(data_snapshot.DataSnapshot):
    """The price table, remembering the models it does not know as well as those it does.

    genai-prices caches a model it found, but a name it does not know (a local Ollama or vLLM
    model, a new release) is looked for again on every call, through every model of the
    provider: a few percent of the ai service's CPU per chat turn, paid twice per LLM call
    (pydantic-ai prices each response too)."""

    _misses: set[tuple[Any, ...]] = field(default_factory=set, init=False)

    def find_provider_model(
        self,
        model_ref: str,
        provider: types.Provider | None,
        provider_id: str | None,
        provider_api_url: str | None,
    ) -> tuple[types.Provider, types.ModelInfo]:
        key = (model_ref.lower(), provider.id if provider else None, provider_id, provider_api_url)
        if key in self._misses:
            raise LookupError(f"Unable to find model with model_ref={model_ref!r}")
        try:
            return super().find_provider_model(model_ref, provider, provider_id, provider_api_url)
        except LookupError:
            if len(self._misses) < 10_000:
                self._misses.add(key)
            raise


def remember_unknown_models() -> None:
    """Install :class:`_SnapshotRememberingMisses` as genai-prices' snapshot (once a process;
    through the library's own ``set_custom_snapshot``, so pydantic-ai's pricing uses it too)."""
    current = data_snapshot.get_snapshot()
    if isinstance(current, _SnapshotRememberingMisses):
        return
    data_snapshot.set_custom_snapshot(
        _SnapshotRememberingMisses(
            providers=current.providers, from_auto_update=current.from_auto_update
        )
    )
