"""What the model reads: the tool list, its size, and the errors a bad call gets back.

The snapshot below is every tool's name, title, description, input schema and annotations, as
tools/list sends them. A change to what the model reads is then a visible diff in review: after an
intended change, run `python -m pytest tests/test_tool_list.py --inline-snapshot=fix` and read it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from inline_snapshot import snapshot
from mcp import Client
from mcp.types import ListToolsResult
from pydantic import BaseModel, Field, ValidationError

from cost_mcp.tool_text import allowed, argument_error, compact_schema

pytestmark = pytest.mark.anyio

MAX_TOOL_LIST_CHARS = 30_000
"""All of tools/list as sent: hosts put it in front of the model on every turn."""


async def _tools_wire(client: Client) -> tuple[ListToolsResult, str]:
    listed = await client.list_tools()
    # As the server sends it: JSON by alias, without nulls, no indentation.
    return listed, ListToolsResult(tools=listed.tools).model_dump_json(by_alias=True, exclude_none=True)


async def test_the_whole_tool_list_is_under_30000_characters(client: Client) -> None:
    listed, wire = await _tools_wire(client)
    assert len(listed.tools) >= 19
    assert len(wire) < MAX_TOOL_LIST_CHARS, f"tools/list is {len(wire):,} characters"


async def test_descriptions_carry_no_docstring_indentation_and_schemas_no_titles(client: Client) -> None:
    listed, wire = await _tools_wire(client)
    for tool in listed.tools:
        assert tool.description, tool.name
        assert "\n    " not in tool.description, tool.name
        assert tool.description == tool.description.strip(), tool.name
        assert "Example: " in tool.description, tool.name
    assert '"title":"' not in json.dumps([t.input_schema for t in listed.tools], separators=(",", ":"))
    # An optional argument is published as its type; leaving it out means "not given".
    assert '{"type":"null"}' not in wire


async def test_period_is_an_enum_or_days_and_optional_arguments_are_plain_types(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    props = tools["get_spend"].input_schema["properties"]
    presets, days = props["period"]["anyOf"]
    assert re.fullmatch(days["pattern"], "2026-11") and re.fullmatch(
        days["pattern"], "2026-11-01..2026-11-15"
    )
    assert not re.fullmatch(days["pattern"], "last_year")
    assert presets["enum"] == [
        "today",
        "yesterday",
        "this_week",
        "last_week",
        "this_month",
        "last_month",
        "last_7_days",
        "last_30_days",
        "this_year",
    ]
    assert props["period"]["type"] == "string"
    assert props["providers"]["type"] == "array"
    assert "period" not in tools["get_spend"].input_schema.get("required", [])


async def test_optional_arguments_still_accept_null(client: Client) -> None:
    """The published schema is compact; what the tools accept has not narrowed."""
    arguments = {"period": None, "providers": None, "group_by": ["provider"]}
    result = await client.call_tool("get_spend", arguments)
    assert result.is_error is False, result.content


async def test_results_are_structured_behind_a_minimal_output_schema(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert all(t.output_schema == {"type": "object"} for t in tools.values())
    result = await client.call_tool(
        "estimate_cost", {"model": "claude-sonnet-4-5", "input_tokens": 1000, "output_tokens": 10}
    )
    assert result.structured_content is not None
    # Money is a JSON number in every machine output (docs/architecture.md, "Money in machine output").
    assert isinstance(result.structured_content["cost_usd"], int | float)


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        (
            "get_spend",
            {"period": 5},
            "get_spend: argument 'period' got 5 (input should be a valid string); allowed: one of today, yesterday, this_week, last_week, "
            "this_month, last_month, last_7_days, last_30_days, this_year or a day YYYY-MM-DD, a month "
            "YYYY-MM, or YYYY-MM-DD..YYYY-MM-DD (both included)",
        ),
        (
            "get_spend",
            {"group_by": ["modle"]},
            "get_spend: argument 'group_by.0' got \"modle\"; allowed: a list of up to 4 items, each one of "
            "provider, model, day, week, month, project, agent, session, member, source, basis",
        ),
        (
            # A time where a day goes, as a model often sends it: it was "allowed: text of at most
            # 10 characters", which does not say what to send.
            "get_spend",
            {"start": "2026-12-01T00:00:00Z", "end": "2026-12-02"},
            "get_spend: argument 'start' got \"2026-12-01T00:00:00Z\"; allowed: a date, YYYY-MM-DD",
        ),
        (
            "set_subscription",
            {
                "name": "max",
                "vendor": "anthropic",
                "amount_usd": 200,
                "period": "monthly",
                "start": "2026-12-01T00:00",
            },
            "set_subscription: argument 'start' got \"2026-12-01T00:00\"; allowed: a date, YYYY-MM-DD",
        ),
        (
            "usage_blocks",
            {"days": 100},
            "usage_blocks: argument 'days' got 100; allowed: an integer from 1 to 31",
        ),
        (
            "estimate_cost",
            {"model": "claude-sonnet-4-5", "output_tokens": 1},
            "estimate_cost: argument 'input_tokens' is required; allowed: an integer from 0 to 10000000000",
        ),
        (
            "check_budget",
            {"estimated_cost_usd": "a lot"},
            "check_budget: argument 'estimated_cost_usd' got \"a lot\" (input should be a valid decimal); "
            "allowed: a number from 0 to 1000000000",
        ),
        (
            "set_budget",
            {"name": "ok", "amount_usd": 5, "period": "year"},
            "set_budget: argument 'period' got \"year\"; allowed: one of day, week, month",
        ),
        (
            "record_usage",
            {
                "provider": "openai",
                "agent": "bot",
                "model": "gpt-5-mini",
                "input_tokens": 1,
                "output_tokens": 1,
                "timestamp": "yesterday",
            },
            "record_usage: argument 'timestamp' got \"yesterday\" (input should be a valid datetime, "
            "input is too short); allowed: an ISO 8601 time with its offset, e.g. 2026-12-04T10:30:00Z",
        ),
    ],
)
async def test_a_bad_argument_is_one_line_naming_it_what_was_given_and_what_is_allowed(
    client: Client, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    result = await client.call_tool(tool, arguments)
    assert result.is_error is True
    text = result.content[0].text  # type: ignore[union-attr]
    assert text == expected
    assert "\n" not in text and "pydantic" not in text and "validation error" not in text


async def test_no_bad_call_shows_pydantic_s_own_report(client: Client) -> None:
    """Every tool, every argument given a value of the wrong kind: never pydantic's banner or link."""
    for tool in (await client.list_tools()).tools:
        for name in tool.input_schema.get("properties", {}):
            result = await client.call_tool(tool.name, {name: {"not": "this"}})
            assert result.is_error is True, (tool.name, name)
            text = result.content[0].text  # type: ignore[union-attr]
            assert "\n" not in text, (tool.name, name, text)
            assert "errors.pydantic.dev" not in text and "Arguments" not in text, (tool.name, name, text)
            assert f"'{name}" in text, (tool.name, name, text)


def test_compact_schema_keeps_names_and_data_that_look_like_keywords() -> None:
    schema = {
        "title": "x",
        "properties": {
            "title": {"title": "Title", "type": "string"},
            "n": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None, "title": "N"},
            "m": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 3},
            "k": {"enum": [{"title": "kept"}], "default": {"title": "kept"}},
            "usd": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]},
        },
    }
    assert compact_schema(schema) == {
        "properties": {
            "title": {"type": "string"},
            "n": {"type": "integer"},
            "m": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 3},
            "k": {"enum": [{"title": "kept"}], "default": {"title": "kept"}},
            "usd": {"type": "number", "minimum": 0},
        }
    }


def test_allowed_says_what_a_schema_takes() -> None:
    assert allowed({"type": "string", "maxLength": 10}) == "text of at most 10 characters"
    assert allowed({"type": "number", "exclusiveMinimum": 0}) == "a number above 0"
    assert allowed({"type": "boolean"}) == "true or false"
    assert allowed({"anyOf": [{"type": "integer"}, {"const": "max"}]}) == 'an integer or "max"'
    root = {"$defs": {"S": {"type": "object", "properties": {"a": {}, "b": {}}}}}
    assert allowed({"$ref": "#/$defs/S"}, root) == "an object with keys a, b"


def test_argument_error_cuts_long_values_and_counts_the_rest() -> None:
    class Args(BaseModel):
        a: int = Field(ge=0)
        b: int = Field(ge=0)
        c: int = Field(ge=0)
        d: int = Field(ge=0)

    with pytest.raises(ValidationError) as caught:
        Args.model_validate({"a": "x" * 500, "b": -1, "c": -1, "d": -1})
    text = argument_error(caught.value, Args.model_json_schema())
    assert len(text) < 400 and "…" in text and text.endswith("and 1 more")


async def test_the_tool_list_as_the_model_reads_it(client: Client) -> None:
    tools = (await client.list_tools()).tools
    shown = {
        t.name: {
            "title": t.title,
            "description": t.description,
            "input": t.input_schema,
            "annotations": t.annotations.model_dump(by_alias=True, exclude_none=True)
            if t.annotations
            else None,
        }
        for t in tools
    }
    assert shown == snapshot(
        {
            "show_dashboard": {
                "title": "Show the spend dashboard",
                "description": """\
Show the spend dashboard in the conversation: totals, budgets, forecast, charts, sources.

Hosts that render MCP Apps show charts with period and filter controls; others get the same
facts as text. Figures are those of get_spend, budget_status and spend_forecast: call those for
one exact number. Filters keep exact matches. Defaults: this_month, no filter (budgets and
forecast are never filtered).

Example: show_dashboard(period="last_30_days", providers=["anthropic"])\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "period": {
                            "anyOf": [
                                {
                                    "enum": [
                                        "today",
                                        "yesterday",
                                        "this_week",
                                        "last_week",
                                        "this_month",
                                        "last_month",
                                        "last_7_days",
                                        "last_30_days",
                                        "this_year",
                                    ]
                                },
                                {"pattern": "^\\d{4}-\\d\\d(-\\d\\d(\\.\\..{10})?)?$"},
                            ],
                            "type": "string",
                            "description": "Or days, both included; omit with start/end.",
                        },
                        "start": {
                            "maxLength": 10,
                            "type": "string",
                            "description": "First day, YYYY-MM-DD, instead of period.",
                            "format": "date",
                        },
                        "end": {
                            "maxLength": 10,
                            "type": "string",
                            "description": "Last day, YYYY-MM-DD, inclusive; default today.",
                            "format": "date",
                        },
                        "timezone": {
                            "maxLength": 64,
                            "type": "string",
                            "description": "IANA name, e.g. 'Europe/Paris'; default configured.",
                        },
                        "providers": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "models": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "projects": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "agents": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "members": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "basis": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                    },
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
            "estimate_cost": {
                "title": "Estimate the cost of a call",
                "description": """\
Price a hypothetical model call, with cheaper models of the same provider beside it.

Answers "what would this call cost?" at today's rates (your price overrides, then genai-prices).
Not for what was spent: use get_spend. Cache writes are priced apart (5-minute, 1-hour) and
long-context rates apply per call (see `requests`). An unknown model is an error naming the
closest known ids.

Example: estimate_cost(model="claude-sonnet-4-5", input_tokens=120000, output_tokens=4000)\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "model": {
                            "description": "Model id as the provider names it, e.g. 'claude-sonnet-4-5', 'gpt-5-mini', 'anthropic/claude-sonnet-4.5' (OpenRouter).",
                            "maxLength": 200,
                            "minLength": 1,
                            "type": "string",
                        },
                        "input_tokens": {
                            "description": "Uncached input tokens, not read from or written to the cache (subtract cached tokens from OpenAI's prompt_tokens).",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "output_tokens": {
                            "description": "Output tokens, including reasoning/thinking tokens.",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "provider": {
                            "maxLength": 50,
                            "type": "string",
                            "description": "anthropic, openai, openrouter, groq, google, mistral... Omit to infer it from the model (not for Llama on Groq).",
                        },
                        "cache_read_tokens": {
                            "default": 0,
                            "description": "Input tokens read from the cache.",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "cache_write_tokens": {
                            "default": 0,
                            "description": "Input tokens written to the 5-minute cache.",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "cache_write_1h_tokens": {
                            "default": 0,
                            "description": "Input tokens written to the 1-hour cache (priced apart).",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "requests": {
                            "maximum": 1000000000,
                            "minimum": 1,
                            "type": "integer",
                            "description": "Calls the tokens are spread over (long-context rates apply per call). Omit for the fewest calls that fit the context window; 1 for one call.",
                        },
                        "speed": {
                            "enum": ["standard", "fast"],
                            "type": "string",
                            "description": "Anthropic fast mode (usage.speed): 'fast' is priced at the model's fast rates.",
                        },
                        "service_tier": {
                            "enum": ["standard", "batch", "priority", "flex"],
                            "type": "string",
                            "description": "usage.service_tier: batch and flex at 50%, priority at published priority rates.",
                        },
                        "inference_geo": {
                            "enum": ["global", "us"],
                            "type": "string",
                            "description": "Anthropic usage.inference_geo: 'us' (US-only inference) is priced at 1.1x.",
                        },
                    },
                    "required": ["model", "input_tokens", "output_tokens"],
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
            "ingest_claude_code_logs": {
                "title": "Ingest Claude Code logs",
                "description": """\
Read new lines of Claude Code's JSONL logs into the ledger: counts of files, calls,
duplicates and skipped lines by reason.

Rarely needed: every query reads new lines first. Use it for other folders inside the configured
Claude folders (`paths`), with full_rescan=true after changing price overrides, or with `forget`
to remove the calls read from files under those paths. Reports progress.

Example: ingest_claude_code_logs(paths=["~/.claude"])
Example: ingest_claude_code_logs(forget=["/home/me/old-claude-backup"])\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "paths": {
                            "items": {"type": "string"},
                            "maxItems": 100,
                            "type": "array",
                            "description": "Folders or .jsonl files to read instead of the configured Claude folders (inside them).",
                        },
                        "full_rescan": {
                            "default": False,
                            "description": "Read every file from the start again (totals do not change; slower).",
                            "type": "boolean",
                        },
                        "forget": {
                            "items": {"type": "string"},
                            "maxItems": 100,
                            "type": "array",
                            "description": "Remove the calls read from files under these paths, e.g. imported by mistake. Not with paths.",
                        },
                    },
                    "additionalProperties": False,
                },
                "annotations": {
                    "readOnlyHint": False,
                    "destructiveHint": True,
                    "idempotentHint": True,
                    "openWorldHint": False,
                },
            },
            "session_usage": {
                "title": "Coding-agent session usage",
                "description": """\
What a coding agent's session has cost so far: cost, tokens by kind, per model, duration, burn rate.

Default: Claude Code's latest session in this server's project, else anywhere; with no Claude
Code usage, any agent's latest. Costs are estimates from the local logs (tokens x list price);
Claude Code's output tokens are a lower bound (see warnings). For billed totals use get_spend.

Example: session_usage()\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "session_id": {
                            "maxLength": 200,
                            "type": "string",
                            "description": "A session id (its log file's uuid). Omit for the current session.",
                        },
                        "agent": {
                            "type": "string",
                            "description": "Whose sessions: claude-code (default), codex, gemini-cli, opencode, amp, copilot-cli, cline, roo-code, kilo-code, qwen-code, goose, pi, kimi-cli, hermes, codebuff, crush, droid, kilo-cli, openclaw.",
                        },
                    },
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
            "usage_blocks": {
                "title": "5-hour usage blocks",
                "description": """\
A coding agent's 5-hour usage windows (Claude Code's by default): the active block, its burn
rate and where it is heading.

Answers "will I hit the limit in this 5-hour window?". A block starts at the hour of its first
call and lasts 5 hours; the active one is projected to its end and compared with `token_limit`.
Newest `limit` blocks (default 25); cursor=next_cursor gives older ones.

Example: usage_blocks(days=1, token_limit="max")\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "days": {
                            "default": 3,
                            "description": "How many days back to show blocks for.",
                            "maximum": 31,
                            "minimum": 1,
                            "type": "integer",
                        },
                        "token_limit": {
                            "anyOf": [{"type": "integer"}, {"const": "max", "type": "string"}],
                            "description": "Tokens to compare the active block with; 'max': the largest completed block.",
                        },
                        "agent": {
                            "default": "claude-code",
                            "description": "Whose usage: any agent session_usage's agent names.",
                            "type": "string",
                        },
                        "limit": {
                            "maximum": 500,
                            "minimum": 1,
                            "type": "integer",
                            "description": "How many to return, newest first (default 25).",
                        },
                        "cursor": {
                            "maxLength": 100,
                            "type": "string",
                            "description": "A previous result's next_cursor, with the same other arguments.",
                        },
                    },
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
            "get_spend": {
                "title": "Spend in a period",
                "description": """\
What was spent on AI in a period, in total and broken down, each dollar counted once.

Answers "what did I spend this week?", "spend per provider last month". Each row has one basis:
billed (provider APIs, the truth where synced), estimated (tokens x list price) or subscription
(seats registered by hand). Rows sum to total_usd; estimates for days billed data covers are
listed under attribution, not added. sources[] says how fresh each source is and which days it
covers. Pass on what `warnings` say; complete=false: the numbers are partial (the first warning
says why). Filters keep exact matches (a project also by folder name). Sources: claude_code,
record_usage, <provider>-costs, <provider>-usage, subscription. Defaults: this_month, total
only. Per model with trends: model_breakdown.
At most `limit` rows (default 25, largest first), the rest in '(other)' rows; then
truncated=true and cursor=next_cursor gives the next rows.

Example: get_spend(period="this_week", group_by=["provider", "day"])
Example: get_spend(period="last_30_days", group_by=["session"], limit=50)\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "period": {
                            "anyOf": [
                                {
                                    "enum": [
                                        "today",
                                        "yesterday",
                                        "this_week",
                                        "last_week",
                                        "this_month",
                                        "last_month",
                                        "last_7_days",
                                        "last_30_days",
                                        "this_year",
                                    ]
                                },
                                {"pattern": "^\\d{4}-\\d\\d(-\\d\\d(\\.\\..{10})?)?$"},
                            ],
                            "type": "string",
                            "description": "Or days, both included; omit with start/end.",
                        },
                        "start": {
                            "maxLength": 10,
                            "type": "string",
                            "description": "First day, YYYY-MM-DD, instead of period.",
                            "format": "date",
                        },
                        "end": {
                            "maxLength": 10,
                            "type": "string",
                            "description": "Last day, YYYY-MM-DD, inclusive; default today.",
                            "format": "date",
                        },
                        "group_by": {
                            "default": [],
                            "description": "Up to 4 dimensions to break the total down by; empty for the total only.",
                            "items": {
                                "enum": [
                                    "provider",
                                    "model",
                                    "day",
                                    "week",
                                    "month",
                                    "project",
                                    "agent",
                                    "session",
                                    "member",
                                    "source",
                                    "basis",
                                ],
                                "type": "string",
                            },
                            "maxItems": 4,
                            "type": "array",
                        },
                        "timezone": {
                            "maxLength": 64,
                            "type": "string",
                            "description": "IANA name, e.g. 'Europe/Paris'; default configured.",
                        },
                        "providers": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "models": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "projects": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "agents": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "sessions": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "members": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "sources": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "basis": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "limit": {
                            "maximum": 500,
                            "minimum": 1,
                            "type": "integer",
                            "description": "Rows to return (default 25); the rest are summed in '(other)' rows.",
                        },
                        "cursor": {
                            "maxLength": 100,
                            "type": "string",
                            "description": "A previous result's next_cursor, with the same other arguments.",
                        },
                    },
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
            "model_breakdown": {
                "title": "Spend per model",
                "description": """\
Which models cost the most in a period: requests, tokens, cost, share, cost per request, trend.

trend_percent: against as many days before (in progress: its days so far). Counts and
filters follow get_spend's rules; billed rows may lack token counts. Defaults: this_month, top 10.
truncated=true: more models are in "(other)"; cursor=next_cursor lists them.

Example: model_breakdown(period="last_30_days", top_n=5)\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "period": {
                            "anyOf": [
                                {
                                    "enum": [
                                        "today",
                                        "yesterday",
                                        "this_week",
                                        "last_week",
                                        "this_month",
                                        "last_month",
                                        "last_7_days",
                                        "last_30_days",
                                        "this_year",
                                    ]
                                },
                                {"pattern": "^\\d{4}-\\d\\d(-\\d\\d(\\.\\..{10})?)?$"},
                            ],
                            "type": "string",
                            "description": "Or days, both included; omit with start/end.",
                        },
                        "start": {
                            "maxLength": 10,
                            "type": "string",
                            "description": "First day, YYYY-MM-DD, instead of period.",
                            "format": "date",
                        },
                        "end": {
                            "maxLength": 10,
                            "type": "string",
                            "description": "Last day, YYYY-MM-DD, inclusive; default today.",
                            "format": "date",
                        },
                        "timezone": {
                            "maxLength": 64,
                            "type": "string",
                            "description": "IANA name, e.g. 'Europe/Paris'; default configured.",
                        },
                        "top_n": {
                            "default": 10,
                            "description": "Models to list; the rest become '(other)'.",
                            "maximum": 100,
                            "minimum": 1,
                            "type": "integer",
                        },
                        "providers": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "projects": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "agents": {"items": {"type": "string"}, "maxItems": 50, "type": "array"},
                        "cursor": {
                            "maxLength": 100,
                            "type": "string",
                            "description": "A previous result's next_cursor, with the same other arguments.",
                        },
                    },
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
            "savings_report": {
                "title": "Where to save",
                "description": """\
Where recorded calls (Claude Code logs, record_usage) would have cost less at list price:
model mix, prompt caching, batch. Price only: quality is not measured.

Model mix moves short-answer calls to cheaper models of their provider (and COST_MCP_SUBSTITUTES);
caching weighs cache writes against reads, re-sent uncached prefixes and needless 1-hour writes;
batch finds non-interactive agents at the 50% rate. Each finding has its dollars, assumptions and
top sessions. Findings overlap: do not add them. Default: this_month.

Example: savings_report(period="last_week")\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "period": {
                            "anyOf": [
                                {
                                    "enum": [
                                        "today",
                                        "yesterday",
                                        "this_week",
                                        "last_week",
                                        "this_month",
                                        "last_month",
                                        "last_7_days",
                                        "last_30_days",
                                        "this_year",
                                    ]
                                },
                                {"pattern": "^\\d{4}-\\d\\d(-\\d\\d(\\.\\..{10})?)?$"},
                            ],
                            "type": "string",
                            "description": "Or days, both included; omit with start/end.",
                        },
                        "start": {
                            "maxLength": 10,
                            "type": "string",
                            "description": "First day, YYYY-MM-DD, instead of period.",
                            "format": "date",
                        },
                        "end": {
                            "maxLength": 10,
                            "type": "string",
                            "description": "Last day, YYYY-MM-DD, inclusive; default today.",
                            "format": "date",
                        },
                        "group_by": {
                            "items": {
                                "enum": ["provider", "model", "agent", "project", "session", "source"],
                                "type": "string",
                            },
                            "maxItems": 4,
                            "type": "array",
                            "description": "Default: model mix per agent, project and model; caching per agent and project.",
                        },
                        "timezone": {
                            "maxLength": 64,
                            "type": "string",
                            "description": "IANA name, e.g. 'Europe/Paris'; default configured.",
                        },
                    },
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
            "compare_periods": {
                "title": "Compare two periods",
                "description": """\
Two periods side by side (spend, calls, cost per call and per million tokens, model mix,
cache share), the change split into volume, mix, tokens per call, caching and price.

Answers "did switching to Haiku save money?": the parts sum exactly to the change. Defaults:
after = last_week, before = as many days just before it; rows per model unless group_by.

Example: compare_periods(before="2026-10", after="2026-11", group_by=["agent"])\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "before": {
                            "maxLength": 40,
                            "type": "string",
                            "description": "A period name, YYYY-MM, YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD (both included).",
                        },
                        "after": {
                            "maxLength": 40,
                            "type": "string",
                            "description": "A period name, YYYY-MM, YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD (both included).",
                        },
                        "group_by": {
                            "items": {
                                "enum": ["provider", "model", "agent", "project", "session", "source"],
                                "type": "string",
                            },
                            "maxItems": 4,
                            "type": "array",
                            "description": "Dimensions of the rows; default model.",
                        },
                        "timezone": {
                            "maxLength": 64,
                            "type": "string",
                            "description": "IANA name, e.g. 'Europe/Paris'; default configured.",
                        },
                    },
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
            "sync_providers": {
                "title": "Sync provider billing",
                "description": """\
Fetch billed costs and usage from provider APIs now: OpenAI, Anthropic, OpenRouter, Cursor, Azure OpenAI, Google (Gemini API, Vertex AI) and Amazon Bedrock (billed) and Groq
(usage, estimated).

Per source: days and rows synced, billed total, a note, the error if it failed (earlier data is
kept). Rarely needed (queries sync sources older than 15 min): to force a refresh or, with `days`,
to backfill. Needs one of OPENAI_ADMIN_KEY, ANTHROPIC_ADMIN_KEY, OPENROUTER_API_KEY, GROQ_API_KEY, CURSOR_ADMIN_API_KEY, AZURE_CLIENT_SECRET, GOOGLE_APPLICATION_CREDENTIALS, COST_MCP_AWS_SECRET_ACCESS_KEY (`cost-mcp doctor` says what else). Reports progress.

Example: sync_providers(providers=["anthropic"], days=62)\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "providers": {
                            "items": {
                                "pattern": "^[a-z][a-z0-9_-]{0,39}$",
                                "type": "string",
                            },
                            "maxItems": 20,
                            "type": "array",
                            "description": "Provider ids (listed in the tool description). Default: every configured provider.",
                        },
                        "days": {
                            "maximum": 366,
                            "minimum": 1,
                            "type": "integer",
                            "description": "Fetch the last N UTC days again (e.g. 62 to backfill). Default: what is not synced yet plus the last 3 days; 31 on a first sync.",
                        },
                    },
                    "additionalProperties": False,
                },
                "annotations": {
                    "readOnlyHint": False,
                    "destructiveHint": False,
                    "idempotentHint": True,
                    "openWorldHint": True,
                },
            },
            "set_budget": {
                "title": "Set a budget",
                "description": """\
Create or replace a calendar day, week or month spending limit, optionally scoped.

Alerts fire once per period at each threshold and come in the next result's alerts[], and to a
webhook the user configured (by name); a hard one makes check_budget refuse calls that would go
over. A scope counts only spend with one of its values (get_spend's names; members: emails or
team:NAME).

Example: set_budget(name="agents-daily", amount_usd=5, period="day", agents=["researcher"], hard=true,
webhook="ops")\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "name": {
                            "description": "A name, e.g. 'daily-agents': letters, digits, space, _ . : / -.",
                            "maxLength": 64,
                            "minLength": 1,
                            "pattern": "^[A-Za-z0-9][A-Za-z0-9 _.:/-]*$",
                            "type": "string",
                        },
                        "amount_usd": {
                            "exclusiveMinimum": 0.0,
                            "maximum": 1000000000.0,
                            "type": "number",
                            "description": "US dollars, e.g. 150 or 4.99.",
                        },
                        "period": {
                            "description": "Calendar day, week or month (configured timezone).",
                            "enum": ["day", "week", "month"],
                            "type": "string",
                        },
                        "providers": {
                            "items": {"maxLength": 200, "minLength": 1, "type": "string"},
                            "maxItems": 50,
                            "type": "array",
                        },
                        "models": {
                            "items": {"maxLength": 200, "minLength": 1, "type": "string"},
                            "maxItems": 50,
                            "type": "array",
                        },
                        "agents": {
                            "items": {"maxLength": 200, "minLength": 1, "type": "string"},
                            "maxItems": 50,
                            "type": "array",
                        },
                        "projects": {
                            "items": {"maxLength": 200, "minLength": 1, "type": "string"},
                            "maxItems": 50,
                            "type": "array",
                        },
                        "sources": {
                            "items": {"maxLength": 200, "minLength": 1, "type": "string"},
                            "maxItems": 50,
                            "type": "array",
                        },
                        "basis": {
                            "items": {"enum": ["billed", "estimated", "subscription"], "type": "string"},
                            "maxItems": 3,
                            "type": "array",
                            "description": "Default billed and estimated; add 'subscription' to count seat fees.",
                        },
                        "members": {
                            "items": {"maxLength": 200, "minLength": 1, "type": "string"},
                            "maxItems": 50,
                            "type": "array",
                        },
                        "thresholds": {
                            "items": {"type": "number"},
                            "maxItems": 10,
                            "type": "array",
                            "description": "Fractions of the amount at which to alert once per period, default [0.5, 0.8, 1.0].",
                        },
                        "hard": {
                            "default": False,
                            "description": "Refuse calls in check_budget that would exceed it.",
                            "type": "boolean",
                        },
                        "webhook": {
                            "maxLength": 64,
                            "type": "string",
                            "description": "A webhook configured in COST_MCP_WEBHOOKS to POST alerts to, by name; a URL is refused.",
                        },
                    },
                    "required": ["name", "amount_usd", "period"],
                    "additionalProperties": False,
                },
                "annotations": {
                    "readOnlyHint": False,
                    "destructiveHint": False,
                    "idempotentHint": True,
                    "openWorldHint": False,
                },
            },
            "delete_budget": {
                "title": "Delete a budget",
                "description": """\
Delete a budget and its alert history. Errors name the budgets that exist.

Example: delete_budget(name="agents-daily")\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "name": {
                            "maxLength": 64,
                            "minLength": 1,
                            "pattern": "^[A-Za-z0-9][A-Za-z0-9 _.:/-]*$",
                            "type": "string",
                        }
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                },
                "annotations": {
                    "readOnlyHint": False,
                    "destructiveHint": True,
                    "idempotentHint": True,
                    "openWorldHint": False,
                },
            },
            "budget_status": {
                "title": "Budget status",
                "description": """\
Where each budget stands in its current period: spent, remaining, percent, projection, status.

status: ok, warning (a threshold below 100% passed), forecast_exceeded (heading over) or
exceeded. Before one call use check_budget.

Example: budget_status()\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "name": {
                            "maxLength": 64,
                            "type": "string",
                            "description": "One budget; omit for all.",
                        }
                    },
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
            "check_budget": {
                "title": "Check a call against budgets",
                "description": """\
Before an expensive call: may it go ahead under every budget that applies to it?

Give estimated_cost_usd, or model and token counts to have it priced, and your agent and
project so scoped budgets apply. allowed is false when a hard budget would be exceeded (or could
be, while logs are still being read); reason says why in one line. No network.

Example: check_budget(model="claude-opus-4-1", input_tokens=150000, output_tokens=8000,
agent="researcher")\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "estimated_cost_usd": {
                            "maximum": 1000000000.0,
                            "minimum": 0.0,
                            "type": "number",
                            "description": "The call's expected cost in USD; or give model and token counts.",
                        },
                        "model": {
                            "maxLength": 200,
                            "type": "string",
                            "description": "Model, to price the call.",
                        },
                        "provider": {
                            "maxLength": 50,
                            "type": "string",
                            "description": "anthropic, openai, openrouter, groq, google, mistral... Omit to infer it from the model (not for Llama on Groq).",
                        },
                        "input_tokens": {
                            "default": 0,
                            "description": "Expected uncached input tokens.",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "output_tokens": {
                            "default": 0,
                            "description": "Expected output tokens.",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "cache_read_tokens": {
                            "default": 0,
                            "description": "Input tokens read from the cache.",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "agent": {
                            "maxLength": 120,
                            "type": "string",
                            "description": "The agent making the call (budgets scoped by agent).",
                        },
                        "project": {
                            "maxLength": 200,
                            "type": "string",
                            "description": "The project the call is for (budgets scoped by project).",
                        },
                    },
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
            "record_usage": {
                "title": "Record a model call",
                "description": """\
After a call: report what it used, so spend breaks down per agent, session and project.

Priced at list price like logged calls; idempotent on request_id, so retries are safe. An
unknown model is stored unpriced with a warning. The result shows the budgets this call counts
against and any alert it triggered.

Example: record_usage(provider="anthropic", model="claude-sonnet-4-5", input_tokens=1200,
output_tokens=350, agent="researcher", request_id="req_011CX")\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "provider": {
                            "description": "openai, anthropic, groq...",
                            "maxLength": 50,
                            "minLength": 1,
                            "type": "string",
                        },
                        "model": {
                            "description": "Model id as the provider names it, e.g. 'claude-sonnet-4-5', 'gpt-5-mini', 'anthropic/claude-sonnet-4.5' (OpenRouter).",
                            "maxLength": 200,
                            "minLength": 1,
                            "type": "string",
                        },
                        "input_tokens": {
                            "description": "Uncached input tokens, not read from or written to the cache (subtract cached tokens from OpenAI's prompt_tokens).",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "output_tokens": {
                            "description": "Output tokens, including reasoning/thinking tokens.",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "agent": {
                            "description": "The agent making the call, e.g. 'researcher'.",
                            "maxLength": 120,
                            "minLength": 1,
                            "type": "string",
                        },
                        "cache_read_tokens": {
                            "default": 0,
                            "description": "Input tokens read from the cache.",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "cache_write_tokens": {
                            "default": 0,
                            "description": "Input tokens written to the 5-minute cache.",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "cache_write_1h_tokens": {
                            "default": 0,
                            "description": "Input tokens written to the 1-hour cache (priced apart).",
                            "maximum": 10000000000,
                            "minimum": 0,
                            "type": "integer",
                        },
                        "session": {
                            "maxLength": 200,
                            "type": "string",
                            "description": "Your session or run id.",
                        },
                        "project": {
                            "maxLength": 200,
                            "type": "string",
                            "description": "The project the call is for (budgets scoped by project).",
                        },
                        "request_id": {
                            "maxLength": 200,
                            "type": "string",
                            "description": "The provider's request id; recording it twice adds nothing.",
                        },
                        "timestamp": {
                            "format": "date-time",
                            "type": "string",
                            "description": "When the call was made (ISO 8601 with offset); default now.",
                        },
                        "speed": {
                            "enum": ["standard", "fast"],
                            "type": "string",
                            "description": "Anthropic fast mode (usage.speed): 'fast' is priced at the model's fast rates.",
                        },
                        "service_tier": {
                            "enum": ["standard", "batch", "priority", "flex"],
                            "type": "string",
                            "description": "usage.service_tier: batch and flex at 50%, priority at published priority rates.",
                        },
                        "inference_geo": {
                            "enum": ["global", "us"],
                            "type": "string",
                            "description": "Anthropic usage.inference_geo: 'us' (US-only inference) is priced at 1.1x.",
                        },
                    },
                    "required": ["provider", "model", "input_tokens", "output_tokens", "agent"],
                    "additionalProperties": False,
                },
                "annotations": {
                    "readOnlyHint": False,
                    "destructiveHint": False,
                    "idempotentHint": True,
                    "openWorldHint": False,
                },
            },
            "spend_forecast": {
                "title": "Spend forecast",
                "description": """\
Where spend is heading: burn rate, end-of-period projection, and days that stood out.

The projection adds the trailing 7-day rate for the days left. Anomalies are days above twice
the median of the 14 days before (given 7 days of history and $1 spent), with their top models
and agents. Default: this_month.

Example: spend_forecast(period="this_month")\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "period": {
                            "anyOf": [
                                {
                                    "enum": [
                                        "today",
                                        "yesterday",
                                        "this_week",
                                        "last_week",
                                        "this_month",
                                        "last_month",
                                        "last_7_days",
                                        "last_30_days",
                                        "this_year",
                                    ]
                                },
                                {"pattern": "^\\d{4}-\\d\\d(-\\d\\d(\\.\\..{10})?)?$"},
                            ],
                            "type": "string",
                            "description": "Or days, both included; omit with start/end.",
                        },
                        "start": {
                            "maxLength": 10,
                            "type": "string",
                            "description": "First day, YYYY-MM-DD, instead of period.",
                            "format": "date",
                        },
                        "end": {
                            "maxLength": 10,
                            "type": "string",
                            "description": "Last day, YYYY-MM-DD, inclusive; default today.",
                            "format": "date",
                        },
                        "timezone": {
                            "maxLength": 64,
                            "type": "string",
                            "description": "IANA name, e.g. 'Europe/Paris'; default configured.",
                        },
                    },
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
            "set_subscription": {
                "title": "Register a subscription",
                "description": """\
Register a fixed fee with no API (Claude Max, ChatGPT Plus, Cursor Pro...).

The fee is spread evenly over the days of each billing period from `start` and counts in
get_spend with basis "subscription". Setting an existing name replaces it.

Example: set_subscription(name="claude-max-ana", vendor="anthropic", amount_usd=200, period="monthly",
start="2026-01-15", member="ana@example.com")\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "name": {
                            "description": "A name, e.g. 'daily-agents': letters, digits, space, _ . : / -.",
                            "maxLength": 64,
                            "minLength": 1,
                            "pattern": "^[A-Za-z0-9][A-Za-z0-9 _.:/-]*$",
                            "type": "string",
                        },
                        "vendor": {
                            "description": "Who bills it: anthropic, cursor...",
                            "maxLength": 50,
                            "minLength": 1,
                            "type": "string",
                        },
                        "amount_usd": {
                            "exclusiveMinimum": 0.0,
                            "maximum": 1000000000.0,
                            "type": "number",
                            "description": "US dollars, e.g. 150 or 4.99.",
                        },
                        "period": {
                            "description": "How often it is billed.",
                            "enum": ["monthly", "yearly"],
                            "type": "string",
                        },
                        "start": {
                            "description": "First day billed, YYYY-MM-DD.",
                            "format": "date",
                            "maxLength": 10,
                            "type": "string",
                        },
                        "end": {
                            "maxLength": 10,
                            "type": "string",
                            "description": "Last day counted (YYYY-MM-DD); omit if still running.",
                            "format": "date",
                        },
                        "member": {"maxLength": 200, "type": "string", "description": "Whose seat it is."},
                    },
                    "required": ["name", "vendor", "amount_usd", "period", "start"],
                    "additionalProperties": False,
                },
                "annotations": {
                    "readOnlyHint": False,
                    "destructiveHint": False,
                    "idempotentHint": True,
                    "openWorldHint": False,
                },
            },
            "delete_subscription": {
                "title": "Delete a subscription",
                "description": """\
Remove a subscription from every report, past and future (set an end date to stop it instead).

Example: delete_subscription(name="claude-max-ana")\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "name": {
                            "maxLength": 64,
                            "minLength": 1,
                            "pattern": "^[A-Za-z0-9][A-Za-z0-9 _.:/-]*$",
                            "type": "string",
                        }
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                },
                "annotations": {
                    "readOnlyHint": False,
                    "destructiveHint": True,
                    "idempotentHint": True,
                    "openWorldHint": False,
                },
            },
            "plan_limits": {
                "title": "Plan limits over time",
                "description": """\
How fast the Claude Pro/Max plan limits (5-hour and 7-day windows) are being approached.

Per window: latest percentage, reset time, points per hour and when it would reach 100%, from
readings of `cost-mcp statusline`. For dollars use get_spend or usage_blocks.
Newest `limit` readings per window (the pace uses all); cursor=next_cursor gives older ones.

Example: plan_limits(days=1)\
""",
                "input": {
                    "type": "object",
                    "properties": {
                        "days": {
                            "default": 7,
                            "description": "How many days of readings to show.",
                            "maximum": 90,
                            "minimum": 1,
                            "type": "integer",
                        },
                        "limit": {
                            "maximum": 500,
                            "minimum": 1,
                            "type": "integer",
                            "description": "How many to return, newest first (default 25).",
                        },
                        "cursor": {
                            "maxLength": 100,
                            "type": "string",
                            "description": "A previous result's next_cursor, with the same other arguments.",
                        },
                    },
                    "additionalProperties": False,
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": False},
            },
        }
    )


async def test_a_shared_argument_says_what_it_does_in_each_tool(client: Client) -> None:
    """usage_blocks and plan_limits list the newest blocks or readings and sum nothing, yet their
    `limit` read 'largest first ... the rest are summed in (other) rows'; compare_periods' group_by
    read savings_report's defaults (model mix per agent, project and model; caching), where its rows
    are per model by default."""
    tools = {t.name: t.input_schema["properties"] for t in (await client.list_tools()).tools}
    for name in ("usage_blocks", "plan_limits"):
        said = tools[name]["limit"]["description"]
        assert "(other)" not in said and "largest" not in said and "newest first" in said, name
    assert "(other)" in tools["get_spend"]["limit"]["description"]  # there, rows are summed
    assert "caching" not in tools["compare_periods"]["group_by"]["description"]
    assert "default model" in tools["compare_periods"]["group_by"]["description"]
    assert "caching" in tools["savings_report"]["group_by"]["description"]


async def test_the_coding_agent_tools_name_every_agent_they_answer_for(client: Client) -> None:
    """session_usage and usage_blocks answer for every agent whose logs are read, yet were titled
    "Claude Code ..." and their `agent` named only 'codex' and 'gemini-cli': a Codex user's assistant
    (Codex runs MCP servers too) was not told the tools were for its own agent, nor an OpenCode
    user's that 'opencode' could be asked for."""
    from cost_mcp.analytics.claude_code import agent_sources

    tools = {t.name: t for t in (await client.list_tools()).tools}
    said = tools["session_usage"].input_schema["properties"]["agent"]["description"]
    assert set(agent_sources()) <= set(re.findall(r"[\w-]+", said)), said
    # The list is spelled out once, under tools/list's cap; usage_blocks points to it.
    pointer = tools["usage_blocks"].input_schema["properties"]["agent"]["description"]
    assert "session_usage" in str(pointer), pointer
    for name in ("session_usage", "usage_blocks"):
        title = tools[name].title
        assert title is not None and "Claude Code" not in title, name
