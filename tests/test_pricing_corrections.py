"""Prices genai-prices lacks (pricing_corrections.py): read from real log files, recorded, estimated.

Expected amounts are computed by hand from the providers' published prices. The first tests are
sentinels: each fails once genai-prices prices its correction's case itself, so the correction is
removed rather than kept forever.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from genai_prices import data_snapshot
from genai_prices.types import ModelInfo, TieredPrices
from mcp import Client

from cost_mcp.analytics.agents import record_usage
from cost_mcp.analytics.claude_code import session_usage, usage_blocks
from cost_mcp.analytics.estimate import estimate_cost
from cost_mcp.analytics.spend import Filters, get_spend, resolve
from cost_mcp.analytics.usage import OUTPUT_LOWER_BOUND
from cost_mcp.config import Settings
from cost_mcp.money import from_nanos
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.pricing_corrections import CORRECTIONS, Correction, genai_context
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store import connect
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import encode, session_file, usage

# The two repro lines of issue 11, byte for byte.
FAST_LINE = (
    '{"type":"assistant","timestamp":"2026-02-20T10:00:00.000Z","sessionId":"s","requestId":"req_1",'
    '"message":{"id":"msg_1","model":"claude-opus-4-6","usage":{"input_tokens":1000,"output_tokens":10000,'
    '"cache_read_input_tokens":100000,"cache_creation_input_tokens":0,"speed":"fast"}}}'
)
SONNET4_LINE = (
    '{"type":"assistant","timestamp":"2025-09-20T10:00:00.000Z","sessionId":"s","requestId":"req_2",'
    '"message":{"id":"msg_2","model":"claude-sonnet-4-20250514","usage":{"input_tokens":10,"output_tokens":2000,'
    '"cache_read_input_tokens":250000,"cache_creation_input_tokens":5000}}}'
)


def write_raw(home: Path, *lines: str, session: str = "s") -> Path:
    path = session_file(home / "claude", session)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def costs(conn: Conn) -> dict[str, Decimal | None]:
    return {
        str(m): None if c is None else from_nanos(int(c))
        for m, c in conn.execute("SELECT message_id, cost_nanos FROM usage_events WHERE counted = 1")
    }


# --- sentinels: each fails once genai-prices prices the case itself ----------------------------


def _models(c: Correction) -> list[ModelInfo]:
    provider = next(p for p in data_snapshot.get_snapshot().providers if p.id == c.provider)
    return [m for m in provider.models if not c.models or m.id in c.models]


@pytest.mark.parametrize("correction", CORRECTIONS, ids=[c.name for c in CORRECTIONS])
def test_genai_prices_still_lacks_what_each_correction_prices(correction: Correction) -> None:
    at = datetime.now(UTC)
    models = _models(correction)
    assert models, f"genai-prices no longer knows these models: remove '{correction.name}'"
    if correction.one_hour_write is not None:
        lacking = [m.id for m in models if m.get_prices(at).cache_write_1h_mtok is None]
        assert lacking == [m.id for m in models], (
            f"genai-prices now has a 1-hour cache write price for some of '{correction.name}': "
            "remove them from it"
        )
        return
    if correction.long_context is not None:
        for info in models:
            standard = info.get_prices(at)
            tiered = [
                k for k in correction.long_context.rates if isinstance(getattr(standard, k), TieredPrices)
            ]
            assert not tiered, (
                f"genai-prices now has {info.id}'s long-context tier: remove '{correction.name}'"
            )
        return
    assert correction.modifier is not None
    name, value = correction.modifier
    context = genai_context(name, value)
    if context is None:  # a modifier genai-prices has no context for at all (inference_geo)
        variants = [v.when for m in models for v in m.price_variants or () if name in v.when]
        assert not variants, f"genai-prices now prices {name}: remove '{correction.name}'"
        return
    # An entry for every model of a provider stays while any of them lacks the variant.
    lacking = [m.id for m in models if m.get_prices(at, context) == m.get_prices(at)]
    assert lacking, f"genai-prices now prices {name}={value} for every model: remove '{correction.name}'"


def test_the_sentinel_fails_for_a_case_genai_prices_already_prices() -> None:
    # genai-prices prices Opus 4.8 fast mode and Sonnet 4.5's long context itself.
    fast = Correction(
        "x", "anthropic", frozenset({"claude-opus-4-8"}), ("speed", "fast"), "https://x", date(2026, 12, 2)
    )
    sonnet4 = next(c for c in CORRECTIONS if c.long_context is not None)
    long = dataclasses.replace(
        sonnet4, models=frozenset({"claude-sonnet-4-5"}), name="sonnet 4.5 long context"
    )
    for stale in (fast, long):
        with pytest.raises(AssertionError, match="remove"):
            test_genai_prices_still_lacks_what_each_correction_prices(stale)


def test_every_correction_names_its_source_and_date() -> None:
    for c in CORRECTIONS:
        assert c.source.startswith("https://"), c.name
        assert c.checked.year >= 2026, c.name
        kinds = (c.multiplier, c.long_context, c.one_hour_write)
        assert sum(k is not None for k in kinds) == 1, c.name


# --- the repro lines, read from a log file --------------------------------------------------------


def test_repro_lines_cost_what_anthropic_bills_when_read_from_a_log_file(
    home: Path, conn: Conn, settings: Settings
) -> None:
    write_raw(home, FAST_LINE, SONNET4_LINE)
    result = ingest(conn, settings, Pricer())
    assert result.events_added == 2
    # Fast mode, Opus 4.6 ($5 / $25 / $0.50 cache read) x6: 1k x $30 + 10k x $150 + 100k x $3 per MTok.
    # Sonnet 4 over 200k input (255,010): 10 x $6 + 2k x $22.50 + 250k x $0.60 + 5k x $7.50 per MTok.
    assert costs(conn) == {"msg_1": Decimal("1.83"), "msg_2": Decimal("0.23256")}


def test_unknown_speed_tier_and_geo_are_warned_about_never_silently_standard(
    home: Path, conn: Conn, settings: Settings
) -> None:
    odd = FAST_LINE.replace('"speed":"fast"', '"speed":"turbo","service_tier":"gold","inference_geo":"mars"')
    write_raw(home, odd)
    ingest(conn, settings, Pricer())
    # Priced at standard rates, as the warning says: 1k x $5 + 10k x $25 + 100k x $0.50 per MTok.
    assert costs(conn) == {"msg_1": Decimal("0.305")}
    note = (
        "1 call priced with an assumption: unknown speed 'turbo'; priced at standard rates; "
        "unknown service_tier 'gold'; priced at standard rates; unknown inference_geo 'mars'; "
        "priced at standard rates"
    )
    p = resolve(settings, None, "2026-02-20", "2026-02-20", "UTC")
    spend = get_spend(conn, settings, p, [], Filters())
    assert note in spend.warnings
    assert note in session_usage(conn, settings, "s").warnings
    # A filter that excludes the call leaves the warning out too.
    other = get_spend(conn, settings, p, [], Filters(models=["claude-sonnet-4-5"]))
    assert note not in other.warnings


def test_output_lower_bound_is_one_note_on_results_that_use_claude_code_logs(
    home: Path, conn: Conn, settings: Settings
) -> None:
    write_raw(home, FAST_LINE, FAST_LINE.replace("msg_1", "msg_3").replace("req_1", "req_3"))
    ingest(conn, settings, Pricer())
    p = resolve(settings, None, "2026-02-20", "2026-02-20", "UTC")
    assert get_spend(conn, settings, p, ["model"], Filters()).warnings.count(OUTPUT_LOWER_BOUND) == 1
    assert session_usage(conn, settings, "s").warnings.count(OUTPUT_LOWER_BOUND) == 1
    blocks = usage_blocks(conn, settings, now=datetime(2026, 2, 20, 12, tzinfo=UTC))
    assert blocks.warnings == [OUTPUT_LOWER_BOUND]
    empty = resolve(settings, None, "2026-02-21", "2026-02-21", "UTC")
    assert OUTPUT_LOWER_BOUND not in get_spend(conn, settings, empty, [], Filters()).warnings


def line(ts: str, message_id: str, model: str, **fields: Any) -> str:
    u = usage(**fields.pop("tokens", {}))
    u.update(fields)
    return encode(
        {
            "type": "assistant",
            "timestamp": ts,
            "sessionId": "s",
            "requestId": "req_" + message_id,
            "message": {"id": message_id, "model": model, "usage": u},
        }
    )


def test_inference_geo_us_and_batch_tier_are_read_and_priced(
    home: Path, conn: Conn, settings: Settings
) -> None:
    ts = "2026-11-20T10:00:00.000Z"
    million = {"input": 1_000_000, "output": 1_000_000}
    write_raw(
        home,
        line(ts, "us", "claude-opus-4-6", tokens=million, inference_geo="us"),
        line(ts, "global", "claude-opus-4-6", tokens=million, inference_geo="global"),
        line(ts, "batch", "claude-sonnet-4-20250514", tokens=million, service_tier="batch"),
        line(ts, "fastus", "claude-opus-4-6", tokens=million, speed="fast", inference_geo="us"),
    )
    ingest(conn, settings, Pricer())
    # Opus 4.6 from 2026-03-13: $5 / $25, no long-context tier. Sonnet 4 above 200k: $6 / $22.50.
    assert costs(conn) == {
        "us": Decimal("33"),  # (5 + 25) x 1.1
        "global": Decimal("30"),
        "batch": Decimal("14.25"),  # (6 + 22.50) x 0.5
        "fastus": Decimal("198"),  # (5 + 25) x 6 x 1.1
    }
    stored = conn.execute("SELECT service_tier, inference_geo FROM usage_events WHERE message_id = 'us'")
    assert stored.fetchone() == ("standard", "us")


def test_long_context_on_bedrock_and_vertex_and_opus_4_7_fast_mode_from_a_log_file(
    home: Path, conn: Conn, settings: Settings
) -> None:
    # Found by running ccusage beside cost-mcp on the same logs: these calls were priced at
    # standard rates (Bedrock's and Vertex's long context, Opus 4.7's fast mode).
    ts = "2026-11-20T10:00:00.000Z"
    long = {"input": 1_000, "output": 1_000, "cache_read": 250_000}
    short = {**long, "cache_read": 199_000}
    write_raw(
        home,
        line(ts, "br45", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", tokens={**long, "write_1h": 10_000}),
        line(ts, "bg45", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", tokens=long),
        line(ts, "br4", "us.anthropic.claude-sonnet-4-20250514-v1:0", tokens=long),
        line(ts, "v4", "claude-sonnet-4@20250514", tokens=long),
        line(ts, "v45", "claude-sonnet-4-5@20250929", tokens=long),  # genai-prices' own tier
        # 200,000 input in all is not above 200k: standard regional rates.
        line(ts, "br45short", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", tokens=short),
        line(
            "2026-06-01T10:00:00.000Z",
            "fast47",
            "claude-opus-4-7",
            tokens={"input": 1_000, "output": 10_000, "cache_read": 100_000},
            speed="fast",
        ),
    )
    ingest(conn, settings, Pricer())
    assert costs(conn) == {
        # regional (+10%) long context: 1k x $6.60 + 1k x $24.75 + 250k x $0.66 + 10k 1h x $13.20
        "br45": Decimal("0.32835"),
        # global long context: 1k x $6 + 1k x $22.50 + 250k x $0.60
        "bg45": Decimal("0.1785"),
        "br4": Decimal("0.1785"),
        "v4": Decimal("0.1785"),
        "v45": Decimal("0.1785"),
        "br45short": Decimal("0.08547"),  # 1k x $3.30 + 1k x $16.50 + 199k x $0.33
        "fast47": Decimal("1.83"),  # (1k x $5 + 10k x $25 + 100k x $0.50) x 6
    }
    providers = dict(conn.execute("SELECT message_id, provider FROM usage_events"))
    assert (providers["br45"], providers["v4"], providers["fast47"]) == ("aws", "google", "anthropic")


def test_one_hour_cache_writes_on_bedrock_and_vertex_cost_twice_input_from_a_log_file(
    home: Path, conn: Conn, settings: Settings
) -> None:
    # genai-prices has no 1-hour write price for these: they were charged at the 5-minute rate.
    ts = "2026-11-20T10:00:00.000Z"
    hour = {"input": 1_000, "output": 1_000, "write_1h": 100_000}
    write_raw(
        home,
        line(ts, "br4", "us.anthropic.claude-sonnet-4-20250514-v1:0", tokens=hour),
        line(ts, "bo41", "us.anthropic.claude-opus-4-1-20250805-v1:0", tokens=hour),
        line(ts, "vo41", "claude-opus-4-1@20250805", tokens=hour),
        line(ts, "v4long", "claude-sonnet-4@20250514", tokens={**hour, "cache_read": 150_000}),
        line(ts, "a4", "claude-sonnet-4-20250514", tokens=hour),  # genai-prices' own 1-hour price
    )
    ingest(conn, settings, Pricer())
    assert costs(conn) == {
        "br4": Decimal("0.618"),  # 1k x $3 + 1k x $15 + 100k x $6
        "bo41": Decimal("3.09"),  # 1k x $15 + 1k x $75 + 100k x $30
        "vo41": Decimal("3.09"),
        # 251,000 input: all at long-context rates, 1k x $6 + 1k x $22.50 + 150k x $0.60 + 100k x $12
        "v4long": Decimal("1.3185"),
        "a4": Decimal("0.618"),
    }


def test_advisor_and_compaction_iterations_are_counted_and_priced_at_their_own_model(
    home: Path, conn: Conn, settings: Settings
) -> None:
    iterations = [
        {"type": "message", "input_tokens": 10, "output_tokens": 100, "cache_read_input_tokens": 0,
         "cache_creation_input_tokens": 0},
        {"type": "advisor_message", "model": "claude-opus-4-6", "input_tokens": 100_000,
         "output_tokens": 2_000, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
        {"type": "compaction", "input_tokens": 180_000, "output_tokens": 3_500,
         "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
    ]  # fmt: skip
    ts = "2026-11-20T10:00:00.000Z"
    text = line(ts, "m", "claude-sonnet-4-5", tokens={"input": 10, "output": 100}, iterations=iterations)
    write_raw(home, text, text)  # written twice, as streamed copies are: still one call of each
    result = ingest(conn, settings, Pricer())
    assert result.events_added == 3
    assert costs(conn) == {
        "m": Decimal("0.00153"),  # Sonnet 4.5: 10 x $3 + 100 x $15 per MTok
        "m#advisor_message1": Decimal("0.55"),  # Opus 4.6: 100k x $5 + 2k x $25
        "m#compaction1": Decimal("0.5925"),  # the request's model, Sonnet 4.5: 180k x $3 + 3.5k x $15
    }
    models = dict(conn.execute("SELECT message_id, model FROM usage_events"))
    assert models["m#advisor_message1"] == "claude-opus-4-6"


def test_an_unknown_iteration_type_is_warned_about(home: Path, conn: Conn, settings: Settings) -> None:
    iterations = [{"type": "oracle_message", "input_tokens": 5, "output_tokens": 5}]
    write_raw(home, line("2026-11-20T10:00:00.000Z", "m", "claude-sonnet-4-5", iterations=iterations))
    ingest(conn, settings, Pricer())
    p = resolve(settings, None, "2026-11-20", "2026-11-20", "UTC")
    warnings = get_spend(conn, settings, p, [], Filters()).warnings
    assert "1 call priced with an assumption: usage.iterations of unknown type oracle_message not priced" in (
        warnings
    )


# --- one price through all three ways in ----------------------------------------------------------


CASES = [
    # (model, provider, tokens, modifiers, expected at 2026-11-..: hand-computed)
    ("claude-opus-4-6", Tokens(input=1_000, output=10_000, cache_read=100_000), {"speed": "fast"}, "1.83"),
    (
        "claude-sonnet-4-20250514",
        Tokens(input=10, output=2_000, cache_read=250_000, cache_write_5m=5_000),
        {},
        "0.23256",
    ),
    ("claude-opus-4-6", Tokens(input=1_000_000, output=1_000_000), {"inference_geo": "us"}, "33"),
    ("claude-sonnet-4-20250514", Tokens(input=1_000, output=1_000), {"service_tier": "batch"}, "0.009"),
]


@pytest.mark.parametrize(("model", "tokens", "mods", "expected"), CASES)
def test_the_same_usage_costs_the_same_from_logs_record_usage_and_estimate_cost(
    home: Path,
    conn: Conn,
    settings: Settings,
    model: str,
    tokens: Tokens,
    mods: dict[str, str],
    expected: str,
) -> None:
    when = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    stamp = when.isoformat().replace("+00:00", "Z")
    tok = {
        "input": tokens.input,
        "output": tokens.output,
        "cache_read": tokens.cache_read,
        "write_5m": tokens.cache_write_5m,
    }
    write_raw(home, line(stamp, "logged", model, tokens=tok, **mods))
    ingest(conn, settings, Pricer())
    from_logs = costs(conn)["logged"]
    recorded = record_usage(
        conn, settings, Pricer(), provider="anthropic", model=model, tokens=tokens, agent="a", timestamp=when,
        speed=mods.get("speed"), service_tier=mods.get("service_tier"),
        inference_geo=mods.get("inference_geo"),
    ).cost_usd  # fmt: skip
    estimated = estimate_cost(Pricer(), tokens, model, "anthropic", requests=1, at=when, **mods)
    assert from_logs == recorded == estimated.cost_usd == Decimal(expected)
    if mods:
        assert any("Price correction" in n for n in estimated.notes)


@pytest.mark.anyio
async def test_tools_take_modifiers_as_enums_and_name_a_bad_value(client: Client) -> None:
    ok = await client.call_tool(
        "estimate_cost",
        {"model": "claude-opus-4-6", "input_tokens": 1000, "output_tokens": 10000, "speed": "fast",
         "requests": 1},
    )  # fmt: skip
    assert not ok.is_error
    assert ok.structured_content is not None
    assert Decimal(str(ok.structured_content["cost_usd"])) == Decimal("1.53")  # (1k x $5 + 10k x $25) x 6
    bad = await client.call_tool(
        "record_usage",
        {"provider": "anthropic", "model": "claude-opus-4-6", "input_tokens": 1, "output_tokens": 1,
         "agent": "a", "speed": "turbo"},
    )  # fmt: skip
    assert bad.is_error
    assert "fast" in str(bad.content)


def test_an_unpublished_priority_price_is_an_assumption_not_a_silent_standard_price() -> None:
    priced = Pricer().price(
        Tokens(input=1_000_000), "claude-opus-4-6", "anthropic", datetime(2026, 11, 20, tzinfo=UTC),
        service_tier="priority",
    )  # fmt: skip
    assert isinstance(priced, Price)
    assert priced.total == Decimal(5)
    assert priced.assumptions == (
        "service_tier 'priority': Anthropic Priority Tier has no list price (it is billed under a "
        "commitment); priced at standard rates",
    )


def test_genai_prices_own_variants_win_over_corrections() -> None:
    # gpt-5 has a flex price in genai-prices ($0.625 / $5): no correction is applied on top.
    priced = Pricer().price(
        Tokens(input=1_000_000, output=1_000_000), "gpt-5", "openai", datetime(2026, 11, 20, tzinfo=UTC),
        service_tier="flex",
    )  # fmt: skip
    assert isinstance(priced, Price)
    assert priced.total == Decimal("5.625")
    assert priced.corrections == ()


# --- ledgers priced before the corrections -------------------------------------------------------


def test_a_full_rescan_reprices_calls_already_stored(home: Path, conn: Conn, settings: Settings) -> None:
    write_raw(home, FAST_LINE)
    ingest(conn, settings, Pricer())
    with conn:
        conn.execute("UPDATE usage_events SET cost_nanos = 305000000")  # as stored before fast mode
    ingest(conn, settings, Pricer(), full=True)
    assert costs(conn) == {"msg_1": Decimal("1.83")}


@pytest.mark.sqlite_only  # rebuilds the previous release's SQLite schema by hand
def test_upgrading_a_ledger_rereads_the_logs_and_reprices_them(home: Path, settings: Settings) -> None:
    from cost_mcp.store.connection import connect_sqlite

    write_raw(home, FAST_LINE, SONNET4_LINE)
    old = connect_sqlite(settings.db)
    ingest(old, settings, Pricer())
    # The ledger as the previous release left it: no modifier columns, both calls at genai-prices' price.
    # That release had no push marks either (m018, whose trigger names the columns dropped here).
    old.executescript(
        """
        DROP TRIGGER usage_events_changed;
        DROP TRIGGER usage_events_top_deleted;
        DROP INDEX usage_events_change_seq;
        ALTER TABLE usage_events DROP COLUMN change_seq;
        DROP TABLE push_marks;
        DELETE FROM _migrations WHERE name = 'm020_push_marks';
        DROP INDEX usage_events_price_note;
        ALTER TABLE usage_events DROP COLUMN service_tier;
        ALTER TABLE usage_events DROP COLUMN inference_geo;
        ALTER TABLE usage_events DROP COLUMN price_note;
        UPDATE usage_events SET cost_nanos = CASE message_id WHEN 'msg_1' THEN 305000000 ELSE 123780000 END;
        DELETE FROM _migrations WHERE name = 'm013_usage_price_modifiers';
        """
    )
    old.close()
    conn = connect(settings.db)  # applies the migration
    try:
        assert ingest(conn, settings, Pricer()).lines_read == 2  # nothing changed on disk, read again
        assert costs(conn) == {"msg_1": Decimal("1.83"), "msg_2": Decimal("0.23256")}
    finally:
        conn.close()


def test_record_usage_says_what_it_assumed_and_spend_repeats_it(conn: Conn, settings: Settings) -> None:
    when = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    result = record_usage(
        conn, settings, Pricer(), provider="anthropic", model="claude-opus-4-6",
        tokens=Tokens(input=1_000_000), agent="a", timestamp=when, service_tier="priority",
    )  # fmt: skip
    assert result.cost_usd == Decimal(5)  # standard rates, as the warning says
    note = (
        "service_tier 'priority': Anthropic Priority Tier has no list price (it is billed under a "
        "commitment); priced at standard rates"
    )
    assert f"priced with an assumption: {note}" in result.warnings
    day = when.date().isoformat()
    spend = get_spend(conn, settings, resolve(settings, None, day, day, "UTC"), [], Filters())
    assert f"1 call priced with an assumption: {note}" in spend.warnings
    assert OUTPUT_LOWER_BOUND not in spend.warnings  # no Claude Code log in this result
