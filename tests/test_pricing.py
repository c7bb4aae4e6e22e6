"""Pricing: table-driven cases with hand-computed expectations from published list prices."""

from __future__ import annotations

import os
import random
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cost_mcp.errors import InvalidInputError
from cost_mcp.pricing import (
    CallRates,
    DayPrices,
    Price,
    Pricer,
    Tokens,
    Unpriced,
    claude_provider,
    genai_calc_total,
    load_overrides,
    provider_models,
)
from cost_mcp.tokens import of_call

AT = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("case", "model", "provider", "tokens", "expected"),
    [
        # Sonnet 4.5: $3 in, $15 out, $0.30 cache read, $3.75 5m write, $6 1h write per MTok.
        ("plain", "claude-sonnet-4-5", "anthropic", Tokens(input=100_000, output=10_000), "0.45"),
        ("dated id", "claude-sonnet-4-5-20250929", "anthropic", Tokens(input=100_000, output=10_000), "0.45"),
        (
            "cache read",
            "claude-sonnet-4-5",
            "anthropic",
            Tokens(input=10_000, cache_read=50_000, output=2_000),
            "0.075",  # 0.03 + 0.015 + 0.03
        ),
        ("5m cache write", "claude-sonnet-4-5", "anthropic", Tokens(cache_write_5m=20_000), "0.075"),
        ("1h cache write", "claude-sonnet-4-5", "anthropic", Tokens(cache_write_1h=15_000), "0.09"),
        (
            "every kind",
            "claude-sonnet-4-5",
            "anthropic",
            Tokens(
                input=10_000, cache_read=50_000, cache_write_5m=5_000, cache_write_1h=15_000, output=2_000
            ),
            "0.18375",
        ),
        (
            "200k exactly: base",
            "claude-sonnet-4-5",
            "anthropic",
            Tokens(input=200_000, output=1_000),
            "0.615",
        ),
        (
            "one over 200k: whole request at the tier",
            "claude-sonnet-4-5",
            "anthropic",
            Tokens(input=200_001, output=1_000),
            "1.222506",  # 200001 x $6 + 1000 x $22.50
        ),
        (
            "tier reached through cache tokens",
            "claude-sonnet-4-5",
            "anthropic",
            Tokens(input=1, cache_read=150_000, cache_write_5m=60_000),
            "0.540006",  # 1 x $6 + 150k x $0.60 + 60k x $7.50
        ),
        ("web search", "claude-sonnet-4-5", "anthropic", Tokens(web_search_requests=3), "0.03"),
        ("openai", "gpt-5-mini-2025-08-07", "openai", Tokens(input=1_000_000, output=1_000_000), "2.25"),
        (
            "openrouter",
            "anthropic/claude-sonnet-4.5",
            "openrouter",
            Tokens(input=100_000, output=10_000),
            "0.45",
        ),
        ("groq", "llama-3.3-70b-versatile", "groq", Tokens(input=1_000_000, output=1_000_000), "1.38"),
        (
            "provider inferred",
            "claude-haiku-4-5-20251001",
            None,
            Tokens(input=1_000_000, output=1_000_000),
            "6",
        ),
    ],
)
def test_price_table(case: str, model: str, provider: str | None, tokens: Tokens, expected: str) -> None:
    priced = Pricer().price(tokens, model, provider, AT)
    assert isinstance(priced, Price), case
    assert priced.total == Decimal(expected), case
    assert sum(priced.by_kind.values()) == priced.total


def test_long_context_flag_only_when_over_the_threshold() -> None:
    pricer = Pricer()
    under = pricer.price(Tokens(input=200_000), "claude-sonnet-4-5", "anthropic", AT)
    over = pricer.price(Tokens(input=200_001), "claude-sonnet-4-5", "anthropic", AT)
    assert isinstance(under, Price) and not under.long_context
    assert isinstance(over, Price) and over.long_context


def test_price_at_the_calls_own_timestamp() -> None:
    # o3's price was cut on 2025-06-10: $10/$40 before, $2/$8 after.
    pricer = Pricer()
    tokens = Tokens(input=1_000_000, output=1_000_000)
    before = pricer.price(tokens, "o3", "openai", datetime(2025, 5, 1, tzinfo=UTC))
    after = pricer.price(tokens, "o3", "openai", datetime(2025, 7, 1, tzinfo=UTC))
    assert isinstance(before, Price) and before.total == Decimal(50)
    assert isinstance(after, Price) and after.total == Decimal(10)


def test_unknown_model_is_unpriced_with_close_matches_never_zero() -> None:
    priced = Pricer().price(Tokens(input=10), "claude-sonet-4-5", "anthropic", AT)
    assert isinstance(priced, Unpriced)
    assert "claude-sonnet-4-5" in priced.suggestions


def test_unknown_provider_is_unpriced() -> None:
    priced = Pricer().price(Tokens(input=10), "gpt-5", "no-such-provider", AT)
    assert isinstance(priced, Unpriced)
    assert "no-such-provider" in priced.reason


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("anthropic/claude-sonnet-4-5", "anthropic"),
        ("anthropic/claude-sonnet-4-5", None),
        ("google/gemini-2.5-pro", "google"),
        ("openai/gpt-5", "openai"),
    ],
)
def test_a_providers_own_model_under_its_prefix_has_its_price(model: str, provider: str | None) -> None:
    """OpenCode and gateways write "anthropic/claude-sonnet-4-5" for Anthropic's own model: the same
    price as "claude-sonnet-4-5", not unpriced."""
    plain = Pricer().price(Tokens(input=1_000, output=100), model.partition("/")[2], provider, AT)
    prefixed = Pricer().price(Tokens(input=1_000, output=100), model, provider, AT)
    assert isinstance(plain, Price) and isinstance(prefixed, Price)
    assert (prefixed.total_nanos, prefixed.model_id) == (plain.total_nanos, plain.model_id)


def test_another_providers_prefix_is_not_taken_for_this_one() -> None:
    assert isinstance(Pricer().price(Tokens(input=10), "openai/gpt-5", "anthropic", AT), Unpriced)
    # OpenRouter's ids carry their vendor: priced as OpenRouter's, unchanged.
    routed = Pricer().price(Tokens(input=10), "anthropic/claude-sonnet-4.5", "openrouter", AT)
    assert isinstance(routed, Price) and routed.model_id == "anthropic/claude-sonnet-4.5"


def test_synthetic_model_is_unpriced() -> None:
    assert isinstance(Pricer().price(Tokens(), "<synthetic>", "anthropic", AT), Unpriced)


def test_naive_timestamp_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="timezone"):
        Pricer().price(Tokens(input=1), "claude-sonnet-4-5", "anthropic", datetime(2026, 1, 1))


@pytest.mark.parametrize("field", ["input", "output", "cache_read", "cache_write_5m", "web_search_requests"])
def test_tokens_reject_negative_counts(field: str) -> None:
    with pytest.raises(InvalidInputError, match=f"{field} must be a whole number"):
        Tokens(**{field: -1})


def test_compiled_rates_agree_with_genai_prices_for_every_main_model() -> None:
    """The fast path must give genai-prices' own answer, to the last digit, for every model."""
    rng = random.Random(20261122)
    pricer = Pricer()
    checked = 0
    for provider in ("anthropic", "openai", "openrouter", "groq", "google", "deepseek", "x-ai"):
        for info in provider_models(provider):
            for _ in range(2):
                tokens = Tokens(
                    input=rng.randint(0, 300_000),
                    output=rng.randint(0, 20_000),
                    cache_read=rng.choice([0, rng.randint(0, 150_000)]),
                    cache_write_5m=rng.choice([0, rng.randint(0, 60_000)]),
                    cache_write_1h=rng.choice([0, rng.randint(0, 30_000)]),
                    web_search_requests=rng.randint(0, 3),
                )
                try:
                    expected = genai_calc_total(tokens, info.id, provider, AT)
                except LookupError:
                    continue  # genai-prices cannot match some ids to themselves (e.g. "ft:gpt-4o")
                priced = pricer.price(tokens, info.id, provider, AT)
                assert isinstance(priced, Price), info.id
                if priced.corrections:
                    continue  # deliberately not genai-prices' answer: tests/test_pricing_corrections.py
                assert priced.total == expected, (provider, info.id, tokens)
                checked += 1
    assert checked > 2_000


def test_rates_resolved_once_price_every_call_as_price_does() -> None:
    """``Pricer.rates`` (an ingest's once-per-model-and-day plan) gives ``price``'s exact nanos,
    model id and assumptions, tiers and modifiers included, for every Anthropic model."""
    rng = random.Random(20261202)
    pricer = Pricer()
    checked = 0
    mods = [{}, {"speed": "fast"}, {"service_tier": "batch"}, {"inference_geo": "us"}, {"speed": "warp"}]
    for info in provider_models("anthropic"):
        for extra in mods:
            plan = pricer.rates(info.id, "anthropic", AT, **extra)
            if plan is None:
                continue  # a table genai-prices prices itself: ingest calls price() per call
            assert isinstance(plan, CallRates), info.id
            for _ in range(3):
                tokens = Tokens(
                    input=rng.choice([rng.randint(0, 5_000), rng.randint(150_000, 400_000)]),
                    output=rng.randint(0, 20_000),
                    cache_read=rng.choice([0, rng.randint(0, 150_000)]),
                    cache_write_5m=rng.choice([0, rng.randint(0, 60_000)]),
                    cache_write_1h=rng.choice([0, rng.randint(0, 30_000)]),
                    web_search_requests=rng.randint(0, 3),
                )
                priced = pricer.price(tokens, info.id, "anthropic", AT, **extra)
                assert isinstance(priced, Price)
                assert plan.nanos(of_call(tokens)) == priced.total_nanos, (info.id, extra, tokens)
                assert (plan.model_id, plan.assumptions) == (priced.model_id, priced.assumptions)
                checked += 1
    assert checked > 100
    assert isinstance(pricer.rates("no-such-model-anywhere", "anthropic", AT), Unpriced)


def test_rates_at_the_edge_of_a_tier_price_as_price_does() -> None:
    """A call whose input is exactly a tier's threshold is below it (the tier starts above)."""
    pricer = Pricer()
    plan = pricer.rates("claude-sonnet-4-5-20250929", "anthropic", AT)
    assert isinstance(plan, CallRates) and plan.rates.untiered_up_to is not None
    edge = plan.rates.untiered_up_to
    for total_input in (edge - 1, edge, edge + 1):
        tokens = Tokens(input=total_input - 1_000, cache_read=600, cache_write_5m=400, output=5_000)
        priced = pricer.price(tokens, "claude-sonnet-4-5-20250929", "anthropic", AT)
        assert isinstance(priced, Price)
        assert plan.nanos(of_call(tokens)) == priced.total_nanos, total_input
        assert priced.long_context == (total_input > edge)


def test_day_prices_price_every_call_as_price_does() -> None:
    """``DayPrices`` (the OTLP receiver's per-batch pricer) gives ``price``'s exact nanos, model id
    and provider for every model of five providers, standard and fast, at three instants priced
    through one instance (so a plan resolved for one day is never reused for another day, nor
    for another hour of a time-of-day price such as DeepSeek's off-peak one), tables genai-prices
    prices itself (OpenRouter's) included; an unknown model is unpriced (None), never $0."""
    rng = random.Random(20261203)
    pricer = Pricer()
    prices = DayPrices(pricer)
    instants = [AT, AT.replace(hour=17, minute=30), datetime(2025, 11, 1, 23, 59, tzinfo=UTC)]
    checked = fallback = hourly = 0
    for provider in ("anthropic", "openai", "google", "deepseek", "openrouter"):
        for info in provider_models(provider):
            for speed in (None, "fast"):
                plan = pricer.rates(info.id, provider, AT, speed=speed)
                fallback += plan is None
                hourly += isinstance(plan, CallRates) and not plan.day_stable
                for at in instants:
                    tokens = Tokens(
                        input=rng.choice([rng.randint(0, 5_000), rng.randint(150_000, 400_000)]),
                        cache_read=rng.choice([0, rng.randint(0, 150_000)]),
                        cache_write_5m=rng.choice([0, rng.randint(0, 60_000)]),
                        output=rng.randint(0, 20_000),
                    )
                    counts = of_call(tokens)
                    ts_ms = int(at.timestamp() * 1000)
                    priced = pricer.price(tokens, info.id, provider, at, speed=speed)
                    got = prices.cost(counts, info.id, provider, ts_ms, speed)
                    if isinstance(priced, Price):
                        assert got == (priced.total_nanos, priced.model_id, priced.provider_id), (info.id, at)
                    else:
                        assert got is None, (info.id, at)
                    checked += 1
    assert checked > 200
    assert fallback > 0, "no table priced by genai-prices itself: the fallback path went untested"
    assert hourly > 0, "no time-of-day price: the per-call path went untested"
    unknown = prices.cost(of_call(Tokens(1, 1)), "no-such-model-anywhere", "anthropic", 1_790_000_000_000)
    assert unknown is None


def write_prices(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_override_prices_an_unknown_model(tmp_path: Path) -> None:
    path = write_prices(
        tmp_path / "prices.toml",
        '[[price]]\nmodel = "acme-llm"\nprovider = "acme"\ninput_mtok = "2"\noutput_mtok = 8\n',
    )
    priced = Pricer.from_file(path).price(
        Tokens(input=500_000, output=100_000), "acme-llm-2026-01", "acme", AT
    )
    assert isinstance(priced, Price)
    assert priced.source == "override"
    assert priced.total == Decimal("1.8")


def test_override_wins_over_genai_prices(tmp_path: Path) -> None:
    path = write_prices(
        tmp_path / "prices.toml",
        '[[price]]\nmodel = "claude-sonnet-4-5"\ninput_mtok = "1"\noutput_mtok = "1"\n',
    )
    priced = Pricer.from_file(path).price(
        Tokens(input=1_000_000, output=1_000_000), "claude-sonnet-4-5-20250929", "anthropic", AT
    )
    assert isinstance(priced, Price) and priced.total == Decimal(2)


def test_override_does_not_match_a_longer_model_name(tmp_path: Path) -> None:
    path = write_prices(tmp_path / "p.toml", '[[price]]\nmodel = "claude-sonnet-4"\ninput_mtok = "1"\n')
    priced = Pricer.from_file(path).price(Tokens(input=1_000_000), "claude-sonnet-4-5", "anthropic", AT)
    # "claude-sonnet-4" + "-5" is a prefix at a boundary, so it would match; "claude-sonnet-45" must not.
    assert isinstance(priced, Price)
    other = Pricer.from_file(path).price(Tokens(input=1_000_000), "claude-sonnet-45", "anthropic", AT)
    assert not (isinstance(other, Price) and other.source == "override")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[price]\n", "not valid TOML"),
        ('[[price]]\ninput_mtok = "1"\n', "needs a model"),
        ('[[price]]\nmodel = "m"\ninput_mtok = "-1"\n', ">= 0"),
        ('[[price]]\nmodel = "m"\nbogus_mtok = "1"\n', "unknown price key"),
        ('[[price]]\nmodel = "m"\n', "at least input_mtok"),
        # A price in another shape was ignored without a word, leaving the model unpriced.
        ('[models.m]\ninput_mtok = "3"\n', "unknown key(s) 'models'; each price is a [[price]] table"),
        ('model = "m"\ninput_mtok = "3"\n', "unknown key(s) 'input_mtok', 'model'"),
    ],
)
def test_malformed_override_file_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write_prices(tmp_path / "prices.toml", text)
    with pytest.raises(InvalidInputError, match=re.escape(message)) as info:
        load_overrides(path)
    assert str(path) in str(info.value)


def test_a_running_pricer_keeps_its_prices_when_the_file_becomes_unreadable(tmp_path: Path) -> None:
    """A pipe (or, for a user without root's capabilities, a file of mode 000) where the override
    file was: follow_file raised from every refresh of a running server; it keeps the prices read
    before and says why, as for a broken edit."""
    path = write_prices(tmp_path / "prices.toml", '[[price]]\nmodel = "house-1"\ninput_mtok = "2"\n')
    pricer = Pricer.from_file(path)
    path.unlink()
    os.mkfifo(path)
    assert pricer.follow_file(path) is False
    assert "is not a regular file" in str(pricer.file_problem) and "still in use" in str(pricer.file_problem)
    priced = pricer.price(Tokens(input=1_000_000), "house-1", None, AT)
    assert isinstance(priced, Price) and priced.total_nanos == 2_000_000_000


def test_missing_override_file_means_no_overrides(tmp_path: Path) -> None:
    assert load_overrides(tmp_path / "absent.toml") == ()


def test_a_price_file_edit_during_a_lookup_leaves_no_old_price_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push or OTLP read prices on another thread while a refresh takes an edited file: a plan
    resolved from the overrides before the edit must not land in the cache made for the new ones."""
    from cost_mcp import pricing

    path = tmp_path / "prices.toml"
    pricer = Pricer.from_file(path)  # no file: Sonnet from genai-prices
    real = pricing._match_override
    edited: list[bool] = []

    def edit_meanwhile(overrides: Any, model: str, provider: str | None) -> Any:
        found = real(overrides, model, provider)  # read from the overrides before the edit
        if not edited:
            edited.append(True)
            path.write_text('[[price]]\nmodel = "claude-sonnet-4-5"\ninput_mtok = "100"\n')
            assert pricer.follow_file(path)
        return found

    monkeypatch.setattr(pricing, "_match_override", edit_meanwhile)
    first = pricer.price(Tokens(input=100_000), "claude-sonnet-4-5", "anthropic", AT)
    assert isinstance(first, Price) and first.total_nanos == 300_000_000  # priced as it began: $3/M
    then = pricer.price(Tokens(input=100_000), "claude-sonnet-4-5", "anthropic", AT)
    assert isinstance(then, Price) and then.total_nanos == 10_000_000_000  # the override's $100/M


@pytest.mark.parametrize(
    ("model", "provider", "cost", "priced_as"),
    [
        # Bedrock: in-region and cross-region ids at AWS's regional rate ($3.30 in, $16.50 out).
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", "aws", "0.495", "aws"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws", "0.495", "aws"),
        ("apac.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws", "0.495", "aws"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws", "0.45", "aws"),
        # Vertex AI: the version after an "@", at Google's list price.
        ("claude-sonnet-4-5@20250929", "google", "0.45", "google"),
        ("claude-3-5-sonnet-v2@20241022", "google", "0.45", "google"),
        # Anthropic's own ids, dated or not, and anything else.
        ("claude-sonnet-4-5", "anthropic", "0.45", "anthropic"),
        ("claude-sonnet-4-5-20250929", "anthropic", "0.45", "anthropic"),
        ("anthropic/claude-sonnet-4-5", "anthropic", "0.45", "anthropic"),
    ],
)
def test_a_claude_model_id_names_the_provider_that_bills_it_and_is_priced_there(
    model: str, provider: str, cost: str, priced_as: str
) -> None:
    assert claude_provider(model) == provider
    price = Pricer().price(Tokens(input=100_000, output=10_000), model, provider, AT)
    assert isinstance(price, Price)
    assert (price.total, price.provider_id) == (Decimal(cost), priced_as)
    # Asked as anthropic's (a caller that does not know), Bedrock's ids still find AWS's prices.
    if provider == "aws":
        assert Pricer().price(Tokens(input=100_000, output=10_000), model, "anthropic", AT) == price


def test_a_price_known_only_as_a_total_has_no_cost_per_kind() -> None:
    # genai-prices' own total for a price table this module does not model (OpenRouter's
    # google/gemini-2.5-flash): savings_report and estimate_cost failed with "zip() argument 2 is
    # shorter than argument 1" when such a model was a cheaper alternative (h-qascale).
    fallback = Price("m", "p", "genai-prices", False, fallback_total=Decimal("0.0008"))
    assert fallback.by_kind == {} and fallback.total == Decimal("0.0008")


def test_cheaper_alternatives_skip_a_model_priced_only_as_a_total() -> None:
    from cost_mcp.analytics.estimate import cheaper_alternatives
    from cost_mcp.pricing import Workload

    pricer = Pricer()
    work = Workload(tokens=Tokens(input=1000, output=200), requests=1)
    priced = pricer.price(work.tokens, "google/gemini-2.5-pro", "openrouter", AT)
    assert isinstance(priced, Price)
    found = cheaper_alternatives(pricer, work, priced, AT)
    # Every alternative listed has a cost per kind of token, and each costs less.
    assert found and all(a.cost_usd < priced.total for a in found)
    for alt in found:
        again = pricer.price(work.tokens, alt.model, "openrouter", AT)
        assert isinstance(again, Price) and again.kind_pico
