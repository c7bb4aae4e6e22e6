"""What a PARTIAL line lacks travels in the line (analytics/gaps.py): each answer's rows are weighed on
the gaps its own lines carry, through the results' models, and a line made again as a plain str may
touch any row, never fewer."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime

from cost_mcp.analytics import gaps
from cost_mcp.analytics.spend import Filters, get_spend, resolve
from cost_mcp.catchup import envelope
from cost_mcp.config import Settings
from cost_mcp.models import SpendResult
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.reported import record_call
from cost_mcp.store.connection import Conn

LINE = "PARTIAL: a provider's bill is missing (the same words in both answers)"

WHEN = datetime(2026, 11, 2, 9, tzinfo=UTC)


def by_provider(conn: Conn, settings: Settings) -> SpendResult:
    """A real answer by provider, of an OpenAI call and an Anthropic one (recorded, not billed)."""
    for provider, model in (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5")):
        record_call(
            conn,
            Pricer(),
            provider=provider,
            model=model,
            tokens=Tokens(input=10_000, output=1_000),
            agent="bot",
            project="/src/app",
            timestamp=WHEN,
            now=WHEN,
        )
    p = resolve(settings, None, "2026-11-01", "2026-11-05", None)
    return get_spend(conn, settings, p, ["provider"], Filters(), take_alerts=False)


def with_lines(result: SpendResult, *lines: str) -> SpendResult:
    """``result`` built again, validated, with ``lines`` as its warnings: as a result's model takes
    the lines its builder hands it (a plain ``list[str]`` field made each a plain str again)."""
    return SpendResult(**{**dict(result), "warnings": list(lines)})


def marked(conn: Conn, settings: Settings, answer: SpendResult) -> dict[str | None, bool]:
    """Which provider's row the answer, as it leaves (catchup.envelope), marks as a lower bound."""
    weighed = envelope(conn, settings, answer)
    assert not weighed.complete  # its PARTIAL line says it lacks something
    return {r.group["provider"]: not r.complete for r in weighed.rows}


def test_two_answers_whose_partial_lines_read_alike_are_each_marked_by_their_own_gaps(
    conn: Conn, settings: Settings
) -> None:
    """Two answers of one process (two tenants, two members) with the same PARTIAL words over
    different bills: each marks the rows its own bill may be in. Kept in a table keyed by the text,
    the second line's gaps were read for the first answer too."""
    result = by_provider(conn, settings)
    assert {r.group["provider"] for r in result.rows} == {"openai", "anthropic"}
    openai_line = gaps.said(LINE, gaps.bill("openai"))
    anthropic_line = gaps.said(LINE, gaps.bill("anthropic"))
    assert openai_line == anthropic_line  # the same text, as a person and JSON read it
    openai_answer, anthropic_answer = with_lines(result, openai_line), with_lines(result, anthropic_line)
    assert marked(conn, settings, openai_answer) == {"openai": True, "anthropic": False}
    assert marked(conn, settings, anthropic_answer) == {"openai": False, "anthropic": True}
    # What reaches a person is the line's text alone: the answer's JSON is the one a plain line gives.
    assert openai_answer.model_dump_json() == with_lines(result, LINE).model_dump_json()
    assert openai_answer.model_dump(mode="json") == with_lines(result, LINE).model_dump(mode="json")


def test_a_partial_line_made_again_as_a_plain_str_may_touch_any_row(conn: Conn, settings: Settings) -> None:
    """A PARTIAL line made again from the text (an f-string, a str method, JSON read back) no longer
    says which bill it lacks: every row it might be in is marked, never fewer."""
    result = by_provider(conn, settings)
    line = gaps.said(LINE, gaps.bill("openai"))
    assert gaps.of(line) == (gaps.bill("openai"),)
    assert marked(conn, settings, with_lines(result, line)) == {"openai": True, "anthropic": False}
    every = {"openai": True, "anthropic": True}
    for plain in (f"{line}", line.strip(), str(line), line + ""):
        assert type(plain) is str and gaps.of(plain) == (gaps.ANY,)
        assert marked(conn, settings, with_lines(result, plain)) == every, plain
    read_back = SpendResult.model_validate_json(with_lines(result, line).model_dump_json())
    assert marked(conn, settings, read_back) == every
    # A line none said reads as ANY too; one said with no gap named names ANY.
    assert gaps.of(LINE) == gaps.said(LINE).gaps == (gaps.ANY,)


def test_a_copied_partial_line_keeps_its_gaps() -> None:
    """Copied, deep-copied or pickled (a model's deep copy, a worker's answer), a line keeps its gaps."""
    line = gaps.said(LINE, gaps.bill("openai"), gaps.logs("codex"))
    for again in (copy.copy(line), copy.deepcopy(line), pickle.loads(pickle.dumps(line))):
        assert again == line and gaps.of(again) == (gaps.bill("openai"), gaps.logs("codex"))
