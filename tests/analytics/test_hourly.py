"""Cost by hour of the day over a real ledger: local hours, filters, unpriced calls, billed days."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from cost_mcp.analytics.hourly import cost_by_hour
from cost_mcp.analytics.spend import Filters, get_spend, resolve
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources import otel
from cost_mcp.sources.reported import record_call
from cost_mcp.store import write_transaction
from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range
from cost_mcp.store.connection import Conn

FLAT = "gpt-4o"  # $2.50 per million input tokens: 400,000 tokens cost exactly $1
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def call(conn: Conn, when: datetime, usd: int = 1, *, agent: str = "bot", model: str = FLAT) -> None:
    record_call(
        conn,
        Pricer(),
        provider="openai",
        model=model,
        tokens=Tokens(input=usd * 400_000),
        agent=agent,
        timestamp=when,
        now=NOW,
    )


def test_calls_land_on_their_local_hour(conn: Conn, settings: Settings) -> None:
    call(conn, datetime(2026, 11, 2, 9, 10, tzinfo=UTC))
    call(conn, datetime(2026, 11, 3, 9, 55, tzinfo=UTC), 2)
    call(conn, datetime(2026, 11, 3, 23, 45, tzinfo=UTC), 4)
    utc = cost_by_hour(conn, settings, resolve(settings, None, "2026-11-01", "2026-11-05", None))
    assert [(h.hour, h.cost_usd, h.requests) for h in utc.hours if h.requests] == [
        (9, Decimal(3), 2),
        (23, Decimal(4), 1),
    ]
    assert len(utc.hours) == 24
    assert utc.total_usd == Decimal(7) and utc.basis == "estimated"
    # Paris is UTC+1 in November: 09:xx -> 10, 23:45 -> 00:45 the next day (still in the period).
    paris = cost_by_hour(conn, settings, resolve(settings, None, "2026-11-01", "2026-11-05", "Europe/Paris"))
    assert {h.hour: h.cost_usd for h in paris.hours if h.requests} == {10: Decimal(3), 0: Decimal(4)}
    # India is UTC+5:30: the quarter-hours still fall inside one local hour each.
    india = cost_by_hour(conn, settings, resolve(settings, None, "2026-11-01", "2026-11-05", "Asia/Kolkata"))
    assert {h.hour: h.cost_usd for h in india.hours if h.requests} == {
        14: Decimal(1),
        15: Decimal(2),
        5: Decimal(4),
    }


def test_hours_sum_to_get_spends_local_total(conn: Conn, settings: Settings) -> None:
    for day in range(1, 6):
        for hour in (3, 11, 17):
            call(conn, datetime(2026, 11, day, hour, 7 * day, tzinfo=UTC), day)
    p = resolve(settings, None, "2026-11-01", "2026-11-05", "America/New_York")
    hourly = cost_by_hour(conn, settings, p)
    hours = sum(h.cost_usd or Decimal(0) for h in hourly.hours)
    assert hourly.total_usd == get_spend(conn, settings, p).total_usd == hours


def test_filters_and_period_edges(conn: Conn, settings: Settings) -> None:
    call(conn, datetime(2026, 11, 2, 8, tzinfo=UTC), agent="a")
    call(conn, datetime(2026, 11, 2, 8, 30, tzinfo=UTC), 5, agent="b")
    call(conn, datetime(2026, 11, 6, 8, tzinfo=UTC), 9, agent="a")  # after the period
    p = resolve(settings, None, "2026-11-01", "2026-11-05", None)
    assert cost_by_hour(conn, settings, p).hours[8].cost_usd == Decimal(6)
    assert cost_by_hour(conn, settings, p, Filters(agents=["a"])).hours[8].cost_usd == Decimal(1)
    assert cost_by_hour(conn, settings, p, Filters(basis=["billed"])).total_usd == 0
    assert cost_by_hour(conn, settings, p, Filters(sources=["subscription"])).total_usd == 0
    assert cost_by_hour(conn, settings, p, Filters(sources=["record_usage"])).total_usd == Decimal(6)


def test_unpriced_calls_are_counted_and_warned_never_zero_priced(conn: Conn, settings: Settings) -> None:
    call(conn, datetime(2026, 11, 2, 8, tzinfo=UTC))
    call(conn, datetime(2026, 11, 2, 8, 5, tzinfo=UTC), model="no-such-model-xyz")
    hourly = cost_by_hour(conn, settings, resolve(settings, None, "2026-11-01", "2026-11-05", None))
    h8 = hourly.hours[8]
    assert (h8.cost_usd, h8.requests, h8.unpriced_requests) == (Decimal(1), 2, 1)
    assert any("no known price" in w for w in hourly.warnings)


def test_the_unpriced_note_names_each_model_with_the_fix_get_spend_gives(
    conn: Conn, settings: Settings
) -> None:
    """A Claude call an agent reported under provider 'openai' has no price there: the hourly note
    said only "add their models to the price override file", the wrong fix (the call is priced under
    'anthropic': forget it and report it again), where get_spend said so. The note is now get_spend's
    wording, one per model, each with its own fix."""
    call(conn, datetime(2026, 11, 2, 8, tzinfo=UTC), model="claude-sonnet-4-5")
    call(conn, datetime(2026, 11, 2, 9, tzinfo=UTC), model="no-such-model-xyz")
    p = resolve(settings, None, "2026-11-01", "2026-11-05", None)
    notes = [w for w in cost_by_hour(conn, settings, p).warnings if "no known price" in w]
    spent = [w for w in get_spend(conn, settings, p).warnings if "no known price" in w]
    assert notes == [w.replace("not in the total", "not in these amounts") for w in spent]
    [claude, unknown] = notes
    assert "priced under provider 'anthropic'" in claude and "cost-mcp reported forget" in claude, claude
    assert unknown.startswith("no-such-model-xyz: 1 call(s)") and "price override file" in unknown, unknown


def test_billed_amounts_have_no_hour_and_the_result_says_so(conn: Conn, settings: Settings) -> None:
    nov2 = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp()) * 1000
    with write_transaction(conn):
        bucket = Bucket(nov2, nov2 + DAY_MS, cost_nanos=7)
        replace_range(conn, "openai", "cost", nov2, nov2 + DAY_MS, [bucket])
    call(conn, datetime(2026, 11, 2, 8, tzinfo=UTC))
    hourly = cost_by_hour(conn, settings, resolve(settings, None, "2026-11-01", "2026-11-05", None))
    assert hourly.total_usd == Decimal(1)  # the local call; the billed day is not spread over hours
    assert "billed amounts are per day" in hourly.warnings[0]


def test_the_label_says_what_the_hours_count(conn: Conn, settings: Settings) -> None:
    """A Claude Code call received over OpenTelemetry counts in its hour at Claude Code's own figure
    (cost mode auto, as in the totals): the warning says so, never "list price" or "this machine"."""
    when = datetime(2026, 11, 2, 9, 10, tzinfo=UTC)
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="claude-code"))
    )
    record = resource_logs.scope_logs.add().log_records.add()
    for key, value in [
        ("event.name", AnyValue(string_value="api_request")),
        ("event.timestamp", AnyValue(string_value=when.isoformat())),
        ("model", AnyValue(string_value="claude-sonnet-4-5-20250929")),
        ("input_tokens", AnyValue(int_value=1000)),
        ("output_tokens", AnyValue(int_value=100)),
        ("cost_usd_micros", AnyValue(int_value=250_000)),
        ("request_id", AnyValue(string_value="req_hour")),
    ]:
        record.attributes.append(KeyValue(key=key, value=value))
    otel.receive(conn, Pricer(), "logs", request, now=NOW)
    period = resolve(settings, None, "2026-11-01", "2026-11-05", None)
    hourly = cost_by_hour(conn, settings, period)
    assert {h.hour: h.cost_usd for h in hourly.hours if h.requests} == {9: Decimal("0.25")}
    assert hourly.total_usd == get_spend(conn, settings, period, take_alerts=False).total_usd
    assert "OpenTelemetry events" in hourly.warnings[0]
    assert "list price" not in hourly.warnings[0] and "this machine" not in hourly.warnings[0]


def test_filters_are_taken_as_get_spend_takes_them(conn: Conn, settings: Settings) -> None:
    # A project by its folder name (the README's `webapp`) and a member's email in another case
    # matched no stored value here: the hourly chart read $0 beside the project's spend, with no
    # warning. A value that matches nothing says so, as get_spend's does.
    record_call(
        conn,
        Pricer(),
        provider="openai",
        model=FLAT,
        tokens=Tokens(input=2 * 400_000),
        agent="bot",
        project="/home/ana/code/webapp",
        member="ana@example.com",
        timestamp=datetime(2026, 11, 2, 9, 10, tzinfo=UTC),
        now=NOW,
    )
    call(conn, datetime(2026, 11, 2, 10, 10, tzinfo=UTC))  # another project, nobody's
    p = resolve(settings, None, "2026-11-01", "2026-11-05", None)
    for filters in (Filters(projects=["webapp"]), Filters(members=["Ana@Example.com"])):
        assert get_spend(conn, settings, p, (), filters).total_usd == Decimal(2)
        by_hour = cost_by_hour(conn, settings, p, filters)
        assert by_hour.total_usd == Decimal(2)
        assert [(h.hour, h.cost_usd) for h in by_hour.hours if h.requests] == [(9, Decimal(2))]
    missing = cost_by_hour(conn, settings, p, Filters(projects=["webap"]))
    assert missing.total_usd == 0
    assert any("project filter 'webap' matches nothing in the ledger" in w for w in missing.warnings)
