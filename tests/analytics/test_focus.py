"""FOCUS export: the period's total in FinOps columns, accepted by the FinOps Foundation's validator."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cost_mcp import cli
from cost_mcp.analytics import subscriptions
from cost_mcp.analytics.focus import COLUMNS, DECIMAL_COLUMNS, FOCUS_1_0
from cost_mcp.analytics.spend import get_spend, resolve
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources.claude_code import ingest
from cost_mcp.store import write_transaction
from cost_mcp.store.buckets import DAY_MS, Bucket, replace_range
from cost_mcp.store.connection import Conn
from tests.sources.claude_logs import SONNET, assistant, session_file, write

SET_ON = date(2026, 12, 1)
"""The day a subscription is set or removed on here (the configured timezone's, as callers pass it)."""

NOV2 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
VALIDATOR = Path(sys.executable).parent / "focus-validator"


def _ledger(home: Path, conn: Conn, settings: Settings) -> None:
    """Billed, estimated, subscription and unpriced spend over four days of November 2026."""
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-11-02T09:00:00.000Z", input=1_000, output=1_000),
        assistant("m2", "r2", "2026-11-03T09:00:00.000Z", input=1_000, output=1_000),
        assistant("m3", "r3", "2026-11-04T09:00:00.000Z", model="claude-nova-9"),
    )
    ingest(conn, settings, Pricer())
    with write_transaction(conn):
        bucket = Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=50_000_000, model=SONNET)
        replace_range(conn, "anthropic", "cost", NOV2, NOV2 + DAY_MS, [bucket])
    subscriptions.set_subscription(
        conn,
        "cursor-pro",
        "cursor",
        Decimal(40),
        "monthly",
        "2026-11-01",
        member="ana@example.com",
        today=SET_ON,
    )


def _export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, str]], str, Path]:
    out = tmp_path / "focus.csv"
    code = cli.main(
        ["export", "--format", "focus", "--start", "2026-11-01", "--end", "2026-11-05", "-o", str(out)]
    )
    assert code == 0
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return rows, capsys.readouterr().err, out


def test_focus_rows_sum_to_the_total_and_say_their_basis(
    home: Path,
    conn: Conn,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _ledger(home, conn, settings)
    rows, err, _ = _export(tmp_path, capsys)
    total = get_spend(conn, settings, resolve(settings, None, "2026-11-01", "2026-11-05", None)).total_usd

    assert list(rows[0]) == list(COLUMNS)
    assert sum(Decimal(r["BilledCost"]) for r in rows) == total
    # $0.05 billed (Nov 2, the estimate moved to attribution), $0.018 estimated (Nov 3), and 5 days of
    # $40 / 30 days in whole nanos (the first 10 days of the period carry the remainder's extra nano).
    assert total == Decimal("0.05") + Decimal("0.018") + 5 * Decimal("1.333333334")
    by_basis: dict[str, Decimal] = {}
    for r in rows:
        by_basis[r["x_CostBasis"]] = by_basis.get(r["x_CostBasis"], Decimal(0)) + Decimal(r["BilledCost"])
    assert by_basis["billed"] == Decimal("0.05")
    assert by_basis["estimated"] == Decimal("0.018")
    seats = [r for r in rows if r["x_CostBasis"] == "subscription"]
    assert {r["ChargeCategory"] for r in seats} == {"Purchase"}
    assert {r["ChargeFrequency"] for r in seats} == {"Recurring"}
    assert {json.loads(r["Tags"])["member"] for r in seats} == {"ana@example.com"}
    [estimated] = [r for r in rows if r["x_CostBasis"] == "estimated" and r["x_UnpricedRequests"] == "0"]
    assert "estimated" in estimated["ChargeDescription"]
    assert estimated["ChargePeriodStart"] == "2026-11-03T00:00:00Z"
    assert estimated["ConsumedQuantity"] == "2000" and estimated["ConsumedUnit"] == "Tokens"
    # The unknown model is counted, not priced at $0 silently: the row says so and so does stderr.
    [unpriced] = [r for r in rows if r["SkuId"] == "claude-nova-9"]
    assert unpriced["x_UnpricedRequests"] == "1"
    assert "no known price" in err
    assert all("E" not in r["BilledCost"] for r in rows)  # never 0E-9


def focus_validator_dir() -> str:
    spec = importlib.util.find_spec("focus_validator")
    assert spec is not None and spec.origin is not None, "focus-validator is in the test extra"
    return str(Path(spec.origin).parent)


def test_focus_export_passes_the_finops_validator(
    home: Path,
    conn: Conn,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _ledger(home, conn, settings)
    rows, _, out = _export(tmp_path, capsys)
    assert all(r["SkuPriceId"] for r in rows)  # what the overridden rule below would check
    checked, failures = _validate(tmp_path, out)
    assert checked >= len(FOCUS_1_0) * 2, "the validator checked far fewer rules than FOCUS 1.0 has"
    assert failures == []
    assert _quantity_gaps(rows) == []  # what the validator leaves unchecked


def _adds_up_and_validates(
    conn: Conn, settings: Settings, tmp_path: Path, rows: list[dict[str, str]], out: Path
) -> Decimal:
    """Checks every export must pass: its rows sum to get_spend's total over the ledger's days, no
    quantity FOCUS requires is missing, and the FinOps validator finds nothing; returns the total."""
    total = get_spend(conn, settings, resolve(settings, None, "2026-11-01", "2026-11-05", None)).total_usd
    assert sum(Decimal(r["BilledCost"]) for r in rows) == total
    assert _quantity_gaps(rows) == []
    _, failures = _validate(tmp_path, out)
    assert failures == []
    return total


def _validate(tmp_path: Path, data: Path) -> tuple[int, list[str]]:
    """The FinOps Foundation's validator over ``data`` (CSV or Parquet): rules checked, failures."""
    report = tmp_path / "report.xml"
    # focus-validator 1.0.0's SkuPriceId_Nullable rule queries `ChargeType`, the 1.0-preview name of
    # ChargeCategory, so it errors on every valid FOCUS 1.0 file; it is skipped and the tests check it.
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("overrides:\n  - SkuPriceId_Nullable\n", encoding="utf-8")
    done = subprocess.run(
        [
            str(VALIDATOR),
            "--data-file",
            str(data),
            "--validate-version",
            "1.0",
            "--override-file",
            str(overrides),
            "--output-type",
            "unittest",
            "--output-destination",
            str(report),
        ],
        # It reads its currency list from a path relative to the working directory.
        cwd=Path(focus_validator_dir()).parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert report.exists(), done.stderr[-2000:]
    cases = ET.parse(report).getroot().iter("testcase")
    checked = 0
    failures: list[str] = []
    for case in cases:
        checked += 1
        problems = [child for child in case if child.tag in {"failure", "error"}]
        if problems:
            failures.append(f"{case.get('name')}: {problems[0].get('message')}")
    return checked, failures


def test_focus_as_parquet_has_exact_decimals_and_passes_every_other_validator_rule(
    home: Path,
    conn: Conn,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _ledger(home, conn, settings)
    rows, _, _ = _export(tmp_path, capsys)
    out = tmp_path / "focus.parquet"
    code = cli.main(
        ["export", "--format", "focus", "--start", "2026-11-01", "--end", "2026-11-05", "-o", str(out)]
    )
    assert code == 0
    assert "no known price" in capsys.readouterr().err
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    assert table.schema.field("BilledCost").type == pa.decimal128(38, 9)  # exact, never a float
    assert table.schema.field("ChargePeriodStart").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("x_Requests").type == pa.int64()
    billed = table.column("BilledCost").to_pylist()
    assert sum(billed) == sum(Decimal(r["BilledCost"]) for r in rows)
    assert billed == [Decimal(r["BilledCost"]) for r in rows]
    # An empty CSV cell is null in Parquet (FOCUS's "no value"), not an empty string; a name that
    # would start a formula (Claude Code's `-home-dev-app` slug) has its apostrophe in the CSV only.
    assert table.column("SubAccountId").to_pylist() == [
        r["SubAccountId"].removeprefix("'") or None for r in rows
    ]
    for name in DECIMAL_COLUMNS:
        assert table.schema.field(name).type == pa.decimal128(38, 9)
    checked, failures = _validate(tmp_path, out)
    assert checked >= len(FOCUS_1_0) * 2
    # focus-validator 1.0.0 checks a FOCUS Decimal column as a pandas Float, so Parquet's exact decimal
    # type (what FOCUS's Decimal is; floats are not money) fails its type check and nothing else does:
    # every other rule passes, and the decimal types are asserted above instead.
    assert sorted(failures) == [
        f"{name}_IsDecimal :: DataTypeCheck: Ensures that column is of decimal type."
        for name in DECIMAL_COLUMNS
    ]


def test_parquet_without_pyarrow_says_which_extra_to_install(
    home: Path, conn: Conn, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cost_mcp.analytics.focus import FocusExport, write_parquet
    from cost_mcp.errors import InvalidInputError

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # an import of it now fails, as when not installed
    with pytest.raises(InvalidInputError, match=r"pip install 'cost-mcp\[parquet\]'"):
        write_parquet(FocusExport(), tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_focus_keeps_each_logged_model_id_where_get_spend_merges_them(
    home: Path, conn: Conn, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """get_spend shows one row per model whatever id each log spelt; a FOCUS file's SkuId names
    what was logged, so the two spellings of Sonnet 4.5 on one day stay two rows there."""
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2026-11-03T09:00:00.000Z", input=1_000, output=1_000),
        assistant(
            "m2", "r2", "2026-11-03T10:00:00.000Z", input=1_000, output=1_000, model="claude-sonnet-4.5"
        ),
    )
    ingest(conn, settings, Pricer())
    p = resolve(settings, None, "2026-11-01", "2026-11-05", None)
    [merged] = get_spend(conn, settings, p, ["model"]).rows
    assert merged.model_ids is not None and sorted(merged.model_ids) == [SONNET, "claude-sonnet-4.5"]

    rows, _, _ = _export(tmp_path, capsys)
    by_sku = {r["SkuId"]: Decimal(r["BilledCost"]) for r in rows}
    assert sorted(by_sku) == [SONNET, "claude-sonnet-4.5"]
    assert by_sku[SONNET] == by_sku["claude-sonnet-4.5"] == Decimal("0.018")
    assert sum(by_sku.values()) == merged.cost_usd


def test_a_name_that_would_start_a_formula_is_text_in_the_focus_csv_and_still_valid(
    home: Path,
    conn: Conn,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Finance opens the FOCUS CSV in a spreadsheet: a provider's project or model name starting
    with = + - @ (a formula: `=cmd|...` runs a program in some spreadsheets) gets a leading
    apostrophe there, as in every other CSV; a negative amount (a credit) stays a number, and the
    FinOps validator still accepts the file."""
    _ledger(home, conn, settings)
    hostile = '=cmd|" /c calc"!A1,x'
    with write_transaction(conn):
        rows = [
            Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=50_000_000, model=SONNET),
            Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=7_000_000, model="@sum(1)", project=hostile),
            Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=-2_500_000_000, line_item="credit"),
        ]
        replace_range(conn, "anthropic", "cost", NOV2, NOV2 + DAY_MS, rows)
    rows_out, _, out = _export(tmp_path, capsys)
    cells = {cell for row in rows_out for cell in row.values()}
    assert not {c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not c[1:2].isdigit())}
    hostile_row = next(r for r in rows_out if r["SubAccountId"].endswith(hostile))
    assert hostile_row["SubAccountId"] == "'" + hostile
    assert hostile_row["ResourceName"] == "'@sum(1)"
    assert "-2.500000000" in {r["BilledCost"] for r in rows_out}
    _adds_up_and_validates(conn, settings, tmp_path, rows_out, out)


def test_a_credit_on_a_bill_is_a_focus_credit_and_the_rows_still_sum_to_the_total(
    home: Path,
    conn: Conn,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A provider's credit line (a negative amount on the bill) was exported as ChargeCategory
    `Usage`, `Usage-Based`, "Anthropic usage, as billed": finance filtering FOCUS's `Credit` rows
    found none, and its usage was $2.50 short. FOCUS 1.0/1.2 call it Credit (Usage rows carry a
    consumed quantity, other categories none); usage and seat fees keep their categories."""
    _ledger(home, conn, settings)
    with write_transaction(conn):
        rows = [
            Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=50_000_000, model=SONNET),
            Bucket(NOV2, NOV2 + DAY_MS, cost_nanos=-2_500_000_000, line_item="promotional credit"),
        ]
        replace_range(conn, "anthropic", "cost", NOV2, NOV2 + DAY_MS, rows)
    rows_out, _, out = _export(tmp_path, capsys)
    [credit] = [r for r in rows_out if Decimal(r["BilledCost"]) < 0]
    assert {k: credit[k] for k in ("BilledCost", "ChargeCategory", "ChargeClass", "ChargeFrequency")} == {
        "BilledCost": "-2.500000000",
        "ChargeCategory": "Credit",
        "ChargeClass": "",  # not a correction of an earlier invoiced month: the credit is of its day
        "ChargeFrequency": "One-Time",
    }
    assert credit["ChargeDescription"] == "Anthropic credit or refund, as billed"
    assert credit["ConsumedQuantity"] == credit["ConsumedUnit"] == credit["SkuMeter"] == ""
    assert {r["ChargeCategory"] for r in rows_out if r["x_CostBasis"] == "subscription"} == {"Purchase"}
    usage = [r for r in rows_out if r is not credit and r["x_CostBasis"] != "subscription"]
    assert usage and {r["ChargeCategory"] for r in usage} == {"Usage"}
    _adds_up_and_validates(conn, settings, tmp_path, rows_out, out)


def test_focus_periods_in_kolkata_follow_each_rows_calendar(
    home: Path,
    conn: Conn,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The QA case (h-qatime): exported in Asia/Kolkata (+05:30), the calls of Jan 1 carried
    December's billing period (the UTC month of 18:30Z on Dec 31), so a finance tool summing January
    by BillingPeriodStart missed them; and a bill of UTC Jan 1 was given Kolkata's Jan 1 as its
    charge period, 5.5 hours before the day it was billed for."""
    write(
        session_file(home / "claude", "s1"),
        assistant("m1", "r1", "2025-12-31T20:00:00.000Z", input=1_000, output=1_000),  # Jan 1, 01:30 IST
        assistant("m2", "r2", "2026-01-31T20:00:00.000Z", input=1_000, output=1_000),  # Feb 1, 01:30 IST
    )
    ingest(conn, settings, Pricer())
    jan1 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    with write_transaction(conn):
        bucket = Bucket(jan1, jan1 + DAY_MS, cost_nanos=50_000_000, model="claude-haiku-4-5")
        replace_range(conn, "anthropic", "cost", jan1, jan1 + DAY_MS, [bucket])
    monkeypatch.setenv("COST_MCP_TIMEZONE", "Asia/Kolkata")
    out = tmp_path / "focus.csv"
    assert cli.main(["export", "--format", "focus", "--period", "2026-01", "-o", str(out)]) == 0
    capsys.readouterr()
    with out.open(newline="", encoding="utf-8") as f:
        rows = {(r["x_CostBasis"], r["SkuId"]): r for r in csv.DictReader(f)}
    periods = {
        key: (r["ChargePeriodStart"], r["ChargePeriodEnd"], r["BillingPeriodStart"], r["BillingPeriodEnd"])
        for key, r in rows.items()
    }
    assert periods == {
        # Kolkata's Jan 1, in Kolkata's January.
        ("estimated", SONNET): (
            "2025-12-31T18:30:00Z",
            "2026-01-01T18:30:00Z",
            "2025-12-31T18:30:00Z",
            "2026-01-31T18:30:00Z",
        ),
        # The bill's UTC Jan 1, in the UTC January it was billed in.
        ("billed", "claude-haiku-4-5"): (
            "2026-01-01T00:00:00Z",
            "2026-01-02T00:00:00Z",
            "2026-01-01T00:00:00Z",
            "2026-02-01T00:00:00Z",
        ),
    }


def _quantity_gaps(rows: list[dict[str, str]]) -> list[str]:
    """The FOCUS 1.0/1.2 nullability rules of the quantity columns that focus-validator 1.0 does
    not check: a Usage row (not a Correction) has a consumed and a pricing quantity and unit, a
    Purchase row a pricing one, no other category a consumed one, and a unit is set just when its
    quantity is (FOCUS_Spec specification/columns/consumedquantity.md, pricingquantity.md, ...)."""
    gaps = []
    for i, r in enumerate(rows):
        usage = r["ChargeCategory"] == "Usage" and r["ChargeClass"] != "Correction"
        purchase = r["ChargeCategory"] == "Purchase" and r["ChargeClass"] != "Correction"
        for column in ("ConsumedQuantity", "ConsumedUnit"):
            if usage != bool(r[column]):
                gaps.append(f"row {i} ({r['ChargeCategory']}, {r['x_CostBasis']}): {column}={r[column]!r}")
        for column in ("PricingQuantity", "PricingUnit"):
            if (usage or purchase) and not r[column]:
                gaps.append(f"row {i} ({r['ChargeCategory']}, {r['x_CostBasis']}): no {column}")
        if bool(r["PricingQuantity"]) != bool(r["PricingUnit"]):
            gaps.append(f"row {i}: PricingQuantity {r['PricingQuantity']!r}, unit {r['PricingUnit']!r}")
    return gaps


def test_a_bill_with_no_token_counts_states_its_quantity_in_usd_not_invented_tokens(
    home: Path,
    conn: Conn,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A cost report (here OpenAI's: an amount per day and model, no tokens, no requests) was
    exported as Usage with ConsumedQuantity, ConsumedUnit, PricingQuantity and PricingUnit empty,
    which FOCUS 1.0 and 1.2 forbid for Usage. The bill measured the usage only in dollars, so that
    is its quantity; no token count is made up for it, and the estimated rows keep their tokens."""
    _ledger(home, conn, settings)
    nov3 = NOV2 + DAY_MS
    with write_transaction(conn):
        bucket = Bucket(nov3, nov3 + DAY_MS, cost_nanos=1_250_000_000, model="gpt-4o", project="proj_web")
        replace_range(conn, "openai", "cost", nov3, nov3 + DAY_MS, [bucket])
    rows, _, out = _export(tmp_path, capsys)

    [bill] = [r for r in rows if r["SkuId"] == "gpt-4o"]
    quantities = ("ChargeCategory", "ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit")
    assert {k: bill[k] for k in (*quantities, "x_TotalTokens", "x_Requests")} == {
        "ChargeCategory": "Usage",
        "ConsumedQuantity": "1.250000000",
        "ConsumedUnit": "USD",
        "PricingQuantity": "1.250000000",
        "PricingUnit": "USD",
        "x_TotalTokens": "",
        "x_Requests": "",
    }
    [anthropic_bill] = [r for r in rows if r["x_CostBasis"] == "billed" and r["SkuId"] == SONNET]
    assert (anthropic_bill["ConsumedQuantity"], anthropic_bill["ConsumedUnit"]) == ("0.050000000", "USD")
    [estimated] = [r for r in rows if r["x_CostBasis"] == "estimated" and r["x_UnpricedRequests"] == "0"]
    assert (estimated["ConsumedQuantity"], estimated["PricingUnit"]) == ("2000", "Tokens")
    _adds_up_and_validates(conn, settings, tmp_path, rows, out)


def test_a_seat_fee_states_its_seats_as_seat_days_and_still_sums_to_the_fees(
    home: Path,
    conn: Conn,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Seat fees (FOCUS Purchase) left PricingQuantity and PricingUnit empty, which FOCUS requires
    for Purchase. A row is one day's share of the fees of a member's seats at a vendor (two seats
    nobody is named on share one row), so it states the seats held that day, in seat-days; the
    costs are the same day shares as before."""
    _ledger(home, conn, settings)  # Ana's Cursor Pro, $40 a month
    for name in ("cursor-team-1", "cursor-team-2"):
        end = "2026-11-03" if name == "cursor-team-2" else None
        subscriptions.set_subscription(
            conn, name, "cursor", Decimal(20), "monthly", "2026-11-01", end=end, today=SET_ON
        )
    rows, _, out = _export(tmp_path, capsys)

    seats = sorted(
        (r["ChargePeriodStart"], r["x_Member"], r["PricingQuantity"], r["PricingUnit"], r["BilledCost"])
        for r in rows
        if r["x_CostBasis"] == "subscription"
    )
    ana = [(q, u, c) for _, m, q, u, c in seats if m == "ana@example.com"]
    team = [(q, u, c) for _, m, q, u, c in seats if m == ""]
    assert ana == [("1", "Seat-Days", "1.333333334")] * 5
    # Two $20 seats to Nov 3 ($0.666666667 a day each), then one.
    assert team == [("2", "Seat-Days", "1.333333334")] * 3 + [("1", "Seat-Days", "0.666666667")] * 2
    assert {r["ConsumedQuantity"] for r in rows if r["x_CostBasis"] == "subscription"} == {""}
    total = _adds_up_and_validates(conn, settings, tmp_path, rows, out)
    # The fees are the same day shares as before: Ana's 5 days, the team's 3 + 2.
    assert total == Decimal("0.068") + 8 * Decimal("1.333333334") + 2 * Decimal("0.666666667")


def test_calls_of_web_searches_alone_state_their_searches_not_zero_tokens(
    home: Path,
    conn: Conn,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A day, model and project whose calls cost only their web searches (no token at all) was a Usage
    row of $0.02 for "0 Tokens": a quantity that reads as free use. Its quantity is what was
    charged for, the searches, in Requests; a row with tokens keeps counting tokens."""
    _ledger(home, conn, settings)
    write(
        session_file(home / "claude", "s2"),
        assistant("m9", "r9", "2026-11-04T10:00:00.000Z", session="s2", input=0, output=0, web_searches=2),
    )
    ingest(conn, settings, Pricer())
    rows, _, out = _export(tmp_path, capsys)

    [searches] = [r for r in rows if r["SkuId"] == SONNET and r["ChargePeriodStart"].startswith("2026-11-04")]
    quantities = ("ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit", "SkuMeter")
    assert {k: searches[k] for k in (*quantities, "BilledCost", "x_TotalTokens")} == {
        "ConsumedQuantity": "2",
        "ConsumedUnit": "Requests",
        "PricingQuantity": "2",
        "PricingUnit": "Requests",
        "SkuMeter": "Web search",
        "BilledCost": "0.020000000",
        "x_TotalTokens": "0",
    }
    [tokens] = [
        r for r in rows if r["x_CostBasis"] == "estimated" and r["ChargePeriodStart"].startswith("2026-11-03")
    ]
    assert (tokens["ConsumedQuantity"], tokens["ConsumedUnit"], tokens["SkuMeter"]) == (
        "2000",
        "Tokens",
        "Tokens",
    )
    _adds_up_and_validates(conn, settings, tmp_path, rows, out)
