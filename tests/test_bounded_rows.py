"""Results an assistant can read (issue 22): bounded rows that still sum to the total, a cursor for
the rest, and a payload sent once, compactly."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from mcp import Client

from cost_mcp.analytics import rows
from cost_mcp.analytics.agents import record_usage
from cost_mcp.analytics.spend import get_spend, resolve
from cost_mcp.config import Settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.models import SpendResult
from cost_mcp.money import to_nanos
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.store import connect
from cost_mcp.store.connection import Conn, is_postgres
from tests.pg_cluster import Cluster

pytestmark = pytest.mark.anyio

SESSIONS = 600
SNAPSHOT = Path(__file__).parent / "fixtures" / "snapshots" / "get_spend_bounded_shape.json"


@pytest.fixture
def mid_month() -> Iterator[None]:
    """The clock on the 15th of this month: calls recorded on the 1st at noon are then in the past
    and in this month whatever day the suite runs (on the 1st itself they would be in the future)."""
    with time_machine.travel(datetime.now(UTC).replace(day=15, hour=12, minute=0, second=0), tick=True):
        yield


def _fill_busy(settings: Settings) -> None:
    """600 sessions, each with its own cost (1 to 3 calls per session, some sessions tied), this month."""
    now = datetime.now(UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    pricer = Pricer()
    conn = connect(settings.db)
    try:
        with conn:
            for i in range(SESSIONS):
                for j in range(1 + i % 3):
                    record_usage(
                        conn,
                        settings,
                        pricer,
                        provider="anthropic",
                        model="claude-sonnet-4-5" if i % 3 else "claude-haiku-4-5",
                        tokens=Tokens(input=100 + i, output=7 * (i % 50) + 1, cache_read=13 * j),
                        agent=f"agent-{i % 4}",
                        session=f"session-{i:04d}",
                        request_id=f"req-{i}-{j}",
                        timestamp=now + timedelta(seconds=i * 10 + j),
                    )
    finally:
        conn.close()  # on SQLite, closing checkpoints the WAL: the one file is the whole ledger


@dataclass
class _Filled:
    """The :func:`busy` ledger of each engine, filled once for the module (see :func:`busy`)."""

    root: Path
    month: dict[str, str] = field(default_factory=dict)
    """The month ("2026-12") each engine's ledger holds its calls in, by engine."""
    sqlite: Path | None = None
    cluster: Cluster | None = None
    database: str = ""


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Filled]:
    """Where the module's filled ledgers are kept; the PostgreSQL one is dropped after the module."""
    made = _Filled(tmp_path_factory.mktemp("busy"))
    yield made
    if made.cluster is not None:
        made.cluster.drop_database(made.database)


def _database(url: Path | str) -> str:
    """The database name in a ``pg_cluster`` URL (postgresql://postgres@/<name>?host=...)."""
    return urlsplit(str(url)).path.lstrip("/")


@pytest.fixture
def busy(
    request: pytest.FixtureRequest, settings: Settings, mid_month: None, ledger_made: None, filled: _Filled
) -> Settings:
    """The test's ledger holds :func:`_fill_busy`'s calls: a copy of a ledger the first test of
    the module on its engine filled, under this clock, by the same record_usage calls (CREATE
    DATABASE ... TEMPLATE on PostgreSQL, a file copy on SQLite, as ``ledger_made`` copies an empty
    one). Recording the 1,200 calls for every test took up to 130 s a test on PostgreSQL. Filled
    again when the month turned since (the calls are this month's: a run at a month's end)."""
    month = datetime.now(UTC).strftime("%Y-%m")
    engine = "postgresql" if is_postgres(settings.db) else "sqlite"
    if engine == "postgresql":
        cluster: Cluster = request.getfixturevalue("pg_cluster")
        if filled.month.get(engine) != month:
            if filled.cluster is not None:
                filled.cluster.drop_database(filled.database)
            database = cluster.new_database()
            _fill_busy(settings.model_copy(update={"db": cluster.url(database)}))
            filled.cluster, filled.database, filled.month[engine] = cluster, database, month
        # The test's database (the home fixture's, empty) again as a copy of the filled one, under
        # the same name: COST_MCP_DB, these settings and the home fixture's drop still name it.
        name = _database(settings.db)
        cluster.drop_database(name)
        cluster.exec(f"CREATE DATABASE {name} TEMPLATE {filled.database}")
    else:
        if filled.month.get(engine) != month:
            template = filled.root / f"cost-{month}.db"
            shutil.copyfile(Path(settings.db), template)  # the migrated, empty ledger
            _fill_busy(settings.model_copy(update={"db": template}))
            filled.sqlite, filled.month[engine] = template, month
        assert filled.sqlite is not None
        shutil.copyfile(filled.sqlite, Path(settings.db))
    return settings


def _nanos(value: Any) -> int:
    return to_nanos(Decimal(str(value)))


def _sum_tokens(rows_: list[dict[str, Any]]) -> dict[str, int]:
    keys = rows_[0]["tokens"].keys()
    return {k: sum(r["tokens"][k] for r in rows_) for k in keys}


async def _spend(client: Client, **args: Any) -> tuple[dict[str, Any], int]:
    result = await client.call_tool("get_spend", {"group_by": ["session"], **args})
    assert result.is_error is False, result.content
    assert result.structured_content is not None
    text = result.content[0]
    assert text.type == "text"
    size = len(json.dumps(result.structured_content, separators=(",", ":"))) + len(text.text)
    return result.structured_content, size


async def test_session_breakdown_is_bounded_sums_exactly_and_pages_through_every_row(
    busy: Settings, client: Client
) -> None:
    conn = connect(busy.db)
    try:
        full = get_spend(conn, busy, resolve(busy, None, None, None, None), ["session"], take_alerts=False)
    finally:
        conn.close()
    assert len(full.rows) == SESSIONS, "the CLI path (no window) keeps every row"
    expected = {r.group["session"]: r for r in full.rows}

    first, size = await _spend(client)
    assert first["truncated"] is True
    assert first["total_rows"] == SESSIONS
    shown = [r for r in first["rows"] if r["group"]["session"] != rows.OTHER]
    other = [r for r in first["rows"] if r["group"]["session"] == rows.OTHER]
    assert len(shown) == rows.DEFAULT_LIMIT and len(other) == 1
    # Largest first: no session left out costs more than the smallest one shown.
    smallest = min(_nanos(r["cost_usd"]) for r in shown)
    names = {r["group"]["session"] for r in shown}
    assert all(to_nanos(r.cost_usd or Decimal(0)) <= smallest for s, r in expected.items() if s not in names)
    # Rows (other included) sum to the total to the nano-dollar, and so do calls and tokens.
    assert sum(_nanos(r["cost_usd"]) for r in first["rows"]) == _nanos(first["total_usd"])
    assert _nanos(first["total_usd"]) == to_nanos(full.total_usd)
    assert sum(r["requests"] for r in first["rows"]) == sum(r.requests or 0 for r in full.rows)
    assert _sum_tokens(first["rows"]) == _sum_tokens([r.model_dump(mode="json") for r in full.rows])
    # The whole result (structured content and its text) fits an assistant's context.
    assert size < 60_000, size
    assert len(json.dumps(first["rows"])) < size

    # Following next_cursor returns every session once, each with its own figures.
    seen: list[str] = []
    page, cursor = first, first["next_cursor"]
    while True:
        seen += [r["group"]["session"] for r in page["rows"] if r["group"]["session"] != rows.OTHER]
        for r in page["rows"]:
            if r["group"]["session"] != rows.OTHER:
                assert _nanos(r["cost_usd"]) == to_nanos(
                    expected[r["group"]["session"]].cost_usd or Decimal(0)
                )
        assert sum(_nanos(r["cost_usd"]) for r in page["rows"]) == _nanos(first["total_usd"])
        if cursor is None:
            break
        page, _ = await _spend(client, cursor=cursor, limit=100)
        cursor = page["next_cursor"]
        assert not _changed(page), "nothing changed between pages"
    assert len(seen) == len(set(seen)) == SESSIONS
    assert page["truncated"] is True, "the last page still leaves the earlier rows in 'other'"


async def test_a_larger_limit_up_to_the_cap_and_bad_cursors(busy: Settings, client: Client) -> None:
    everything, _ = await _spend(client, limit=rows.MAX_LIMIT)
    assert len(everything["rows"]) == rows.MAX_LIMIT + 1
    too_many = await client.call_tool("get_spend", {"group_by": ["session"], "limit": rows.MAX_LIMIT + 1})
    assert too_many.is_error is True
    bad = await client.call_tool("get_spend", {"group_by": ["session"], "cursor": "not-a-cursor"})
    assert bad.is_error is True
    assert "next_cursor" in bad.content[0].text  # type: ignore[union-attr]


async def test_small_results_are_whole_and_text_is_compact_json(client: Client) -> None:
    result = await client.call_tool("get_spend", {"group_by": ["provider"]})
    assert result.structured_content is not None
    assert result.structured_content["truncated"] is False
    assert result.structured_content["next_cursor"] is None
    text = result.content[0].text  # type: ignore[union-attr]
    assert json.loads(text) == result.structured_content
    assert text == json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False)


async def test_shape_of_a_bounded_result(busy: Settings, client: Client) -> None:
    structured, _ = await _spend(client, limit=3)
    shape = _shape(structured)
    if not SNAPSHOT.exists():  # pragma: no cover - written once, then reviewed and committed
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(shape, indent=1, sort_keys=True) + "\n")
    assert shape == json.loads(SNAPSHOT.read_text())


def _shape(value: Any) -> Any:
    """Keys and value types, lists by their length and their first item: what a client relies on."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in ("sources", "warnings")}
    if isinstance(value, list):
        return [len(value), _shape(value[0])] if value else [0]
    return type(value).__name__


def test_pages_never_overlap_and_ties_keep_their_order() -> None:
    items = [5, 3, 5, 1, 3, 5, 0]
    pages = [rows.page(items, lambda x: x, rows.Window(limit=2, offset=o)) for o in (0, 2, 4, 6)]
    assert [p.shown for p in pages] == [[5, 5], [3, 5], [1, 3], [0]]
    assert all(sorted(p.shown + p.rest) == sorted(items) for p in pages)
    assert [p.next_offset is None for p in pages] == [False, False, False, True]
    assert rows.page(items, lambda x: x, None).shown == items


def test_cursor_round_trip_and_rejection() -> None:
    asked = rows.question_digest("get_spend", "this_month", ["session"])
    cursor = rows.encode_cursor(asked, rows.NONE_BEFORE, 125)
    assert len(cursor) < 40, "a model reads and repeats it"
    assert rows.Window.of(None, cursor, asked).offset == 125
    # rows:-1 and rows:abc, in the old form
    for bad in ("", "xyz", _old_cursor("-1"), _old_cursor("abc")):
        with pytest.raises(InvalidInputError, match="not one this server gave"):
            rows.Window.of(None, bad or "=", asked)
    with pytest.raises(InvalidInputError):
        rows.Window.of(0, None)


def _old_cursor(offset: str) -> str:
    """A cursor as a server before cursors named their question wrote it."""
    return base64.urlsafe_b64encode(f"rows:{offset}".encode()).decode().rstrip("=")


async def _refused(client: Client, tool: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error is True, result.structured_content
    text = result.content[0]
    assert text.type == "text"
    return text.text


async def test_a_cursor_of_another_question_or_past_the_end_is_refused(
    busy: Settings, client: Client
) -> None:
    """A cursor was only an offset: given to another question it answered some page of that one
    (or, past its end, only an "(other)" row), and nothing said so."""
    by_model, _ = await _spend(client, group_by=["model"], limit=1)
    cursor = by_model["next_cursor"]
    assert cursor is not None and by_model["total_rows"] == 2
    different = "was given for a different question: ask again without cursor, or with the same arguments"
    others: list[tuple[str, dict[str, Any]]] = [
        ("get_spend", {"group_by": ["project"], "limit": 1}),
        ("get_spend", {"group_by": ["model"], "limit": 1, "period": "last_month"}),
        ("get_spend", {"group_by": ["model"], "limit": 1, "agents": ["agent-1"]}),
        ("model_breakdown", {"top_n": 1}),
        ("usage_blocks", {"limit": 1}),
    ]
    for tool, args in others:
        assert different in await _refused(client, tool, {**args, "cursor": cursor}), (tool, args)
    # The same question with another limit is the same question: the next model, then the end.
    following, _ = await _spend(client, group_by=["model"], limit=5, cursor=cursor)
    assert following["rows"][0]["group"]["model"] != by_model["rows"][0]["group"]["model"]
    assert following["next_cursor"] is None

    # A cursor past the last row (the rows it counted are gone, or it was mended by hand).
    asked, seen, _ = rows.decode_cursor(cursor)
    assert asked is not None and seen is not None
    beyond = rows.encode_cursor(asked, seen, 2)
    text = await _refused(client, "get_spend", {"group_by": ["model"], "limit": 1, "cursor": beyond})
    assert "cursor points past the last row (there are 2 rows now): ask again without cursor" in text
    # So is an old server's cursor past the end; one within the rows is answered, with a warning.
    text = await _refused(client, "get_spend", {"group_by": ["session"], "cursor": _old_cursor("600")})
    assert "past the last row (there are 600 rows now)" in text
    old, _ = await _spend(client, cursor=_old_cursor("575"))
    assert [r["group"]["session"] for r in old["rows"]][:-1] and old["next_cursor"] is None
    assert any(
        w.startswith("this cursor came from an earlier version of this server") for w in old["warnings"]
    )


def _changed(page: dict[str, Any]) -> str:
    """The page's warning that rows changed since the page that gave its cursor ("" when none)."""
    return next((w for w in page["warnings"] if w.startswith("rows changed since the page")), "")


def _anthropic_call(
    conn: Conn,
    settings: Settings,
    tokens: Tokens,
    when: datetime,
    *,
    session: str,
    request_id: str,
    agent: str = "a",
    model: str = "claude-sonnet-4-5",
) -> None:
    """One Anthropic call an agent reported (record_usage), in the caller's transaction."""
    record_usage(
        conn,
        settings,
        Pricer(),
        provider="anthropic",
        model=model,
        tokens=tokens,
        agent=agent,
        session=session,
        request_id=request_id,
        timestamp=when,
    )


def _record(settings: Settings, session: str, cost_tokens: int, n: int) -> None:
    conn = connect(settings.db)
    try:
        with conn:
            when = datetime.now(UTC).replace(day=1, hour=13)
            tokens = Tokens(input=cost_tokens, output=1)
            _anthropic_call(
                conn,
                settings,
                tokens,
                when,
                session=session,
                request_id=f"late-{session}-{n}",
                agent="agent-0",
            )
    finally:
        conn.close()


async def test_rows_that_changed_between_pages_are_answered_with_a_warning(
    busy: Settings, client: Client
) -> None:
    """Usage recorded between page 1 and page 2 (the log watcher, record_usage, a push) moved the
    ranking: a row appeared on two pages, and nothing said so."""
    first, _ = await _spend(client, limit=100)
    assert not _changed(first)
    top = first["rows"][0]["group"]["session"]
    # The largest session grows but keeps its place: the pages still show every row once.
    _record(busy, top, 10_000, 1)
    second, _ = await _spend(client, limit=100, cursor=first["next_cursor"])
    assert not _changed(second)
    # A new session larger than any pushes every row down one place: the next page's first row is
    # the last of the page before, and the page says the rows changed.
    _record(busy, "session-new", 2_000_000, 2)
    third, _ = await _spend(client, limit=100, cursor=second["next_cursor"])
    assert _changed(third) and "ask again without cursor for a consistent first page" in _changed(third)
    names = [r["group"]["session"] for page in (first, second, third) for r in page["rows"]]
    names = [n for n in names if n != rows.OTHER]
    assert len(names) == 300 and len(set(names)) == 299, "one row repeated: what the warning is for"
    # From then on the pages follow the new ranking: no warning, every row to the end.
    cursor, pages = third["next_cursor"], 0
    while cursor is not None:
        page, _ = await _spend(client, limit=100, cursor=cursor)
        assert not _changed(page)
        cursor, pages = page["next_cursor"], pages + 1
    assert pages == 4 and page["total_rows"] == SESSIONS + 1  # rows 300 to 600


def test_spend_result_paging_fields_default_to_whole() -> None:
    assert SpendResult.model_fields["truncated"].default is False


async def test_model_breakdown_pages_models_and_other_keeps_the_total(
    settings: Settings, client: Client, mid_month: None
) -> None:
    now = datetime.now(UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    models = [("anthropic", "claude-opus-4-1"), ("anthropic", "claude-sonnet-4-5")]
    models += [("anthropic", "claude-haiku-4-5"), ("openai", "gpt-5-mini")]
    conn = connect(settings.db)
    try:
        with conn:
            for n, (provider, model) in enumerate(models):
                record_usage(
                    conn,
                    settings,
                    Pricer(),
                    provider=provider,
                    model=model,
                    tokens=Tokens(input=50_000, output=2_000),
                    agent="a",
                    request_id=f"r{n}",
                    timestamp=now,
                )
    finally:
        conn.close()
    seen: list[str] = []
    cursor = None
    while True:
        args: dict[str, Any] = {"top_n": 2, **({"cursor": cursor} if cursor else {})}
        result = await client.call_tool("model_breakdown", args)
        assert result.structured_content is not None, result.content
        page = result.structured_content
        assert page["truncated"] is True and page["total_rows"] == len(models)
        assert [m["model"] for m in page["models"]][-1] == "(other)"
        assert sum(_nanos(m["cost_usd"]) for m in page["models"]) == _nanos(page["total_usd"])
        seen += [m["model"] for m in page["models"][:-1]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [m for _, m in models], "largest first: opus, sonnet, haiku, gpt-5-mini"


async def test_plan_limits_lists_the_newest_readings_and_paces_on_all(
    settings: Settings, client: Client
) -> None:
    from cost_mcp.analytics.plan_limits import record_reading

    now = datetime.now(UTC).replace(microsecond=0)
    resets = int((now + timedelta(hours=3)).timestamp() * 1000)
    conn = connect(settings.db)
    try:
        for i in range(40):
            at = now - timedelta(minutes=5 * (40 - i))
            record_reading(conn, "claude-code", "five_hour", float(i), resets, "s1", at)
    finally:
        conn.close()
    bounded = await client.call_tool("plan_limits", {"days": 1, "limit": 10})
    whole = await client.call_tool("plan_limits", {"days": 1, "limit": 500})
    assert bounded.structured_content is not None and whole.structured_content is not None
    assert bounded.structured_content["truncated"] is True
    assert bounded.structured_content["total_rows"] == 40
    window = bounded.structured_content["windows"][0]
    assert [r["used_percent"] for r in window["readings"]] == [float(i) for i in range(30, 40)]
    assert window["percent_per_hour"] == whole.structured_content["windows"][0]["percent_per_hour"]
    assert len(whole.structured_content["windows"][0]["readings"]) == 40
    older = await client.call_tool(
        "plan_limits", {"days": 1, "limit": 10, "cursor": bounded.structured_content["next_cursor"]}
    )
    assert older.structured_content is not None
    readings = older.structured_content["windows"][0]["readings"]
    assert [r["used_percent"] for r in readings] == [float(i) for i in range(20, 30)]
    assert not _changed(older.structured_content)
    # A newer reading (the status line runs on) shifts every older one a place: the next page
    # repeats one it showed, and says so.
    conn = connect(settings.db)
    try:
        record_reading(conn, "claude-code", "five_hour", 40.0, resets, "s1", now)
    finally:
        conn.close()
    oldest = await client.call_tool(
        "plan_limits", {"days": 1, "limit": 10, "cursor": older.structured_content["next_cursor"]}
    )
    assert oldest.structured_content is not None
    readings = oldest.structured_content["windows"][0]["readings"]
    assert [r["used_percent"] for r in readings] == [float(i) for i in range(11, 21)]  # 20 again
    assert "ask again without cursor" in _changed(oldest.structured_content)
    refused = await _refused(
        client, "plan_limits", {"days": 2, "limit": 10, "cursor": older.structured_content["next_cursor"]}
    )
    assert "was given for a different question" in refused


def test_attribution_is_paged_with_the_rows_and_keeps_its_sum(settings: Settings) -> None:
    from cost_mcp.store import write_transaction
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    day = datetime(2026, 11, 2, tzinfo=UTC)
    day_ms = int(day.timestamp()) * 1000
    conn = connect(settings.db)
    try:
        with conn:
            for i in range(30):
                when = day + timedelta(hours=9, minutes=i)
                tokens = Tokens(input=1_000 * (i + 1), output=100)
                _anthropic_call(conn, settings, tokens, when, session=f"s{i:02d}", request_id=f"r{i}")
        bucket = Bucket(day_ms, day_ms + DAY_MS, cost_nanos=5_000_000_000, model="claude-sonnet-4-5")
        with write_transaction(conn):
            replace_range(conn, "anthropic", "cost", day_ms, day_ms + DAY_MS, [bucket])
        p = resolve(settings, None, "2026-11-01", "2026-11-05", None)
        whole = get_spend(conn, settings, p, ["session"], take_alerts=False)
        assert len(whole.attribution) == 30 and not whole.truncated
        seen: list[str | None] = []
        window: rows.Window | None = rows.Window(7)
        while window is not None:
            page = get_spend(conn, settings, p, ["session"], take_alerts=False, window=window)
            assert page.total_usd == whole.total_usd == Decimal(5)
            assert page.attribution_total_rows == 30 and page.truncated
            assert sum(a.cost_usd or Decimal(0) for a in page.attribution) == sum(
                a.cost_usd or Decimal(0) for a in whole.attribution
            )
            seen += [a.group["session"] for a in page.attribution if a.group["session"] != rows.OTHER]
            window = rows.Window.of(7, page.next_cursor) if page.next_cursor else None
        assert sorted(s or "" for s in seen) == [f"s{i:02d}" for i in range(30)]
    finally:
        conn.close()


def test_the_cli_prints_every_row(busy: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from cost_mcp import cli

    assert cli.main(["report", "--group-by", "session", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["rows"]) == printed["total_rows"] == SESSIONS
    assert printed["truncated"] is False


def test_every_session_row_from_sql_is_what_grouping_the_slices_gives(settings: Settings) -> None:
    # Without a window, by session is grouped in SQL too (store/session_rows.py); a basis filter
    # still takes the slices grouped in Python: both must give the same rows in the same order,
    # billed days (attribution), tied costs and unbilled days included.
    from cost_mcp.analytics.spend import Filters
    from cost_mcp.store import write_transaction
    from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range

    first = datetime(2026, 11, 2, tzinfo=UTC)
    conn = connect(settings.db)
    try:
        with conn:
            for i in range(40):
                when = first + timedelta(days=i % 4, hours=9, minutes=i)
                tokens = Tokens(input=1_000 * (1 + i % 7), output=100)  # every 7th session ties
                model = "claude-sonnet-4-5" if i % 2 else "claude-haiku-4-5"
                _anthropic_call(
                    conn, settings, tokens, when, session=f"s{i:02d}", request_id=f"r{i}", model=model
                )
        day_ms = int(first.timestamp()) * 1000 + DAY_MS  # the second day is billed
        with write_transaction(conn):
            replace_range(
                conn,
                "anthropic",
                "cost",
                day_ms,
                day_ms + DAY_MS,
                [Bucket(day_ms, day_ms + DAY_MS, cost_nanos=7)],
            )
        p = resolve(settings, None, "2026-11-01", "2026-11-30", None)
        in_sql = get_spend(conn, settings, p, ["session"], take_alerts=False)
        every_basis = Filters(basis=["billed", "estimated", "subscription"])
        in_python = get_spend(conn, settings, p, ["session"], every_basis, take_alerts=False)
        assert len(in_sql.rows) == 31 and len(in_sql.attribution) == 10  # 30 sessions + billed; 10
        assert in_sql.model_dump() == in_python.model_dump()
    finally:
        conn.close()
