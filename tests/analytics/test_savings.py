"""savings_report and compare_periods over constructed ledgers, every saving worked out by hand.

List prices used (USD per million tokens, genai-prices): Opus 4.1 input 15, output 75; Haiku 4.5
input 1, output 5; Sonnet 4.5 input 3, cache read 0.30, 5-minute write 3.75, 1-hour write 6,
output 15; GPT-5 input 1.25, output 10.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cost_mcp import sync
from cost_mcp.analytics.savings import compare_periods, is_short_answer, savings_report
from cost_mcp.analytics.spend import get_spend, resolve
from cost_mcp.config import Settings, load_settings, load_settings_leniently, parse_substitutes
from cost_mcp.errors import InvalidInputError
from cost_mcp.models import SavingsReport
from cost_mcp.pricing import Pricer, Tokens, load_overrides
from cost_mcp.sources.reported import record_call
from cost_mcp.store.connection import Conn
from tests.sources.fake_providers import OPENAI_KEY, FakeOpenAI, Router

NOW = datetime(2026, 11, 20, tzinfo=UTC)
WEEK = ("2026-11-09", "2026-11-15")


def call(
    conn: Conn,
    at: str,
    model: str,
    agent: str,
    *,
    provider: str = "anthropic",
    session: str | None = None,
    project: str | None = None,
    pricer: Pricer | None = None,
    speed: str | None = None,
    **tokens: int,
) -> None:
    """Record one call the way an agent would (record_usage), at an ISO time (UTC)."""
    record_call(
        conn,
        pricer or Pricer(),
        provider=provider,
        model=model,
        tokens=Tokens(**tokens),
        agent=agent,
        session=session,
        project=project,
        timestamp=datetime.fromisoformat(at).replace(tzinfo=UTC),
        now=NOW,
        speed=speed,
    )


def report(conn: Conn, settings: Settings, group_by: list[str] | None = None) -> SavingsReport:
    p = resolve(settings, None, *WEEK, None)
    return savings_report(conn, settings, Pricer(), p, group_by)


def test_a_session_stored_under_its_path_and_its_slug_is_one_session(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claude Code's lines with ``"cwd": null`` are stored under the folder's slug: the savings
    report listed such a session twice in its top sessions (once under the path, once under the
    slug) and its model mix split the folder into two rows. Both now name it once, by its path."""
    monkeypatch.setenv("COST_MCP_SUBSTITUTES", "claude-opus-4-1=claude-haiku-4-5")
    settings = load_settings()
    for i, project in enumerate(["/home/dev/gateway", "-home-dev-gateway"] * 2):
        call(
            conn,
            f"2026-11-10T10:{i}0:00",
            "claude-opus-4-1",
            "router",
            session="r1",
            project=project,
            input=20_000,
            output=150,
        )
    mix = report(conn, settings).model_mix
    assert [(s.session, s.project, s.calls) for s in mix.top_sessions] == [("r1", "/home/dev/gateway", 4)]
    assert [(r.group["project"], r.calls) for r in mix.rows] == [("/home/dev/gateway", 4)]


def test_short_answer_rule() -> None:
    assert is_short_answer(Tokens(input=20_000, output=150))
    assert is_short_answer(Tokens(input=100, cache_read=9_900, output=1_000))
    assert not is_short_answer(Tokens(input=9_999, output=1_000))  # input under 10x output
    assert not is_short_answer(Tokens(input=200_000, output=1_001))  # more than 1,000 out
    assert not is_short_answer(Tokens())


def test_opus_heavy_router_moved_to_its_substitute_saves_exactly(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_SUBSTITUTES", "claude-opus-4-1=claude-haiku-4-5")
    settings = load_settings()
    # Four short answers (20k in, 150 out) and one long answer (2k in, 4k out), 10 minutes apart.
    for i in range(4):
        call(
            conn,
            f"2026-11-10T10:{i}0:00",
            "claude-opus-4-1",
            "router",
            session="r1",
            project="gateway",
            input=20_000,
            output=150,
        )
    call(
        conn,
        "2026-11-10T10:40:00",
        "claude-opus-4-1",
        "router",
        session="r1",
        project="gateway",
        input=2_000,
        output=4_000,
    )
    result = report(conn, settings)
    mix = result.model_mix
    # Short call: Opus 0.3 + 0.01125 = 0.31125; Haiku 0.02 + 0.00075 = 0.02075; saves 0.2905, x4.
    assert mix.saving_usd == Decimal("1.162")
    # Long call: Opus 0.03 + 0.3 = 0.33; Haiku 0.002 + 0.02 = 0.022; saves 0.308 more.
    assert mix.all_calls_saving_usd == Decimal("1.47")
    assert (mix.calls, mix.short_answer_calls) == (5, 4)
    assert result.cost_usd == Decimal("1.575")
    [row] = mix.rows
    assert row.group == {"agent": "router", "project": "gateway", "model": "claude-opus-4-1"}
    assert (row.calls, row.short_answer_calls, row.target) == (5, 4, "claude-haiku-4-5")
    assert row.short_answer_saving_usd == Decimal("1.162")
    [model] = mix.models
    sub = next(c for c in model.candidates if c.model == "claude-haiku-4-5")
    assert sub.origin == "substitute"
    assert sub.cost_usd == Decimal("0.105")
    # Cheaper Anthropic models are listed beside it, each cheaper overall than the calls were.
    same = [c for c in model.candidates if c.origin == "same provider"]
    assert same and all(c.cost_usd < model.cost_usd for c in same)
    assert [s.session for s in mix.top_sessions] == ["r1"]
    assert mix.top_sessions[0].saving_usd == Decimal("1.162")
    assert any("quality" in a for a in mix.assumptions)
    # Interactive daytime calls with a session every 10 minutes are no batch candidate.
    assert result.batch.rows == [] and result.batch.agents_checked == 1


def test_without_substitutes_the_target_is_the_cheapest_model_of_the_provider(
    conn: Conn, settings: Settings
) -> None:
    call(conn, "2026-11-10T10:00:00", "claude-opus-4-1", "router", input=20_000, output=150)
    mix = report(conn, settings).model_mix
    [model] = mix.models
    assert model.candidates and all(c.origin == "same provider" for c in model.candidates)
    cheapest = min(model.candidates, key=lambda c: c.cost_usd)
    assert model.target == cheapest.model
    assert mix.saving_usd == cheapest.short_answer_saving_usd == Decimal("0.31125") - cheapest.cost_usd


def test_repeated_50k_prefix_without_cache_reads(conn: Conn, settings: Settings) -> None:
    # Project "docs" never reads the cache: 4 calls a minute apart each send 50k uncached tokens.
    for i in range(4):
        call(
            conn,
            f"2026-11-11T09:0{i}:00",
            "claude-sonnet-4-5",
            "summarizer",
            session="d1",
            project="docs",
            input=50_000,
            output=500,
        )
    # The same size an hour later is not a repeat (past 5 minutes); small calls never are.
    call(
        conn,
        "2026-11-11T10:30:00",
        "claude-sonnet-4-5",
        "summarizer",
        session="d1",
        project="docs",
        input=50_000,
        output=500,
    )
    call(conn, "2026-11-11T12:00:00", "claude-sonnet-4-5", "chat", session="c1", project="docs", input=9_000)
    call(conn, "2026-11-11T12:01:00", "claude-sonnet-4-5", "chat", session="c1", project="docs", input=9_000)
    caching = report(conn, settings).caching
    # Calls 2-4 read 50k at 0.30 instead of 3.00: 0.135 each; call 1 writes it once at 3.75: 0.0375 more.
    assert caching.prefix_saving_usd == Decimal("0.3675")
    assert caching.saving_usd == Decimal("0.3675")
    assert caching.unneeded_1h_saving_usd == 0
    top = caching.rows[0]
    assert top.group == {"agent": "summarizer", "project": "docs"}
    assert (top.prefix_candidate_calls, top.prefix_tokens) == (3, 150_000)
    assert top.cache_share_percent == 0.0
    assert top.cache_read_saved_usd == 0 and top.cache_write_premium_usd == 0
    chat = caching.rows[1]
    assert chat.group == {"agent": "chat", "project": "docs"}
    assert chat.prefix_candidate_calls == 0
    assert [(s.session, s.calls, s.saving_usd) for s in caching.top_sessions] == [
        ("d1", 3, Decimal("0.3675"))
    ]


def test_cache_share_and_what_writes_cost_against_what_reads_saved(conn: Conn, settings: Settings) -> None:
    call(
        conn,
        "2026-11-11T09:00:00",
        "claude-sonnet-4-5",
        "coder",
        session="k",
        project="app",
        input=1_000,
        cache_write_5m=10_000,
    )
    call(
        conn,
        "2026-11-11T09:01:00",
        "claude-sonnet-4-5",
        "coder",
        session="k",
        project="app",
        input=1_000,
        cache_read=10_000,
    )
    caching = report(conn, settings).caching
    [row] = caching.rows
    assert row.input_tokens_total == 22_000 and row.cache_read_tokens == 10_000
    assert row.cache_share_percent == 45.5
    assert row.cache_write_premium_usd == Decimal("0.0075")  # 10k x (3.75 - 3)
    assert row.cache_read_saved_usd == Decimal("0.027")  # 10k x (3 - 0.30)
    assert row.net_cache_saving_usd == Decimal("0.0195")
    assert caching.saving_usd == 0


def test_one_hour_writes_never_read_within_the_hour(conn: Conn, settings: Settings) -> None:
    def review(at: str, session: str, write_1h: int = 0, read: int = 0) -> None:
        call(
            conn,
            f"2026-11-12T{at}:00",
            "claude-sonnet-4-5",
            "reviewer",
            session=session,
            project="wiki",
            input=100,
            output=100,
            cache_write_1h=write_1h,
            cache_read=read,
        )

    # h1: written for an hour, never read. h3: read 3 minutes later only (a 5-minute entry lives).
    review("10:00", "h1", write_1h=20_000)
    review("10:00", "h3", write_1h=20_000)
    review("10:03", "h3", read=20_000)
    # h2: read 30 minutes later, which only the 1-hour write survives: needed.
    review("10:00", "h2", write_1h=20_000)
    review("10:30", "h2", read=20_000)
    caching = report(conn, settings).caching
    # Each unneeded write: 20k x (6 - 3.75) = 0.045.
    assert caching.unneeded_1h_saving_usd == Decimal("0.09")
    [row] = caching.rows
    assert (row.unneeded_1h_writes, row.unneeded_1h_tokens) == (2, 40_000)
    assert sorted(s.session for s in caching.top_sessions) == ["h1", "h3"]
    assert all(s.saving_usd == Decimal("0.045") for s in caching.top_sessions)


def test_nightly_agent_priced_at_the_batch_rate(conn: Conn, settings: Settings) -> None:
    # One run a night at 02:00 UTC for five nights: 10k in + 2k out on GPT-5 = 0.0125 + 0.02 = 0.0325.
    for day in range(9, 14):
        call(
            conn,
            f"2026-11-{day:02}T02:00:00",
            "gpt-5",
            "nightly-digest",
            provider="openai",
            session=f"n{day}",
            input=10_000,
            output=2_000,
        )
    # A daytime agent with sessions and calls a minute apart stays interactive.
    for i in range(5):
        call(conn, f"2026-11-10T14:0{i}:00", "gpt-5", "helpdesk", provider="openai", session="x", input=100)
    batch = report(conn, settings).batch
    assert batch.agents_checked == 2
    [row] = batch.rows
    assert row.agent == "nightly-digest"
    assert row.reasons == ["night", "long gaps"]
    assert row.night_share_percent == 100.0 and row.median_gap_minutes == 1440.0
    assert row.cost_usd == Decimal("0.1625")
    assert row.saving_usd == Decimal("0.08125") == batch.saving_usd
    assert row.batch_cost_usd == Decimal("0.08125")
    assert len(batch.top_sessions) == 5 and all(
        s.saving_usd == Decimal("0.01625") for s in batch.top_sessions
    )
    assert any("platform.openai.com/docs/guides/batch" in a for a in batch.assumptions)


def test_sessionless_agent_is_a_batch_candidate(conn: Conn, settings: Settings) -> None:
    for i in range(5):
        call(conn, f"2026-11-10T14:0{i}:00", "claude-sonnet-4-5", "etl", input=1_000)  # $0.003 each
    [row] = report(conn, settings).batch.rows
    assert row.reasons == ["no session"]
    assert row.saving_usd == Decimal("0.0075")
    assert row.sessions == 0


def test_rows_are_bounded_with_a_count_and_the_saving_of_the_rest(conn: Conn, settings: Settings) -> None:
    for i in range(13):
        call(conn, "2026-11-10T10:00:00", "claude-opus-4-1", f"agent{i:02}", input=20_000, output=150)
    mix = report(conn, settings).model_mix
    assert len(mix.rows) == 10 and mix.more_rows == 3
    assert mix.more_rows_saving_usd == 3 * mix.rows[0].short_answer_saving_usd
    assert sum((r.short_answer_saving_usd for r in mix.rows), mix.more_rows_saving_usd) == mix.saving_usd


def test_group_by_and_unpriced_calls(conn: Conn, settings: Settings) -> None:
    call(conn, "2026-11-10T10:00:00", "claude-opus-4-1", "a", project="p", input=20_000, output=150)
    call(conn, "2026-11-10T10:00:00", "my-own-model", "a", project="p", input=20_000, output=150)
    result = report(conn, settings, ["project"])
    assert result.unpriced_calls == 1 and result.calls == 1
    # The one wording of an unknown price, naming the fix (the file prices calls already stored).
    [note] = [w for w in result.warnings if "my-own-model" in w]
    assert note.startswith("my-own-model: 1 call(s) have no known price and are not in this report; ")
    assert str(settings.prices_file) in note and "priced with it from the next answer on" in note
    p = resolve(settings, None, *WEEK, None)
    compared = compare_periods(conn, settings, Pricer(), p, p)
    assert sum("are not in the before side" in w for w in compared.warnings) == 1
    assert sum("are not in the after side" in w for w in compared.warnings) == 1
    assert [r.group for r in result.model_mix.rows] == [{"project": "p"}]
    assert [r.group for r in result.caching.rows] == [{"project": "p"}]


def test_substitutes_setting_is_parsed_or_refused_with_the_form(tmp_path: Path) -> None:
    assert parse_substitutes("claude-opus-4-1=claude-sonnet-4-5|claude-haiku-4-5, *=gpt-5-mini") == [
        ("claude-opus-4-1", "claude-sonnet-4-5"),
        ("claude-opus-4-1", "claude-haiku-4-5"),
        ("*", "gpt-5-mini"),
    ]
    with pytest.raises(ValueError, match="MODEL=SUBSTITUTE"):
        parse_substitutes("claude-opus-4-1")
    # A bad value is one problem line naming the variable; the server goes on without substitutes.
    settings, problems = load_settings_leniently(
        {"COST_MCP_SUBSTITUTES": "claude-opus-4-1"}, tmp_path / "env"
    )
    assert settings.substitutes == ""
    assert problems and "COST_MCP_SUBSTITUTES" in problems[0] and "MODEL=SUBSTITUTE" in problems[0]


def test_a_substitute_of_another_provider_is_priced_under_its_own(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_SUBSTITUTES", "claude-opus-4-1=gpt-5,claude-opus-4-1=no-such-model")
    settings = load_settings()
    call(conn, "2026-11-10T10:00:00", "claude-opus-4-1", "a", input=20_000, output=150)
    result = report(conn, settings)
    [model] = result.model_mix.models
    gpt = next(c for c in model.candidates if c.model == "gpt-5")
    assert gpt.cost_usd == Decimal("0.0265")  # 20k x 1.25 + 150 x 10
    assert model.target == "gpt-5"
    assert any("no-such-model" in w for w in result.warnings)


# --- compare_periods --------------------------------------------------------------------------


def test_before_after_difference_decomposes_exactly(conn: Conn, settings: Settings) -> None:
    # Before: Sonnet 2 x (10k in, 1k out) = 2 x 0.045; Opus 2 x (10k in, 1k out) = 2 x 0.225. Total 0.54.
    for d in (2, 3):
        call(conn, f"2026-11-0{d}T10:00:00", "claude-sonnet-4-5", "a", input=10_000, output=1_000)
        call(conn, f"2026-11-0{d}T11:00:00", "claude-opus-4-1", "a", input=10_000, output=1_000)
    # After: Sonnet 5 x (10k in + 10k cache read, 1k out) = 5 x 0.048; Opus 1 x 0.225. Total 0.465.
    for d in range(9, 14):
        call(
            conn,
            f"2026-11-{d:02}T10:00:00",
            "claude-sonnet-4-5",
            "a",
            input=10_000,
            cache_read=10_000,
            output=1_000,
        )
    call(conn, "2026-11-09T11:00:00", "claude-opus-4-1", "a", input=10_000, output=1_000)
    before = resolve(settings, None, "2026-11-02", "2026-11-08", None)
    after = resolve(settings, None, *WEEK, None)
    result = compare_periods(conn, settings, Pricer(), before, after)
    assert result.before.cost_usd == Decimal("0.54") and result.after.cost_usd == Decimal("0.465")
    assert result.change_usd == Decimal("-0.075")
    parts = {p.part: p.usd for p in result.parts}
    assert parts == {
        "volume": Decimal("0.27"),  # 0.54 x 6/4 - 0.54
        "mix": Decimal("-0.36"),  # 5 x 0.045 + 1 x 0.225 = 0.45, against 0.81
        "tokens_per_call": Decimal("0.15"),  # Sonnet calls of 20k uncached: 5 x 0.075 + 0.225 = 0.6
        "caching": Decimal("-0.135"),  # half of that input read from cache: 5 x 0.048 + 0.225 = 0.465
        "price": Decimal(0),  # list prices did not change
    }
    assert sum(parts.values()) == result.change_usd
    assert result.before.cost_per_call_usd == Decimal("0.135")
    assert result.after.cost_per_call_usd == Decimal("0.0775")
    assert result.before.cache_share_percent == 0.0
    assert result.after.cache_share_percent == 45.5  # 50k of 110k input
    assert [m.model for m in result.after.models] == ["claude-sonnet-4-5", "claude-opus-4-1"]
    assert result.after.models[0].call_share_percent == 83.3
    opus = next(r for r in result.rows if r.group == {"model": "claude-opus-4-1"})
    assert (opus.before_calls, opus.after_calls, opus.change_usd) == (2, 1, Decimal("-0.225"))


def test_a_period_compared_with_itself_has_no_part_of_any_change(conn: Conn, settings: Settings) -> None:
    """`compare` of a period with itself split its $0 change into +$1.64 of tokens_per_call and
    -$1.64 of caching (over bench/gen_claude_logs.py's ledger): each call was priced with its model's
    cache shares pooled over fast calls (6x the price) and long-context ones (past 200k input, a
    dearer tier) alike, so the calls that cost more per token were given other calls' shares."""
    # Opus 4.6: a fast call with no cache and a standard one reading nearly all from cache.
    call(conn, "2026-11-10T10:00:00", "claude-opus-4-6", "a", speed="fast", input=40_000, output=500)
    call(conn, "2026-11-10T11:00:00", "claude-opus-4-6", "a", input=1_000, cache_read=90_000, output=500)
    # Sonnet 4.5: a long-context call mostly uncached and a short one mostly written to cache.
    call(conn, "2026-11-11T10:00:00", "claude-sonnet-4-5", "a", input=210_000, cache_read=5_000, output=900)
    call(conn, "2026-11-11T11:00:00", "claude-sonnet-4-5", "a", input=2_000, cache_write_1h=30_000, output=90)
    week = resolve(settings, None, *WEEK, None)
    result = compare_periods(conn, settings, Pricer(), week, week, ["model"])
    assert result.before.cost_usd == result.after.cost_usd > 0
    assert {p.part: p.usd for p in result.parts} == dict.fromkeys(
        ("volume", "mix", "tokens_per_call", "caching", "price"), Decimal(0)
    )
    assert result.change_usd == 0 and all(r.change_usd == 0 for r in result.rows)


@pytest.mark.parametrize("seed", range(5))
def test_parts_always_sum_to_the_change(conn: Conn, settings: Settings, seed: int) -> None:
    rng = random.Random(seed)
    models = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"]
    start = datetime(2026, 11, 2, tzinfo=UTC)
    for i in range(rng.randint(0, 40)):
        at = start + timedelta(minutes=rng.randint(0, 14 * 24 * 60 - 1))
        call(
            conn,
            at.isoformat()[:19],
            rng.choice(models[: 2 if at.day < 9 else 3]),
            f"a{i % 3}",
            input=rng.randint(0, 300_000),
            output=rng.randint(0, 9_000),
            cache_read=rng.randint(0, 90_000),
            cache_write_5m=rng.randint(0, 20_000),
            cache_write_1h=rng.randint(0, 7_000),
        )
    before = resolve(settings, None, "2026-11-02", "2026-11-08", None)
    after = resolve(settings, None, *WEEK, None)
    result = compare_periods(conn, settings, Pricer(), before, after, ["agent"])
    assert sum((p.usd for p in result.parts), Decimal(0)) == result.change_usd
    assert result.change_usd == result.after.cost_usd - result.before.cost_usd


def test_a_price_change_between_the_periods_is_the_price_part(
    conn: Conn, settings: Settings, tmp_path: Path
) -> None:
    old = tmp_path / "old-prices.toml"
    old.write_text('[[price]]\nmodel = "claude-opus-4-1"\ninput_mtok = "10"\noutput_mtok = "50"\n')
    # The same call in both weeks: 0.1 + 0.05 = 0.15 at the old price, 0.15 + 0.075 = 0.225 at list.
    call(conn, "2026-11-03T10:00:00", "claude-opus-4-1", "a", input=10_000, output=1_000,
         pricer=Pricer(load_overrides(old)))  # fmt: skip
    call(conn, "2026-11-10T10:00:00", "claude-opus-4-1", "a", input=10_000, output=1_000)
    before = resolve(settings, None, "2026-11-02", "2026-11-08", None)
    after = resolve(settings, None, *WEEK, None)
    result = compare_periods(conn, settings, Pricer(), before, after)
    assert result.change_usd == Decimal("0.075")
    assert {p.part: p.usd for p in result.parts} == {
        "volume": 0,
        "mix": 0,
        "tokens_per_call": 0,
        "caching": 0,
        "price": Decimal("0.075"),
    }


def test_an_empty_before_period_is_all_volume(conn: Conn, settings: Settings) -> None:
    call(conn, "2026-11-10T10:00:00", "claude-opus-4-1", "a", input=10_000, output=1_000)
    before = resolve(settings, None, "2026-11-02", "2026-11-08", None)
    after = resolve(settings, None, *WEEK, None)
    result = compare_periods(conn, settings, Pricer(), before, after)
    assert [(p.part, p.usd) for p in result.parts if p.usd] == [("volume", Decimal("0.225"))]
    assert result.change_percent is None and result.before.cost_per_call_usd is None
    assert any("before period has no calls in the ledger" in w for w in result.warnings)


def test_a_period_with_too_many_calls_is_refused_with_a_shorter_one_to_try(
    conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cost_mcp.analytics import savings

    for i in range(3):
        call(conn, f"2026-11-10T10:0{i}:00", "claude-opus-4-1", "a", input=10)
    monkeypatch.setattr(savings, "MAX_CALLS", 2)
    with pytest.raises(InvalidInputError, match=r"holds 3 calls.*pick a shorter period"):
        report(conn, settings)
    monkeypatch.setattr(savings, "MAX_CALLS", 3)
    assert report(conn, settings).calls == 3


def test_a_logged_cost_is_reconciled_with_get_spend(home: Path, conn: Conn, settings: Settings) -> None:
    """A log line that reported its own cost (old Claude Code's costUSD) counts at that cost in
    get_spend (cost mode auto); savings and comparisons price it at list price, and say by how much
    that differs, so the two totals can be put side by side."""
    from cost_mcp.analytics.spend import get_spend
    from cost_mcp.sources.claude_code import ingest
    from tests.sources.claude_logs import assistant, session_file, write

    old = assistant("msg_old", "req_old", "2026-11-10T09:00:00.000Z", input=100_000, output=0)
    old["costUSD"] = 0.5  # list price: 100k x $3 per MTok = $0.30
    write(
        session_file(home / "claude", "s1"),
        old,
        assistant("msg_new", "req_new", "2026-11-11T09:00:00.000Z", input=100_000, output=0),
    )
    ingest(conn, settings, Pricer())
    p = resolve(settings, None, *WEEK, None)
    spent = get_spend(conn, settings, p, [], take_alerts=False).total_usd
    result = report(conn, settings)
    assert (spent, result.cost_usd) == (Decimal("0.8"), Decimal("0.6"))
    [note] = [w for w in result.warnings if "reported" in w]
    assert note.startswith("1 call(s) carry the cost their log reported ($0.50)")
    assert "at list price ($0.30)" in note
    later = resolve(settings, None, "2026-11-16", "2026-11-22", None)
    compared = compare_periods(conn, settings, Pricer(), p, later)
    assert [w for w in compared.warnings if "reported" in w] == ["before: " + note]
    # Priced the way savings price, there is nothing to reconcile.
    calculate = settings.model_copy(update={"cost_mode": "calculate"})
    assert not [w for w in report(conn, calculate).warnings if "reported" in w]


def test_one_model_logged_under_two_ids_is_one_row_that_changed(conn: Conn, settings: Settings) -> None:
    """Claude Code's dated id last week and another agent's dotted id this week are one model: it
    was a row "gone" and a row "new", and the two periods' model lists named it two ways."""
    for d in (2, 3):  # 2 x (10k in, 1k out) of Sonnet 4.5 = 2 x 0.045
        call(
            conn,
            f"2026-11-0{d}T10:00:00",
            "claude-sonnet-4-5-20250929",
            "claude-code",
            input=10_000,
            output=1_000,
        )
    for d in (9, 10, 11):  # bigger calls: 3 x (20k in, 1k out) = 3 x 0.075
        call(conn, f"2026-11-{d:02}T10:00:00", "claude-sonnet-4.5", "opencode", input=20_000, output=1_000)
    call(conn, "2026-11-10T11:00:00", "claude-opus-4-1", "opencode", input=10_000, output=1_000)
    before = resolve(settings, None, "2026-11-02", "2026-11-08", None)
    after = resolve(settings, None, *WEEK, None)
    result = compare_periods(conn, settings, Pricer(), before, after)
    sonnet = next(r for r in result.rows if r.group == {"model": "claude-sonnet-4.5"})
    assert (sonnet.before_calls, sonnet.after_calls) == (2, 3)
    assert (sonnet.before_cost_usd, sonnet.after_cost_usd, sonnet.change_usd) == (
        Decimal("0.09"),
        Decimal("0.225"),
        Decimal("0.135"),
    )
    assert sonnet.model_ids == ["claude-sonnet-4-5-20250929", "claude-sonnet-4.5"]
    assert [r.group["model"] for r in result.rows] == ["claude-opus-4-1", "claude-sonnet-4.5"]
    # Named the same way on both sides (by the id with the most spend over both).
    assert [m.model for m in result.before.models] == ["claude-sonnet-4.5"]
    assert [m.model for m in result.after.models] == ["claude-opus-4-1", "claude-sonnet-4.5"]
    # Sonnet's calls count at before's cost per call in the mix (3 x 0.045 + Opus, new, 0.225 =
    # 0.36 against 4 x 0.045 = 0.18), and their bigger size is tokens per call (3 x 0.03), not
    # mix: counted as a new model the whole 0.225 of them was mix.
    parts = {p.part: p.usd for p in result.parts}
    assert (parts["mix"], parts["tokens_per_call"]) == (Decimal("0.18"), Decimal("0.09"))
    grouped = compare_periods(conn, settings, Pricer(), before, after, ["agent"])
    assert all(r.model_ids is None for r in grouped.rows)


def test_the_model_mix_counts_one_model_logged_under_two_ids_once(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two agents' ids of Opus 4.1 were two models in the mix, each with its own candidates, and a
    substitute listed for one spelling left the other's calls where they were."""
    monkeypatch.setenv("COST_MCP_SUBSTITUTES", "claude-opus-4.1=claude-haiku-4-5")
    settings = load_settings()
    call(conn, "2026-11-10T10:00:00", "claude-opus-4-1-20250805", "claude-code", input=20_000, output=150)
    call(conn, "2026-11-10T10:10:00", "claude-opus-4.1", "opencode", input=20_000, output=150)
    call(conn, "2026-11-10T10:20:00", "claude-opus-4.1", "opencode", input=20_000, output=150)
    mix = report(conn, settings, ["model"]).model_mix
    [model] = mix.models
    assert (model.model, model.calls, model.target) == ("claude-opus-4.1", 3, "claude-haiku-4-5")
    [row] = mix.rows
    assert row.group == {"model": "claude-opus-4.1"} and row.calls == 3
    # Each short call: Opus 0.3 + 0.01125 = 0.31125 against Haiku 0.02 + 0.00075 = 0.02075.
    assert mix.saving_usd == 3 * Decimal("0.2905")


def test_a_comparison_says_its_cost_is_not_the_bill_get_spend_counts(
    conn: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The QA case (h-qaprov2 F4): with OpenAI's bill synced, get_spend said $9.00 for a week whose
    two recorded GPT-5 calls cost $0.0225 at list price, and compare_periods said $0.0225 with no
    warning: "spend fell from $0.02 to $0" read as the period's spend. A side with a bill now says
    what was billed and that the comparison's cost is not that spend; a side without one does not."""
    for d in (10, 11):  # 1k in + 1k out on GPT-5: $0.01125 each
        call(conn, f"2026-11-{d}T10:00:00", "gpt-5", "a", provider="openai", input=1_000, output=1_000)
    bill = {"object": "organization.costs.result", "amount": {"value": "4.50", "currency": "usd"}}
    fake = FakeOpenAI({"/v1/organization/costs": {"2026-11-10": [bill], "2026-11-11": [bill]}})
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
    keyed = load_settings()
    synced = sync.sync_providers(
        conn, keyed, Pricer(), ["openai"], transport=Router(openai=fake).transport(), now=NOW, days=14
    )
    assert all(r.ok for r in synced.sources), synced
    before = resolve(keyed, None, *WEEK, None)
    after = resolve(keyed, None, "2026-11-16", "2026-11-22", None)
    assert get_spend(conn, keyed, before, [], take_alerts=False).total_usd == Decimal(9)
    result = compare_periods(conn, keyed, Pricer(), before, after)
    assert result.before.cost_usd == Decimal("0.0225")
    assert [w for w in result.warnings if "billed" in w] == [
        "before: openai billed $9.00 in this period, which get_spend counts as those days' total; this "
        "comparison prices only the calls recorded locally, at list price, so its cost is not the "
        "period's spend (see method)"
    ]
