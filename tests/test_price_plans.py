"""Saved price plans: a pricer given the plans another pricer looked up prices every call exactly as
genai-prices does, without looking anything up, and only within the price period it was saved for."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from cost_mcp import pricing
from cost_mcp.config import Settings
from cost_mcp.pricing import CallRates, Price, Pricer, SavedPlan, Tokens, Unpriced, provider_models
from cost_mcp.store import price_plans
from cost_mcp.store.connection import connect, write_transaction

DATES = [
    datetime(2025, 5, 1, 9, tzinfo=UTC),
    datetime(2025, 7, 1, 23, 59, tzinfo=UTC),
    datetime(2026, 11, 1, 12, tzinfo=UTC),
]
MODS: list[dict[str, str]] = [{}, {"speed": "fast"}, {"service_tier": "batch"}, {"inference_geo": "us"}]


def _tokens(rng: random.Random) -> Tokens:
    return Tokens(
        input=rng.choice([rng.randint(0, 5_000), rng.randint(150_000, 400_000)]),
        output=rng.randint(0, 20_000),
        cache_read=rng.choice([0, rng.randint(0, 150_000)]),
        cache_write_5m=rng.choice([0, rng.randint(0, 60_000)]),
        cache_write_1h=rng.choice([0, rng.randint(0, 30_000)]),
        web_search_requests=rng.randint(0, 3),
    )


def _no_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(model: str, provider: str | None) -> object:
        raise AssertionError(f"looked {model} up in genai-prices")

    monkeypatch.setattr(pricing, "_lookup", refuse)


def test_saved_plans_price_every_call_as_the_lookup_did(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up = Pricer(saved=[])
    lookups: list[tuple[str, str, datetime, dict[str, str]]] = []
    for provider in ("anthropic", "openai", "google"):
        for info in provider_models(provider):
            for at in DATES:
                for extra in MODS if provider == "anthropic" else [{}]:
                    plan = looked_up.rates(info.id, provider, at, **extra)
                    # None: a table genai-prices prices itself; assumptions: never kept (below).
                    if isinstance(plan, CallRates) and not plan.assumptions:
                        lookups.append((info.id, provider, at, extra))
    lookups.append(("no-such-model-anywhere", "anthropic", DATES[0], {}))
    assert looked_up.rates("no-such-model-anywhere", "anthropic", DATES[0]) is not None
    assert looked_up.fresh
    assert len(lookups) > 300

    rng = random.Random(20261203)
    expected = {}
    for model, provider, at, extra in lookups:
        tokens = _tokens(rng)
        expected[(model, provider, at, tuple(extra.items()), tokens)] = (
            Pricer().price(tokens, model, provider, at, **extra),
            Pricer().rates(model, provider, at, **extra),
        )
    _no_lookups(monkeypatch)
    from_saved = Pricer(saved=looked_up.fresh)
    for (model, provider, at, mods, tokens), (price, rates) in expected.items():
        # Any instant of the same UTC day is in the same price period.
        later = at.replace(hour=0, minute=0) + timedelta(hours=23, minutes=59)
        for when in (at, later):
            assert from_saved.price(tokens, model, provider, when, **dict(mods)) == price, model
            assert from_saved.rates(model, provider, when, **dict(mods)) == rates, model
    assert from_saved.fresh == []


def test_a_plan_holds_only_within_its_price_period() -> None:
    # o3's price was cut on 2025-06-10: $10/$40 per MTok before, $2/$8 from that UTC day on.
    saved_after = Pricer(saved=[])
    tokens = Tokens(input=1_000_000, output=1_000_000)
    after = saved_after.price(tokens, "o3", "openai", datetime(2025, 7, 1, tzinfo=UTC))
    assert isinstance(after, Price) and after.total == 10
    [plan] = saved_after.fresh or []
    assert plan.first_day == (datetime(2025, 6, 10, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days
    pricer = Pricer(saved=[plan])
    on_the_day = pricer.price(tokens, "o3", "openai", datetime(2025, 6, 10, 0, 0, 1, tzinfo=UTC))
    assert isinstance(on_the_day, Price) and on_the_day.total == 10
    assert pricer.fresh == []
    before = pricer.price(tokens, "o3", "openai", datetime(2025, 6, 9, 23, 59, tzinfo=UTC))
    assert isinstance(before, Price) and before.total == 50
    assert [p.end_day for p in pricer.fresh or []] == [plan.first_day]  # looked up, then kept


def test_unknown_values_and_malformed_plans_are_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    pricer = Pricer(saved=[])
    warp = pricer.price(Tokens(input=10), "claude-sonnet-4-5", "anthropic", DATES[2], speed="warp")
    assert isinstance(warp, Price) and warp.assumptions
    assert pricer.fresh == []  # a value with an assumption is not kept: a log could hold any number
    assert isinstance(pricer.rates("claude-sonnet-4-5", "anthropic", DATES[2]), CallRates)
    [good] = pricer.fresh or []
    broken = SavedPlan(good.model, good.provider, good.variant, good.first_day, good.end_day, '{"rates": 1}')
    again = Pricer(saved=[broken])
    assert again.rates("claude-sonnet-4-5", "anthropic", DATES[2]) == pricer.rates(
        "claude-sonnet-4-5", "anthropic", DATES[2]
    )
    assert again.fresh == [good]
    # Without saved plans (the server and ingest) nothing is collected.
    assert Pricer().fresh is None


def test_the_data_key_follows_genai_prices_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = tmp_path / "data.py"
    data.write_text("DATA = 1\n")
    monkeypatch.setattr(
        pricing, "find_spec", lambda name: SimpleNamespace(submodule_search_locations=[tmp_path])
    )
    first = pricing.plan_data_key()
    assert pricing.plan_data_key() == first
    data.write_text("DATA = 12\n")
    assert pricing.plan_data_key() != first


def test_the_data_key_follows_the_token_kinds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A plan's rates are one per kind in tokens.KINDS order: a kind added or moved there, with
    # pricing.py untouched, must not leave plans saved before it read in the new order.
    for name in ("pricing.py", "pricing_corrections.py", "tokens.py"):
        (tmp_path / name).write_text(f"# {name}\n")
    monkeypatch.setattr(pricing, "__file__", str(tmp_path / "pricing.py"))
    first = pricing.plan_data_key()
    (tmp_path / "tokens.py").write_text("# tokens.py, a kind added\n")
    assert pricing.plan_data_key() != first


def test_the_ledger_keeps_plans_per_data_key(home: Path, settings: Settings) -> None:
    pricer = Pricer(saved=[])
    pricer.rates("claude-sonnet-4-5", "anthropic", DATES[2])
    pricer.rates("no-such-model-anywhere", "anthropic", DATES[2])
    fresh = pricer.fresh or []
    assert len(fresh) == 2
    conn = connect(settings.db)
    try:
        with write_transaction(conn):
            assert price_plans.save(conn, "key-a", fresh) == 2
            assert price_plans.save(conn, "key-a", fresh) == 0
        assert sorted(price_plans.load(conn, "key-a"), key=lambda p: p.model) == sorted(
            fresh, key=lambda p: p.model
        )
        assert price_plans.load(conn, "key-b") == []
    finally:
        conn.close()
    again = Pricer(saved=fresh)
    assert isinstance(again.rates("no-such-model-anywhere", "anthropic", DATES[2]), Unpriced)
    assert again.fresh == []


def test_a_pricers_answer_does_not_depend_on_what_it_priced_before() -> None:
    """A price variant that starts on a date (genai-prices' own batch price) applies from that date
    in a long-lived pricer too, not only in a fresh one."""
    from genai_prices.types import StartDateConstraint

    checked = 0
    for info in provider_models("anthropic"):
        for variant in info.price_variants or ():
            if not isinstance(variant.constraint, StartDateConstraint) or "processing" not in variant.when:
                continue
            start = datetime.combine(variant.constraint.start_date, datetime.min.time(), UTC)
            before, after = start - timedelta(days=30), start + timedelta(days=1)
            tokens = Tokens(input=1_000, output=1_000)
            long_lived = Pricer()
            long_lived.price(tokens, info.id, "anthropic", before, service_tier="batch")
            assert long_lived.price(
                tokens, info.id, "anthropic", after, service_tier="batch"
            ) == Pricer().price(tokens, info.id, "anthropic", after, service_tier="batch"), info.id
            checked += 1
    assert checked, "no dated batch variant left in genai-prices' data: pick another case"
