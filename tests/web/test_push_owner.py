"""A member's token changes only that member's usage on a team server, and never sets its cost.

QA found, with two members' tokens on one server: ana pushing a line with bob's message and request
ids and 900,000 input tokens grew bob's call ($0.08 to $13.58, his $10 budget "exceeded"); ana
pushing a sidechain copy of bob's call made hers count and his not, without correcting his rollup
(totals disagreed with the events); and ana sending a cost of $0 with her calls (a log line's
``costUSD``, an OTel event's ``cost_usd``) made them count $0. Each is replayed here through the
real HTTP app (``/api/push``, ``/v1/logs``) on both ledgers, with the figures every view reads
compared before and after: get_spend, a budget, a raw sum over the events and the rollup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cost_mcp.analytics import budgets
from cost_mcp.config import Settings
from cost_mcp.models import BudgetScope
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.sources import claude_code
from cost_mcp.store import Ledger, connect
from cost_mcp.store import team as team_store
from tests.sources.claude_logs import assistant, session_file, write
from tests.web.test_otel_receiver import _api_request, _otlp_json_logs
from tests.web.test_team import _assert_rollup_exact, _total

OPUS = "claude-opus-4-1"
ANA, BOB = "ana@example.com", "bob@example.com"


@dataclass
class Server:
    """The team server's HTTP app in process, with a member token for ana and bob."""

    http: Any
    settings: Settings
    tokens: dict[str, str]

    def push(self, who: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        answer = self.http.post("/api/push", json={"rows": rows}, headers=self._auth(who))
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def otlp(self, who: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        body = _otlp_json_logs(records, {"service.name": "claude-code"})
        answer = self.http.post("/v1/logs", json=body, headers=self._auth(who))
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def _auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def server(settings: Settings, clock: None, ledger_made: None) -> Iterator[Server]:
    conn = connect(settings.db)
    tokens = {who: team_store.create_token(conn, who.split("@")[0], who) for who in (ANA, BOB)}
    budgets.set_budget(conn, "bob", Decimal(10), "month", BudgetScope(members=[BOB]))
    conn.close()
    yield from serving(Server, settings, tokens)


S = TypeVar("S", bound=Server)


def serving(kind: type[S], settings: Settings, tokens: dict[str, str]) -> Iterator[S]:
    """The team server's HTTP app in process over the test's ledger, as ``kind`` with ``tokens``."""
    from starlette.testclient import TestClient

    from cost_mcp.web.http import create_http_app

    ledger = Ledger(settings.db)
    try:
        app = create_http_app(ledger, settings, Pricer())
        with TestClient(app, base_url="http://127.0.0.1") as http:
            yield kind(http, settings, tokens)
    finally:
        ledger.close()


def _ms(minutes_ago: float) -> int:
    return int(time.time() * 1000 - minutes_ago * 60_000)


def _row(message_id: str, request_id: str, ts_ms: int, **extra: Any) -> dict[str, Any]:
    return {
        "source": "claude_code",
        "message_id": message_id,
        "request_id": request_id,
        "ts_ms": ts_ms,
        "provider": "anthropic",
        "model": OPUS,
        "session_id": "s1",
        "project": "web",
        "agent": "claude-code",
        "input_tokens": 1000,
        "output_tokens": 900,
        **extra,
    }


def _server_price(tokens: Tokens, ts_ms: int) -> Decimal:
    priced = Pricer().price(tokens, OPUS, "anthropic", datetime.fromtimestamp(ts_ms / 1000, UTC))
    assert isinstance(priced, Price)
    return Decimal(priced.total_nanos) / 10**9


@dataclass(frozen=True)
class Figures:
    """What every view says a member spent, and what the counted events add up to."""

    spend: Decimal
    raw: Decimal
    """The server's own prices of the member's counted calls, summed over the events."""
    counted: frozenset[tuple[str, str, int]]


def _figures(settings: Settings, member: str) -> Figures:
    conn = connect(settings.db)
    try:
        nanos = conn.execute(
            "SELECT COALESCE(SUM(cost_nanos), 0) FROM usage_events WHERE counted = 1 AND member = ?",
            (member,),
        ).fetchone()[0]
        counted = conn.execute(
            "SELECT message_id, request_id, is_sidechain FROM usage_events WHERE counted = 1 AND member = ?",
            (member,),
        ).fetchall()
    finally:
        conn.close()
    return Figures(
        _total(settings.db, members=[member]),
        Decimal(int(nanos)) / 10**9,
        frozenset((str(m), str(r), int(s)) for m, r, s in counted),
    )


def _bob_budget(settings: Settings) -> tuple[Decimal, str]:
    conn = connect(settings.db)
    try:
        (state,) = budgets.budget_status(conn, settings, take_alerts=False).budgets
    finally:
        conn.close()
    return state.spent_usd, state.status


def _assert_agree(settings: Settings) -> None:
    """Every view counts the same calls at the server's price, and the rollup is its events'."""
    for member in (ANA, BOB):
        figures = _figures(settings, member)
        assert figures.spend == figures.raw, member
    assert _bob_budget(settings)[0] == _figures(settings, BOB).spend
    assert _total(settings.db) == _figures(settings, ANA).raw + _figures(settings, BOB).raw
    _assert_rollup_exact(settings.db)


def test_a_member_cannot_grow_another_members_call(server: Server) -> None:
    ts = _ms(20)
    server.push(BOB, [_row("msg_b1", "req_b1", ts, input_tokens=1000, output_tokens=900)])
    before = _figures(server.settings, BOB)
    assert before.spend > 0 and _bob_budget(server.settings) == (before.spend, "ok")

    # Ana's token sends bob's call again with 900,000 input tokens: "max tokens wins" would take it.
    answer = server.push(ANA, [_row("msg_b1", "req_b1", ts, input_tokens=900_000, output_tokens=900)])
    assert (answer["accepted"], answer["changed"], answer["refused"]) == (1, 0, 1)
    assert "another member already pushed" in " ".join(answer["warnings"])
    assert _figures(server.settings, BOB) == before
    assert _bob_budget(server.settings) == (before.spend, "ok")
    assert _figures(server.settings, ANA).spend == 0
    conn = connect(server.settings.db)
    assert conn.execute("SELECT member, input_tokens FROM usage_events").fetchall() == [(BOB, 1000)]
    conn.close()
    _assert_agree(server.settings)


def test_a_member_cannot_uncount_another_members_call_with_a_sidechain_copy(server: Server) -> None:
    # Bob's call an hour ago; ana's sidechain copy of it, with more tokens, in another quarter-hour.
    server.push(BOB, [_row("msg_b1", "req_b1", _ms(60)), _row("msg_b2", "req_b2", _ms(59))])
    before = _figures(server.settings, BOB)
    answer = server.push(
        ANA,
        [
            _row("msg_b1", "req_b1", _ms(5), is_sidechain=1, input_tokens=5000),
            _row("msg_b2", "", _ms(5), input_tokens=5000),  # no request id: a copy of any of its calls
            _row("msg_a1", "req_a1", _ms(5)),
        ],
    )
    assert (answer["accepted"], answer["changed"], answer["refused"]) == (3, 1, 2)
    assert "2 rows have message ids another member already pushed" in " ".join(answer["warnings"])
    assert _figures(server.settings, BOB) == before
    assert _figures(server.settings, ANA).counted == {("msg_a1", "req_a1", 0)}
    _assert_agree(server.settings)


def test_a_member_cannot_uncount_another_members_otel_copy(server: Server) -> None:
    # Bob's Claude Code sends OTel events with his token; ana pushes a log copy of the same request.
    when = datetime.now(UTC) - timedelta(minutes=40)
    record = {
        "_ns": int(when.timestamp() * 1e9),
        **_api_request("req_b9", when, Tokens(input=500, output=40)),
    }
    assert server.otlp(BOB, [record]) == {}
    before = _figures(server.settings, BOB)
    assert before.counted == {("req_b9", "req_b9", 0)}
    answer = server.push(ANA, [_row("msg_b9", "req_b9", _ms(3), input_tokens=9000)])
    assert (answer["changed"], answer["refused"]) == (0, 1)
    assert _figures(server.settings, BOB) == before
    _assert_agree(server.settings)


def test_a_push_refused_over_a_fleets_otel_copy_says_why_and_the_log_names_its_holder(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """QA (h-qateam4): with the fleet's ingest token in Claude Code's managed settings, as README's
    team section sets it, a member whose Claude account's email is not their token's member
    (ana.smith@ against ana@) had every push refused: the OTel copy came first under the account's
    address. Ana was told "rows have message ids another member already pushed", which no one had,
    and the server's log said "their calls are another member's" without whose, so neither she nor
    the admin could tell an address mismatch from a copied folder. The warning now says the
    OpenTelemetry identity may differ, and the log names the holder for the admin."""
    conn = connect(server.settings.db)
    try:
        fleet = team_store.create_token(conn, "fleet", "boss@example.com", role="ingest")
    finally:
        conn.close()
    server.tokens["fleet"] = fleet
    when = datetime.now(UTC) - timedelta(minutes=40)
    events = [
        {
            "_ns": int(when.timestamp() * 1e9) + i,
            **_api_request(f"req_f{i}", when, Tokens(input=500, output=40)),
        }
        | {"user.email": "Ana.Smith@corp.example.com"}
        for i in range(2)
    ]
    assert server.otlp("fleet", events) == {}
    caplog.set_level(logging.WARNING, logger="cost_mcp.push")
    answer = server.push(ANA, [_row(f"msg_f{i}", f"req_f{i}", _ms(3)) for i in range(2)])
    assert (answer["changed"], answer["refused"]) == (0, 2)
    assert (
        "2 rows have message ids another member already pushed or sent over OpenTelemetry: not stored"
    ) in " ".join(answer["warnings"])
    assert "your agent's OpenTelemetry may name you otherwise than this token does" in " ".join(
        answer["warnings"]
    )
    assert "corp.example.com" not in str(answer)  # the holder is the admin's to learn, not ana's
    [logged] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert logged == (
        "push from token ana (ana@example.com): 2 row(s) refused, their calls are another member's "
        "(held by ana.smith@corp.example.com)"
    )
    assert _figures(server.settings, ANA).counted == frozenset()  # counted once, as the OTel copies
    _assert_rollup_exact(server.settings.db)


def test_an_otel_event_under_another_members_key_is_refused(server: Server) -> None:
    when = datetime.now(UTC) - timedelta(minutes=40)

    def record(member_tokens: int) -> dict[str, Any]:
        tokens = Tokens(input=member_tokens, output=40)
        return {"_ns": int(when.timestamp() * 1e9), **_api_request("req_b7", when, tokens)}

    assert server.otlp(BOB, [record(500)]) == {}
    before = _figures(server.settings, BOB)
    answer = server.otlp(ANA, [record(90_000)])
    assert answer["partialSuccess"]["rejectedLogRecords"] == "1"
    assert "another member already sent" in answer["partialSuccess"]["errorMessage"]
    assert _figures(server.settings, BOB) == before
    # Bob's own exporter retrying is no refusal: the event is simply there already.
    assert server.otlp(BOB, [record(500)]) == {}
    _assert_agree(server.settings)


def test_a_reported_cost_never_replaces_the_servers_price(server: Server) -> None:
    # Ana says her calls cost $0: a log line's costUSD pushed, and an OTel event's cost_usd.
    ts = _ms(10)
    pushed = server.push(
        ANA,
        [_row("msg_a1", "req_a1", ts, input_tokens=1_000_000, output_tokens=100_000, reported_cost_nanos=0)],
    )
    assert pushed["refused"] == 0
    when = datetime.fromtimestamp(_ms(12) / 1000, UTC)
    event = _api_request(
        "req_a2", when, Tokens(input=1_000_000, output=200_000), model=OPUS, cost_usd="0", cost_usd_micros=0
    )
    assert server.otlp(ANA, [{"_ns": int(when.timestamp() * 1e9), **event}]) == {}
    expected = _server_price(Tokens(input=1_000_000, output=100_000), ts) + _server_price(
        Tokens(input=1_000_000, output=200_000), _ms(12)
    )
    assert expected > 30
    assert _figures(server.settings, ANA).spend == expected
    # A call the server cannot price is unpriced, whatever the member says it cost.
    server.push(ANA, [_row("msg_a3", "req_a3", ts, model="no-such-model-xyz", reported_cost_nanos=0)])
    conn = connect(server.settings.db)
    assert conn.execute("SELECT cost_nanos FROM usage_events WHERE message_id = 'msg_a3'").fetchall() == [
        (None,)
    ]
    conn.close()
    assert _figures(server.settings, ANA).spend == expected
    _assert_agree(server.settings)


def test_a_members_own_copies_still_merge(server: Server) -> None:
    # Bob's second laptop: the same call with more tokens, then its sidechain copy with more still
    # in another quarter-hour, and a copy with fewer: max tokens wins, in any order, recounted.
    server.push(BOB, [_row("msg_b1", "req_b1", _ms(60), input_tokens=1000)])
    grown = server.push(BOB, [_row("msg_b1", "req_b1", _ms(60), input_tokens=2000)])
    assert (grown["changed"], grown["refused"]) == (1, 0)
    _assert_agree(server.settings)  # answered: the rollup holds the call an hour ago
    side = server.push(BOB, [_row("msg_b1", "req_b1", _ms(5), is_sidechain=1, input_tokens=3000)])
    assert (side["changed"], side["refused"]) == (1, 0)
    assert server.push(BOB, [_row("msg_b1", "req_b1", _ms(60), input_tokens=10)])["changed"] == 0
    figures = _figures(server.settings, BOB)
    assert figures.counted == {("msg_b1", "req_b1", 1)}
    assert figures.spend == _server_price(Tokens(input=3000, output=900), _ms(5))
    _assert_agree(server.settings)


def test_a_push_that_crosses_a_budget_fires_it_with_no_query(server: Server) -> None:
    """Pushed usage evaluates budgets within seconds, as OTLP does: before, bob's budget crossed by
    his push fired nothing until someone asked the server a question."""
    ts = _ms(5)
    # $7.52 at the server's price: past 50 % of his $10. Nothing here reads spend until the end.
    assert Decimal(5) < _server_price(Tokens(input=1000, output=100_000), ts) < Decimal(8)
    server.push(BOB, [_row("msg_big", "req_big", ts, input_tokens=1000, output_tokens=100_000)])

    def fired() -> list[str]:
        conn = connect(server.settings.db)
        try:
            rows = conn.execute("SELECT threshold FROM budget_alerts WHERE budget = 'bob' ORDER BY 1")
            return [str(r[0]) for r in rows.fetchall()]
        finally:
            conn.close()

    deadline = time.monotonic() + 30
    while not fired() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fired() == ["0.5"]


def test_the_servers_own_log_copy_of_a_pushed_call_never_takes_it_from_the_member(
    server: Server, home: Path
) -> None:
    """The server's Claude folder held a log of a call bob had pushed (the admin's machine serving
    the team, a log copied there): read, its copy took over the pushed row's origin, so `cost-mcp
    ingest --forget` of that file deleted bob's call from every total (his laptop's marks say the
    server has it), and `team forget-pushes --member bob` no longer found it."""
    ts = _ms(20)
    pushed = server.push(BOB, [_row("msg_b1", "req_b1", ts, input_tokens=4, output_tokens=100)])
    assert pushed["changed"] == 1
    before = _figures(server.settings, BOB)
    when = datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    line = assistant("msg_b1", "req_b1", when, session="s1", model=OPUS)
    log = write(session_file(home / "claude", "s1"), line)
    conn = connect(server.settings.db)
    try:
        claude_code.ingest(conn, server.settings, Pricer())
        assert _figures(server.settings, BOB) == before  # one call, still bob's
        assert [s.rows for s in team_store.pushed_by(conn, BOB, None, None)] == [1]
        claude_code.forget(conn, server.settings, Pricer(), [str(log)])
        assert [s.rows for s in team_store.pushed_by(conn, BOB, None, None)] == [1]
    finally:
        conn.close()
    assert _figures(server.settings, BOB) == before
    _assert_agree(server.settings)
