"""The ledger's spend as FinOps FOCUS rows, for finance tools (FOCUS 1.0 columns plus the 1.2 additions).

Rows come from `get_spend` grouped by day, provider, model, project, member and basis, so the file sums to
exactly the total every other view shows: billed amounts where a provider bills, estimates elsewhere,
seats as recurring purchases and a bill that came to less than zero as a credit; nothing is counted
twice. FOCUS has no notion of an estimate, so every row also carries `x_CostBasis` (billed |
estimated | subscription) and estimated rows say so in `ChargeDescription`. A row whose calls have no
known price keeps its priced part and counts the rest in `x_UnpricedRequests`: FOCUS costs cannot be
null, and an unknown price must not read as $0.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path

from cost_mcp.analytics import subscriptions
from cost_mcp.analytics.spend import get_spend
from cost_mcp.config import Settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.models import SpendRow
from cost_mcp.periods import Period
from cost_mcp.store.connection import Conn

# FOCUS 1.0 columns, in the specification's order (the validator's spelling: `ResourceID`).
FOCUS_1_0 = (
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuer",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "Provider",
    "Publisher",
    "RegionId",
    "RegionName",
    "ResourceID",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
)
# What FOCUS 1.1 and 1.2 added (1.2 renames Provider, Publisher and InvoiceIssuer to *Name; both are
# written so 1.0 and 1.2 readers each find theirs).
FOCUS_1_2_ADDED = (
    "BillingAccountType",
    "InvoiceId",
    "InvoiceIssuerName",
    "PricingCurrency",
    "ProviderName",
    "PublisherName",
    "SkuMeter",
    "SubAccountType",
)
EXTENSIONS = ("x_CostBasis", "x_Agent", "x_Member", "x_Requests", "x_UnpricedRequests", "x_TotalTokens")
COLUMNS = (*FOCUS_1_0, *FOCUS_1_2_ADDED, *EXTENSIONS)

DIMENSIONS = ("day", "provider", "model", "project", "member", "basis")

# Display names of the providers we sync or price; anything else is shown as its id.
PROVIDER_NAMES = {
    "anthropic": "Anthropic",
    "openai": "OpenAI",
    "openrouter": "OpenRouter",
    "groq": "Groq",
    "cursor": "Cursor",
    "google": "Google",
    "azure": "Microsoft",
    "aws": "AWS",
}


@dataclass
class FocusExport:
    """FOCUS rows of a period, and what could not be put in them."""

    rows: list[dict[str, str]] = field(default_factory=list)
    unpriced_requests: int = 0


def focus_rows(conn: Conn, settings: Settings, p: Period) -> FocusExport:
    """The spend of period ``p`` as FOCUS rows, one per day, provider, model, project, member and basis."""
    # SkuId names what each source logged: one model's ids stay apart (get_spend merges them).
    result = get_spend(conn, settings, p, DIMENSIONS, take_alerts=False, models_as_logged=True)
    seats = _seats(conn, p)
    out = FocusExport()
    for row in result.rows:
        out.unpriced_requests += row.unpriced_requests
        g = row.group
        out.rows.append(_row(row, p, seats[g.get("day"), g.get("provider"), g.get("member")]))
    return out


def _seats(conn: Conn, p: Period) -> Counter[tuple[str | None, str | None, str | None]]:
    """How many seats (subscriptions) each day, vendor and member of ``p`` holds: get_spend sums the
    fees of one member's (or of no one's) seats at a vendor into one row and counts no quantity."""
    seats: Counter[tuple[str | None, str | None, str | None]] = Counter()
    for sub in subscriptions.all_subscriptions(conn):
        for day, _ in subscriptions.daily_nanos(sub, p.first_day, p.last_day):
            seats[day.isoformat(), sub.vendor, sub.member] += 1
    return seats


def _row(row: SpendRow, p: Period, seats: int) -> dict[str, str]:
    g = row.group
    provider = g.get("provider") or "unknown"
    name = PROVIDER_NAMES.get(provider, provider)
    model = g.get("model")
    project = g.get("project")
    # A bill's day is a UTC day (get_spend puts it on its UTC date); every other row's day is a
    # local one. Each row's billing period is the month of its day in the same calendar, so it holds
    # the charge period and sums by month as `report` does: in Kolkata, Jan 1's calls were given
    # December (the UTC month of 18:30Z on Dec 31) and a bill of UTC Jan 1 Kolkata's Jan 1.
    zone = UTC if row.basis == "billed" else p.tz
    charge_start, charge_end = _day_window(g.get("day"), p, zone)
    first = charge_start.astimezone(zone).date().replace(day=1)
    billing_start = datetime.combine(first, time(), zone).astimezone(UTC)
    billing_end = datetime.combine((first + timedelta(days=32)).replace(day=1), time(), zone).astimezone(UTC)
    # FOCUS costs are numbers, never empty: calls with no known price count 0 here, and the
    # export says how many there were (FocusExport.unpriced_requests).
    amount = row.cost_usd or Decimal(0)
    cost = _decimal(amount)
    seat = row.basis == "subscription"
    # A bill's day, model and project that came to less than zero is a provider's credit (or a
    # refund) larger than what was used: FOCUS's Credit, not Usage, which must carry the quantity
    # consumed (ConsumedQuantity MUST be null for any other category). Estimates and seat fees are
    # never negative. The row stays one row: its amount is what the bill says, so sums still match.
    credit = amount < 0
    tokens = row.tokens.total_tokens if row.tokens is not None else None
    # FOCUS 1.0 and 1.2: a Usage row (not a Correction) MUST carry a consumed and a pricing
    # quantity and unit, a Purchase row a pricing one, and no other category a consumed one. Calls
    # count tokens. A bill counts only money: a provider's cost report gives an amount per day,
    # model and project, no tokens or requests (get_spend counts neither for it), so its quantity is
    # what the bill measured, its amount in USD (as FOCUS counts a spend-based commitment in its
    # currency); tokens from usage reports or logs would be counts the bill never made. A seat fee's
    # row is that day's share of each seat's fee (subscriptions.daily_nanos): one seat-day a seat.
    # Calls that used no token but searched the web state the searches they were charged for:
    # "0 Tokens" for $0.02 read as free use.
    searches = row.tokens.web_search_requests if row.tokens is not None else 0
    meter = "Tokens"
    if seat:
        consumed, pricing = None, (str(seats), "Seat-Days")
    elif credit:
        consumed = pricing = None
    elif tokens is not None and (tokens > 0 or not searches):
        consumed = pricing = (str(tokens), "Tokens")
    elif searches:
        consumed = pricing = (str(searches), "Requests")
        meter = "Web search"
    else:
        consumed = pricing = (cost, "USD")
    description = {
        "billed": f"{name} credit or refund, as billed" if credit else f"{name} usage, as billed",
        "estimated": f"{name} usage, estimated: tokens x list price (no bill synced for this day)",
        "subscription": f"{name} subscription fee, spread over the days of its billing period",
    }[row.basis]
    category, frequency = (
        ("Purchase", "Recurring") if seat else ("Credit", "One-Time") if credit else ("Usage", "Usage-Based")
    )
    values = {
        "BilledCost": cost,
        "BillingAccountId": provider,
        "BillingAccountName": name,
        "BillingAccountType": "Provider account",
        "BillingCurrency": "USD",
        "BillingPeriodEnd": _iso(billing_end),
        "BillingPeriodStart": _iso(billing_start),
        "ChargeCategory": category,
        "ChargeDescription": description,
        "ChargeFrequency": frequency,
        "ChargePeriodEnd": _iso(charge_end),
        "ChargePeriodStart": _iso(charge_start),
        "ConsumedQuantity": "" if consumed is None else consumed[0],
        "ConsumedUnit": "" if consumed is None else consumed[1],
        "ContractedCost": cost,
        "EffectiveCost": cost,
        "InvoiceIssuer": name,
        "InvoiceIssuerName": name,
        "ListCost": cost,
        "PricingCategory": "Standard",
        "PricingCurrency": "USD",
        "PricingQuantity": "" if pricing is None else pricing[0],
        "PricingUnit": "" if pricing is None else pricing[1],
        "Provider": name,
        "ProviderName": name,
        "Publisher": name,
        "PublisherName": name,
        "ResourceID": model or "",
        "ResourceName": model or "",
        "ResourceType": "Subscription" if seat else "Model",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": f"{name} subscriptions" if seat else f"{name} API",
        "SkuId": model or provider,
        "SkuMeter": "" if seat or credit else meter,
        "SkuPriceId": f"{provider}:{model or 'all'}",
        "SubAccountId": project or "",
        "SubAccountName": project or "",
        "SubAccountType": "Project" if project else "",
        "Tags": json.dumps({k: v for k, v in (("member", g.get("member")), ("basis", row.basis)) if v}),
        "x_CostBasis": row.basis,
        "x_Agent": "",
        "x_Member": g.get("member") or "",
        "x_Requests": "" if row.requests is None else str(row.requests),
        "x_UnpricedRequests": str(row.unpriced_requests),
        "x_TotalTokens": "" if row.tokens is None else str(row.tokens.total_tokens),
    }
    return {c: values.get(c, "") for c in COLUMNS}


def _day_window(day: str | None, p: Period, zone: tzinfo) -> tuple[datetime, datetime]:
    """A day of the period, in ``zone``'s calendar, as its UTC instants; the whole period when the
    day is not known."""
    if day is None:
        return datetime.fromtimestamp(p.start_ms / 1000, UTC), datetime.fromtimestamp(p.end_ms / 1000, UTC)
    local = date.fromisoformat(day)
    start = datetime.combine(local, time(), zone).astimezone(UTC)
    end = datetime.combine(local + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decimal(value: object) -> str:
    # Plain notation, never exponent form: `0E-9` is a number to Python but not to every CSV reader.
    return format(value, "f")


# --- Parquet (the `parquet` extra: pyarrow) ---------------------------------------------------------

DECIMAL_COLUMNS = (
    "BilledCost",
    "ConsumedQuantity",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "ListCost",
    "ListUnitPrice",
    "PricingQuantity",
)
"""FOCUS's Decimal columns: money and quantities."""
COUNT_COLUMNS = ("x_Requests", "x_UnpricedRequests", "x_TotalTokens")
TIME_COLUMNS = ("BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart")
PARQUET_NEEDS = "a Parquet FOCUS file needs pyarrow: pip install 'cost-mcp[parquet]' (or write .csv)"


def write_parquet(export: FocusExport, path: Path) -> None:
    """The rows as a Parquet file with FOCUS's column types: costs and quantities as exact decimals
    (decimal128, 9 places: nano-USD, never a float), periods as UTC timestamps, counts as integers,
    and an empty cell as null (FOCUS's "no value"). Raises InvalidInputError without pyarrow."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InvalidInputError(PARQUET_NEEDS) from None

    money = pa.decimal128(38, 9)

    def column(name: str) -> pa.Array:
        cells = [row[name] for row in export.rows]
        if name in DECIMAL_COLUMNS:
            return pa.array([Decimal(c) if c else None for c in cells], type=money)
        if name in COUNT_COLUMNS:
            return pa.array([int(c) if c else None for c in cells], type=pa.int64())
        if name in TIME_COLUMNS:
            moments = [
                datetime.strptime(c, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if c else None for c in cells
            ]
            return pa.array(moments, type=pa.timestamp("ms", tz="UTC"))
        return pa.array([c or None for c in cells], type=pa.string())

    table = pa.Table.from_arrays([column(c) for c in COLUMNS], names=list(COLUMNS))
    pq.write_table(table, path)
