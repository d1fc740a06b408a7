"""The price table (``ai/costs/pricing.py``): overrides, genai-prices, and unknown models."""

from __future__ import annotations

from decimal import Decimal

from genai_prices import calc_price, data_snapshot
from pydantic_ai.usage import RequestUsage

from pyairtable_platform.ai.costs.pricing import PriceTable, TokenUsage


def test_a_known_model_is_priced_from_the_table_as_genai_prices_prices_it() -> None:
    usage = TokenUsage(input_tokens=1_000, output_tokens=500)
    price = PriceTable({}).price(usage, "gpt-4.1-mini", "openai")
    expected = calc_price(
        RequestUsage(input_tokens=1_000, output_tokens=500), "gpt-4.1-mini", provider_id="openai"
    )
    assert price.priced
    assert price.cost_usd == Decimal(expected.total_price).quantize(Decimal("0.000001"))
    assert price.cost_usd > 0


def test_an_override_wins_over_the_table() -> None:
    table = PriceTable({"gpt-4.1-mini": {"input": Decimal(2), "output": Decimal(8)}})
    price = table.price(
        TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000), "gpt-4.1-mini", "openai"
    )
    assert price.cost_usd == Decimal(10)


def test_an_unknown_model_is_unpriced_and_remembered_so_it_is_not_looked_for_again() -> None:
    table = PriceTable({})
    usage = TokenUsage(input_tokens=10, output_tokens=5)
    first = table.price(usage, "llama3.1:8b-local", "openai")
    snapshot = data_snapshot.get_snapshot()
    remembered = {key for key in snapshot._misses if key[0] == "llama3.1:8b-local"}  # type: ignore[attr-defined]
    second = table.price(usage, "llama3.1:8b-local", "openai")
    assert (first.cost_usd, first.priced) == (Decimal(0), False)
    assert (second.cost_usd, second.priced) == (Decimal(0), False)
    assert remembered, "the miss was not remembered"
    # A known model is still found through the same snapshot, by anyone who asks.
    assert (
        calc_price(
            RequestUsage(input_tokens=10, output_tokens=5), "gpt-4.1-mini", provider_id="openai"
        ).total_price
        > 0
    )
