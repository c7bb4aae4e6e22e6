from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cost_mcp.analytics.estimate import estimate_cost
from cost_mcp.errors import UnknownModelError
from cost_mcp.pricing import Pricer, Tokens, Workload, fewest_calls, provider_models

AT = datetime(2026, 11, 1, tzinfo=UTC)
counts = st.integers(min_value=0, max_value=5_000_000)


@given(
    st.builds(
        Tokens,
        input=counts,
        output=counts,
        cache_read=counts,
        cache_write_5m=counts,
        cache_write_1h=counts,
        web_search_requests=st.integers(0, 1000),
    ),
    st.integers(min_value=1, max_value=10_000),
)
def test_workload_split_loses_no_token_and_no_call(tokens: Tokens, requests: int) -> None:
    shapes = list(Workload(tokens, requests).calls())
    assert sum(n for _, n in shapes) == requests
    for name in ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "web_search_requests"):
        assert sum(getattr(shape, name) * n for shape, n in shapes) == getattr(tokens, name)
    assert len(shapes) <= 7


def test_fewest_calls_fits_the_context_window() -> None:
    assert fewest_calls(Tokens(input=200_000), "claude-sonnet-4-5", "anthropic") == 1
    assert fewest_calls(Tokens(input=200_001), "claude-sonnet-4-5", "anthropic") == 2
    assert fewest_calls(Tokens(input=1_000_000), "claude-sonnet-4-5", "anthropic") == 5


def test_explicit_single_call_pays_the_long_context_rate() -> None:
    tokens = Tokens(input=1_000_000, output=1_000_000)
    spread = estimate_cost(Pricer(), tokens, "claude-sonnet-4-5", "anthropic", at=AT)
    single = estimate_cost(Pricer(), tokens, "claude-sonnet-4-5", "anthropic", requests=1, at=AT)
    assert spread.cost_usd == Decimal(18)
    assert spread.requests == 5
    assert single.cost_usd == Decimal("28.5")
    assert single.long_context


def test_alternatives_price_input_and_output_and_are_cheaper() -> None:
    result = estimate_cost(Pricer(), Tokens(input=50_000, output=5_000), "gpt-5", "openai", at=AT)
    assert result.cheaper
    for alt in result.cheaper:
        assert alt.cost_usd < result.cost_usd
        assert alt.saving_usd == result.cost_usd - alt.cost_usd
        assert "embed" not in alt.model


def test_unknown_model_raises_with_suggestions() -> None:
    with pytest.raises(UnknownModelError, match="Did you mean"):
        estimate_cost(Pricer(), Tokens(input=1), "claude-haikuu-4-5", "anthropic", at=AT)


def test_a_call_over_the_context_window_is_split_and_says_how_to_price_it_whole() -> None:
    """250k input tokens on Sonnet are priced as two calls that each fit its standard window; the
    note names both ways to ask for one long-context call (the tool's argument, the CLI's flag)."""
    split = estimate_cost(Pricer(), Tokens(input=250_000, output=2000), "claude-sonnet-4-5", at=AT)
    assert split.requests == 2
    assert "pass requests=1 (--requests 1 on the command line)" in split.notes[0]
    whole = estimate_cost(Pricer(), Tokens(input=250_000, output=2000), "claude-sonnet-4-5", None, 1, at=AT)
    assert whole.requests == 1 and whole.cost_usd > split.cost_usd  # the long-context rate applies


def test_no_alternative_has_a_context_window_smaller_than_a_call() -> None:
    """Claude 3 Haiku (a 200k window) was offered for a 500k-token call on Opus 4.6 (1M): it cannot
    read it. A model priced at a long-context rate past its window is kept, and the split into calls
    is what counts: two calls of 150k each fit a 200k window."""
    windows = {m.id: m.context_window for m in provider_models("anthropic")}
    whole = estimate_cost(Pricer(), Tokens(input=500_000, output=1_000), "claude-opus-4-6", at=AT)
    assert whole.requests == 1 and whole.cheaper
    for alt in whole.cheaper:
        window = windows[alt.model]
        if window is not None and window < 500_000:
            # Only at a long-context rate, which its price table has for input past its window.
            priced = estimate_cost(Pricer(), Tokens(input=500_000, output=1_000), alt.model, None, 1, at=AT)
            assert priced.long_context, alt.model
    assert "claude-3-haiku" not in [a.model for a in whole.cheaper]
    [note] = [n for n in whole.notes if n.startswith("Not suggested")]
    assert "the call's 500,000 input tokens" in note
    split = estimate_cost(Pricer(), Tokens(input=300_000, output=1_000), "claude-opus-4-6", None, 2, at=AT)
    assert "claude-3-haiku" in [a.model for a in split.cheaper]
    assert not [n for n in split.notes if n.startswith("Not suggested")]
