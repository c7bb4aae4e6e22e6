"""A budget (or filter) naming a model counts that model's calls under every id the logs gave it:
Claude Code's dated ids, other agents' dotted and provider-prefixed ones; never another model's."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from cost_mcp import launcher
from cost_mcp.money import format_usd
from tests.sources.claude_logs import SONNET, assistant, session_file, write

# Each logged id of Claude Sonnet 4.5 an agent may report, with the provider that served it.
SAME_MODEL = [
    ("anthropic", "claude-sonnet-4-5-20250929"),  # Claude Code's logs
    ("anthropic", "claude-sonnet-4.5"),
    ("openrouter", "anthropic/claude-sonnet-4.5"),
]
OTHER_MODEL = ("anthropic", "claude-sonnet-4-20250514")  # Sonnet 4: a prefix of "claude-sonnet-4-5"


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, stdin: str = ""
) -> str:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert launcher.main(list(args)) == 0
    return capsys.readouterr().out


async def _record(client: Client, provider: str, model: str, request_id: str) -> Decimal:
    result = await client.call_tool(
        "record_usage",
        {"provider": provider, "model": model, "input_tokens": 10_000, "output_tokens": 1000,
         "agent": "bot", "request_id": request_id},
    )  # fmt: skip
    assert result.structured_content is not None
    return Decimal(str(result.structured_content["cost_usd"]))


async def _tool(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    content: dict[str, Any] | None = result.structured_content
    assert result.is_error is False and content is not None
    return content


@pytest.mark.usefixtures("clock")
@pytest.mark.anyio
async def test_a_model_budget_counts_the_models_dated_and_renamed_ids_and_no_other_model(
    client: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA #7: `budget set son 0.01 --model claude-sonnet-4-5 --hard` said "matches nothing" and
    counted none of Claude Code's calls (logged as claude-sonnet-4-5-20250929), nor other agents'
    claude-sonnet-4.5 or anthropic/claude-sonnet-4.5; check_budget on the dated id said no budget
    applies. Now each is counted, alerts fire on them, and check_budget holds a call of any of them."""
    costs = [await _record(client, p, m, f"r{i}") for i, (p, m) in enumerate(SAME_MODEL)]
    await _record(client, *OTHER_MODEL, "r-other")
    out = cli(monkeypatch, capsys, "budget", "set", "son", "0.01", "--period", "day",
              "--model", "claude-sonnet-4-5", "--hard")  # fmt: skip
    flat = " ".join(out.split())
    assert "matches nothing" not in flat
    assert (
        "model 'claude-sonnet-4-5' also counts the calls recorded as the same model: "
        "anthropic/claude-sonnet-4.5, claude-sonnet-4-5-20250929, claude-sonnet-4.5"
    ) in flat
    assert "claude-sonnet-4-20250514" not in flat

    status = await _tool(client, "budget_status", {"name": "son"})
    [state] = status["budgets"]
    assert Decimal(str(state["spent_usd"])) == sum(costs)
    assert state["status"] == "exceeded"
    assert status["warnings"] == []
    # Its alerts fire on those calls, once each threshold...
    # Crossed at once: one alert, the highest's, covering the lower two (see test_webhooks).
    assert [a.split(" passed ")[1].split(" of ")[0] for a in status["alerts"]] == ["100%"]
    assert "covers 50% and 80% too" in status["alerts"][0]
    # ...and get_spend's model filter counts what the budget counts: a budget and a report agree.
    spend = await _tool(client, "get_spend", {"period": "today", "models": ["claude-sonnet-4-5"]})
    assert Decimal(str(spend["total_usd"])) == sum(costs)

    for provider, model in [*SAME_MODEL, ("anthropic", "Claude-Sonnet-4-5")]:
        check = await _tool(
            client,
            "check_budget",
            {"model": model, "provider": provider, "input_tokens": 1_000_000, "agent": "bot"},
        )
        assert check["allowed"] is False and check["binding_budget"] == "son", model
    other = await _tool(
        client, "check_budget", {"model": OTHER_MODEL[1], "provider": "anthropic", "input_tokens": 1_000_000}
    )
    assert other["allowed"] is True and other["budgets"] == []


@pytest.mark.usefixtures("clock")
@pytest.mark.anyio
async def test_a_budget_on_a_dated_id_counts_the_undated_and_the_other_spellings(
    client: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rule goes both ways: a budget set on the id Claude Code shows counts an agent's
    `claude-sonnet-4.5`; the budget on Sonnet 4 next to it counts none of Sonnet 4.5's calls."""
    costs = [await _record(client, p, m, f"r{i}") for i, (p, m) in enumerate(SAME_MODEL)]
    four = await _record(client, *OTHER_MODEL, "r-other")
    cli(monkeypatch, capsys, "budget", "set", "dated", "100", "--model", SONNET)
    cli(monkeypatch, capsys, "budget", "set", "four", "100", "--model", "claude-sonnet-4")
    status = await _tool(client, "budget_status", {})
    spent = {s["budget"]["name"]: Decimal(str(s["spent_usd"])) for s in status["budgets"]}
    assert spent == {"dated": sum(costs), "four": four}


def test_model_key_sets_aside_spelling_and_never_joins_two_models() -> None:
    """The ids one model is logged under share a key; models that only share a prefix or a price do not."""
    from cost_mcp.analytics.vocabulary import model_key  # here: the other tests run on older code too

    same = [
        "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "claude-sonnet-4.5", "Claude-Sonnet-4-5",
        "anthropic/claude-sonnet-4.5", "claude-sonnet-4-5@20250929",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0",
    ]  # fmt: skip
    assert {model_key(m) for m in same} == {"claude-sonnet-4-5"}
    assert model_key("claude-sonnet-4-0") == model_key("claude-sonnet-4-20250514") == "claude-sonnet-4"
    assert model_key("gpt-4o-2024-08-06") == model_key("gpt-4o")
    assert model_key("gpt-5.1") == model_key("gpt-5-1")
    for a, b in [
        ("claude-sonnet-4", "claude-sonnet-4-5"),
        ("claude-opus-4", "claude-opus-4-1"),
        ("gpt-5", "gpt-5-codex"),  # one price in genai-prices, two models
        ("gpt-4o", "gpt-4o-mini"),
        ("gpt-4", "gpt-4-0613"),  # a four-digit snapshot is not set aside
    ]:
        assert model_key(a) != model_key(b), (a, b)


def _at_evening() -> datetime:
    return datetime.now(UTC).replace(hour=21, minute=0, second=0, microsecond=0)


@pytest.mark.parametrize("hour_of_day", [21])
@pytest.mark.usefixtures("clock")
def test_the_hook_and_the_status_line_hold_a_claude_code_session_to_its_model_budget(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Claude Code logs claude-sonnet-4-5-20250929: a hard budget on claude-sonnet-4-5 shows this
    session's spend on the status line and the hook blocks the next prompt once it is used up; a
    hard budget on another model neither shows its spend nor blocks."""
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX"):
        monkeypatch.delenv(name, raising=False)
    transcript = session_file(home / "claude", "s1", project="-home-dev-app")
    at = (_at_evening() - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    write(transcript, assistant("m1", "r1", at, session="s1", model=SONNET, input=1000, output=100_000))
    cli(monkeypatch, capsys, "budget", "set", "son", "0.01", "--period", "day",
        "--model", "claude-sonnet-4-5", "--hard")  # fmt: skip
    cli(monkeypatch, capsys, "budget", "set", "opus", "0.01", "--period", "day",
        "--model", "claude-opus-4-1", "--hard")  # fmt: skip
    event = {"session_id": "s1", "transcript_path": str(transcript), "cwd": "/home/dev/app"}
    line = {**event, "model": {"id": SONNET, "display_name": "Sonnet"}}
    shown = cli(monkeypatch, capsys, "statusline", "--fields", "budget", stdin=json.dumps(line))
    # The tightest budget that counts the session: son, far over its cent (≥: other logs unread).
    assert shown.startswith("son ≥") and f"of {format_usd(Decimal('0.01'))}" in shown
    assert int(shown.split("≥")[1].split("%")[0]) > 100
    blocked = json.loads(
        cli(monkeypatch, capsys, "hook", stdin=json.dumps({**event, "hook_event_name": "UserPromptSubmit"}))
    )
    assert blocked["decision"] == "block"
    assert "'son'" in blocked["reason"] and "'opus'" not in blocked["reason"]
    denied = json.loads(
        cli(monkeypatch, capsys, "hook", stdin=json.dumps({**event, "hook_event_name": "PreToolUse",
                                                           "tool_name": "Bash"}))
    )  # fmt: skip
    assert denied["hookSpecificOutput"]["permissionDecision"] == "deny"


@pytest.mark.usefixtures("clock")
@pytest.mark.anyio
async def test_one_model_is_one_row_whatever_id_each_agent_logged(
    client: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Claude Code's claude-sonnet-4-5-20250929, another agent's claude-sonnet-4.5 and OpenRouter's
    anthropic/claude-sonnet-4.5 were three rows of model_breakdown, of get_spend by model, of the
    CLI report and of the dashboard, so the top model was wrong: each now sums them in one row (by
    vocabulary.model_key, as filters and budgets count), named by its id with the most spend and
    listing the ids merged; Sonnet 4 stays a row of its own."""
    costs = [await _record(client, p, m, f"r{i}") for i, (p, m) in enumerate(SAME_MODEL)]
    costs.append(await _record(client, *SAME_MODEL[0], "r-again"))  # the dated id: most spend
    four = await _record(client, *OTHER_MODEL, "r-other")
    ids = sorted(m for _, m in SAME_MODEL)
    top, rest = SAME_MODEL[0][1], OTHER_MODEL[1]

    breakdown = await _tool(client, "model_breakdown", {"period": "today"})
    rows = {r["model"]: r for r in breakdown["models"]}
    assert sorted(rows) == sorted([top, rest])
    assert Decimal(str(rows[top]["cost_usd"])) == sum(costs)
    assert (rows[top]["requests"], rows[top]["model_ids"], rows[top]["provider"]) == (4, ids, None)
    assert (Decimal(str(rows[rest]["cost_usd"])), rows[rest]["model_ids"]) == (four, None)
    assert breakdown["models"][0]["model"] == top

    spend = await _tool(client, "get_spend", {"period": "today", "group_by": ["model"]})
    by_model = {r["group"]["model"]: r for r in spend["rows"]}
    assert sorted(by_model) == sorted([top, rest]) and len(spend["rows"]) == 2
    assert (Decimal(str(by_model[top]["cost_usd"])), by_model[top]["model_ids"]) == (sum(costs), ids)
    # By provider and model: a row per provider, each under the model's one name.
    split = await _tool(client, "get_spend", {"period": "today", "group_by": ["provider", "model"]})
    assert sorted((r["group"]["provider"], r["group"]["model"], r["model_ids"]) for r in split["rows"]) == [
        ("anthropic", "claude-sonnet-4-20250514", None),
        ("anthropic", top, sorted(["claude-sonnet-4-5-20250929", "claude-sonnet-4.5"])),
        ("openrouter", top, ["anthropic/claude-sonnet-4.5"]),
    ]

    report = json.loads(
        cli(monkeypatch, capsys, "report", "--group-by", "model", "--json", "--period", "today")
    )
    assert sorted(r["group"]["model"] for r in report["rows"]) == sorted([top, rest])

    board = await client.call_tool("show_dashboard", {"period": "today"})
    assert board.structured_content is not None
    models = board.structured_content["breakdowns"]["model"]["rows"]
    assert sorted(r["group"]["model"] for r in models) == sorted([top, rest])
