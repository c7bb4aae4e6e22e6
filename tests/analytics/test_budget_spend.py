"""Budgets read the ledger once for all of them, and count exactly what get_spend counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from mcp import Client

from cost_mcp.analytics import agents, budgets, spend, subscriptions
from cost_mcp.analytics.spend import Filters, get_spend
from cost_mcp.config import Settings, load_settings
from cost_mcp.models import BudgetScope
from cost_mcp.periods import Period, local_date, to_ms
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.reported import record_call
from cost_mcp.store import write_transaction
from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range
from cost_mcp.store.connection import Conn

SET_ON = date(2026, 12, 1)
"""The day a subscription is set or removed on here (the configured timezone's, as callers pass it)."""

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def call(conn: Conn, when: datetime, *, provider: str, model: str, agent: str, project: str) -> None:
    record_call(
        conn,
        Pricer(),
        provider=provider,
        model=model,
        tokens=Tokens(input=400_000, output=20_000),
        agent=agent,
        project=project,
        timestamp=when,
        now=when,
    )


@pytest.fixture
def ledger(conn: Conn) -> Conn:
    """Local calls on several days, agents, projects and providers; a billed OpenAI day that makes
    the local OpenAI calls of that day attribution; a seat fee."""
    for days_ago in range(0, 40, 3):
        when = NOW - timedelta(days=days_ago, hours=days_ago % 5)
        call(conn, when, provider="openai", model="gpt-4o", agent="bot", project="/src/app")
        call(conn, when, provider="anthropic", model="claude-sonnet-4-5", agent="helper", project="/src/web")
        call(conn, when, provider="openai", model="gpt-4o-mini", agent="helper", project="/src/app")
    billed_day = to_ms(datetime(2026, 11, 12, tzinfo=UTC))
    with write_transaction(conn):
        replace_range(
            conn,
            "openai",
            "cost",
            billed_day,
            billed_day + DAY_MS,
            [
                Bucket(billed_day, billed_day + DAY_MS, cost_nanos=7_000_000_000, project="proj_a"),
                Bucket(billed_day, billed_day + DAY_MS, cost_nanos=1_500_000_000, workspace="ws_b"),
            ],
            now=NOW,
        )
    subscriptions.set_subscription(conn, "seat", "cursor", Decimal(40), "monthly", "2026-10-01", today=SET_ON)
    return conn


SCOPES = [
    BudgetScope(),
    BudgetScope(providers=["openai"]),
    BudgetScope(providers=["anthropic"], models=["claude-sonnet-4-5"]),
    BudgetScope(agents=["helper"]),
    BudgetScope(agents=["bot"], providers=["openai"]),
    BudgetScope(projects=["app"]),
    BudgetScope(projects=["proj_a"]),
    BudgetScope(projects=["ws_b"]),
    BudgetScope(sources=["record_usage"]),
    BudgetScope(sources=["openai-costs"]),
    BudgetScope(sources=["subscription"], basis=["subscription"]),
    BudgetScope(basis=["billed"]),
    BudgetScope(basis=["billed", "estimated", "subscription"]),
    BudgetScope(providers=["cursor"], basis=["subscription"]),
    BudgetScope(models=["gpt-4o"], basis=["subscription", "estimated"]),
]


@pytest.mark.parametrize("with_projects", [True, False], ids=["some scoped by project", "none"])
@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_every_budget_counts_what_get_spend_reports_for_its_scope(
    ledger: Conn, settings: Settings, period: str, with_projects: bool
) -> None:
    # Without a project scope the one read does not group by project: both ways must agree.
    scopes = [s for s in SCOPES if with_projects or not s.projects]
    made = [
        budgets.set_budget(ledger, f"b{i}", Decimal(100), period, scope)  # type: ignore[arg-type]
        for i, scope in enumerate(scopes)
    ]
    states = budgets.states_of(ledger, settings, made, NOW)
    today = local_date(to_ms(NOW), settings.tz)
    nonzero = 0
    for budget, state in zip(made, states, strict=True):
        p = budgets.budget_period(budget, settings, NOW)
        alone = get_spend(
            ledger, settings, p, (), budgets._filters(budget.scope), take_alerts=False, today=today
        )
        assert state.spent_usd == alone.total_usd, budget.scope
        assert state.unpriced_requests == sum(r.unpriced_requests for r in alone.rows)
        nonzero += state.spent_usd > 0
    assert nonzero >= len(scopes) // 2  # the ledger gives most scopes something to count


def test_record_usage_with_five_budgets_reads_spend_once(
    ledger: Conn, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i, period in enumerate(["day", "week", "month", "day", "month"]):
        scope = BudgetScope(agents=["bot"]) if i % 2 else BudgetScope(providers=["openai"])
        budgets.set_budget(ledger, f"cap{i}", Decimal("0.01"), period, scope)  # type: ignore[arg-type]
    reads: list[str] = []
    read_layers = spend.read_layers

    def counting(*args: object, **kwargs: object) -> spend.Layers:
        reads.append("read")
        return read_layers(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(spend, "read_layers", counting)
    result = agents.record_usage(
        ledger,
        settings,
        Pricer(),
        provider="openai",
        model="gpt-4o",
        tokens=Tokens(input=1_000_000),
        agent="bot",
        request_id="req-once",
    )
    assert len(result.budgets) == 5
    assert len(reads) == 1
    # The one read still fired every crossed threshold: $0.01 budgets are all over.
    assert len(result.alerts) == 5  # one per budget: 100%, covering the 50% and 80% crossed with it


def test_spend_totals_refuses_what_it_cannot_filter(ledger: Conn, settings: Settings) -> None:
    p = budgets.budget_period(
        budgets.set_budget(ledger, "x", Decimal(1), "day", BudgetScope()), settings, NOW
    )
    with pytest.raises(ValueError, match="budget scope"):
        spend.spend_totals(ledger, settings, [(p, Filters(sessions=["s1"]))], NOW.date())


@pytest.mark.anyio
async def test_record_usage_over_mcp_reads_spend_once_for_five_budgets(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i, period in enumerate(["day", "week", "month", "day", "month"]):
        made = await client.call_tool(
            "set_budget", {"name": f"cap{i}", "amount_usd": 100, "period": period, "agents": ["bot"]}
        )
        assert made.is_error is False
    reads: list[str] = []
    read_layers = spend.read_layers

    def counting(*args: object, **kwargs: object) -> spend.Layers:
        reads.append("read")
        return read_layers(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(spend, "read_layers", counting)
    result = await client.call_tool(
        "record_usage",
        {
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 400_000,
            "output_tokens": 0,
            "agent": "bot",
        },
    )
    assert result.structured_content is not None
    assert [b["remaining_after_usd"] for b in result.structured_content["budgets"]] == [99] * 5
    assert reads == ["read"]


def test_budgets_that_ask_the_same_of_the_missing_bills_share_one_answer(
    ledger: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenAI's key set and its bill never synced: each budget that counts it lacks it, as before,
    while the missing bills are asked once per period and providers, not once per budget (three
    budgets of this month over every provider ask what all the budgets together ask)."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-" + "a" * 40)
    settings = load_settings()
    for name, period, scope in (
        ("all", "month", BudgetScope()),
        ("all-too", "month", BudgetScope()),
        ("all-again", "month", BudgetScope(models=["gpt-4o"])),
        ("openai", "month", BudgetScope(providers=["openai"])),
        ("openai-today", "day", BudgetScope(providers=["openai"])),
        ("anthropic", "month", BudgetScope(providers=["anthropic"])),
        ("local", "month", BudgetScope(agents=["bot"])),
    ):
        budgets.set_budget(ledger, name, Decimal(100), period, scope)  # type: ignore[arg-type]
    asked: list[tuple[str, list[str] | None]] = []
    partials = spend.missing_bill_partials

    def counting(
        conn: Conn, settings: Settings, p: Period, providers: list[str] | None, **kw: bool
    ) -> list[str]:
        asked.append((p.name, providers))
        return partials(conn, settings, p, providers, **kw)

    monkeypatch.setattr(budgets, "missing_bill_partials", counting)
    result = budgets.budget_status(ledger, settings, now=NOW, take_alerts=False)
    lacking = {s.budget.name: s.lacking for s in result.budgets}
    bill = [budgets.BILL_MISSING]
    assert lacking == {
        "all": bill,
        "all-too": bill,
        "all-again": bill,
        "openai": bill,
        "openai-today": bill,
        "anthropic": [],
        "local": [],
    }
    assert [w for w in result.warnings if w.startswith("PARTIAL: openai")], result.warnings
    # All of them and the three unscoped monthly ones, OpenAI's month, its day, Anthropic's month:
    # four questions for seven budgets (each budget asked its own, and all of them one more, before).
    assert sorted(asked, key=str) == sorted(
        [("month", None), ("month", ["openai"]), ("day", ["openai"]), ("month", ["anthropic"])], key=str
    ), asked
