"""What every billing/usage fetcher shares: the range asked for, what came back, and how it is
normalised into ledger buckets (UTC days, exact money, merged by the ledger's unique key).

A fetcher returns :class:`Feed` objects and writes nothing: the sync decides, per source, whether
everything arrived and only then writes it all in one transaction.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import anyio
import msgspec

from cost_mcp import money
from cost_mcp.errors import ProviderResponseError, UnknownModelError
from cost_mcp.periods import utc_day

# Pure pricing helpers (no ledger access): a usage bucket is priced exactly as estimate_cost
# prices a workload spread over several calls, so the two can never disagree.
from cost_mcp.pricing import Pricer, Tokens, Workload, fewest_calls, price_workload
from cost_mcp.store.buckets import DAY_MS, Bucket, BucketKind

_KEY_FIELDS = (
    "start_ms",
    "end_ms",
    "model",
    "project",
    "workspace",
    "api_key",
    "line_item",
    "service_tier",
    "member",
)
_SUM_FIELDS = tuple(f.name for f in fields(Bucket) if f.name not in _KEY_FIELDS and f.name != "cost_nanos")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Window:
    """Whole UTC days to fetch: ``[start_ms, end_ms)``, both at UTC midnight."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.start_ms % DAY_MS or self.end_ms % DAY_MS or self.end_ms <= self.start_ms:
            raise ValueError("a window is one or more whole UTC days")

    @property
    def days(self) -> int:
        """How many UTC days the window spans."""
        return (self.end_ms - self.start_ms) // DAY_MS

    def day_starts(self) -> list[int]:
        """The epoch-ms midnight of every day in the window, oldest first."""
        return list(range(self.start_ms, self.end_ms, DAY_MS))

    @property
    def start(self) -> datetime:
        """The first instant, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.start_ms / 1000, UTC)

    @property
    def end(self) -> datetime:
        """The instant after the last day, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.end_ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class Feed:
    """What one report said for a window: buckets of one kind and the days it covered completely.

    ``provider`` is the id the buckets are stored under; ``start_ms == end_ms`` means the report
    covered no day (nothing is written, nothing is marked covered). ``note`` is a short human line
    about what is not spend or not synced (a key's limit, a balance, a degraded mode): the sync
    keeps it in the source's detail, which results show beside the source's freshness.
    """

    provider: str
    kind: BucketKind
    start_ms: int
    end_ms: int
    buckets: tuple[Bucket, ...]
    note: str = ""

    @property
    def days(self) -> int:
        """UTC days covered."""
        return (self.end_ms - self.start_ms) // DAY_MS

    @property
    def cost_nanos(self) -> int:
        """Sum of the priced buckets, in nano-USD."""
        return sum(b.cost_nanos or 0 for b in self.buckets)


def not_usd(what: str, currency: str, provider: str) -> ProviderResponseError:
    """The refusal of a bill in another currency than US dollars: what reported it, that its bill is
    then in no total, and what to do. The sync fails, so every answer covering ``provider`` says
    what it lacks; the fix does not pass by itself, so the error names its own (no "sync again")."""
    return ProviderResponseError(
        f"{what} reported an amount in {currency!r}, not USD: cost-mcp totals US dollars and does not "
        f"convert without the bill's own rate, so {provider}'s bill is in no total; count it from the "
        f"invoice, and set COST_MCP_SYNC_SKIP={provider} to stop syncing it"
    )


def day_floor(ms: int) -> int:
    """The UTC midnight at or before ``ms``."""
    return ms - ms % DAY_MS


def day_ms(d: date) -> int:
    """The epoch-ms UTC midnight starting date ``d``."""
    return (d.toordinal() - date(1970, 1, 1).toordinal()) * DAY_MS


def covered(window: Window, bucket_days: Iterable[int], what: str) -> tuple[int, int]:
    """The days a report covered: from its first to its last day bucket, within the window.

    Reports list every day of the range, empty ones included, so the span of the buckets that came
    back is what the report vouches for. A report that returned no bucket covers nothing: a day it
    did not list (today, before the provider has opened its bucket) must not be marked covered.
    Nor may a day missing between two listed ones: that is a ProviderResponseError naming ``what``
    (a page of the listing was lost), never a day covered with nothing billed.

    A day listed twice (a page served again under a fresh cursor, which the cursor check cannot
    see) is a ProviderResponseError naming ``what``: its results would otherwise be summed into
    the same ledger rows and the day's bill counted twice.
    """
    listed = list(bucket_days)
    seen: set[int] = set()
    for day in listed:
        if day in seen:
            shown = utc_day(day)
            raise ProviderResponseError(
                f"{what} listed the day {shown} twice; stopped rather than count its amounts twice"
            )
        seen.add(day)
    days = sorted(d for d in listed if window.start_ms <= d < window.end_ms)
    if not days:
        return window.start_ms, window.start_ms
    for before, after in itertools.pairwise(days):
        if after - before > DAY_MS:
            # Days left out between listed ones are a page that went missing (a cursor the API
            # lost), not days with nothing billed: covered, they would replace what was synced.
            first, last = before + DAY_MS, after - DAY_MS
            gap = (
                utc_day(first)
                if first == last
                else f"{(after - before) // DAY_MS - 1} days ({utc_day(first)} to {utc_day(last)})"
            )
            raise ProviderResponseError(
                f"{what} did not list {gap} between the days it listed (a page of its answer went "
                "missing); stopped rather than take them as days with nothing billed"
            )
    return days[0], days[-1] + DAY_MS


def merge(buckets: Iterable[Bucket]) -> tuple[Bucket, ...]:
    """Buckets with the same ledger key summed into one (counts added; a cost stays unknown if any
    part of it is unknown, never silently 0)."""
    merged: dict[tuple[object, ...], Bucket] = {}
    for b in buckets:
        key = tuple(getattr(b, name) for name in _KEY_FIELDS)
        seen = merged.get(key)
        if seen is None:
            merged[key] = b
            continue
        sums: dict[str, Any] = {name: getattr(seen, name) + getattr(b, name) for name in _SUM_FIELDS}
        cost = None if seen.cost_nanos is None or b.cost_nanos is None else seen.cost_nanos + b.cost_nanos
        merged[key] = replace(seen, cost_nanos=cost, **sums)
    return tuple(merged.values())


MAX_SYNC_DAYS = 366
"""The most days one sync fetches (``sync --days``, ``sync_providers(days=...)``)."""
REFETCH_DAYS = 3
"""Days fetched again on every sync: today keeps changing and late usage lands on recent days."""

LEDGER_MAX = 2**63 - 1
"""The most a ledger column holds (signed 64-bit: $9.2 billion in nano-USD, or 9.2e18 tokens)."""


def too_large(buckets: Sequence[Bucket]) -> str | None:
    """What in ``buckets`` the ledger's 64-bit columns cannot hold (``$1,000,000,000,000.00 on
    2026-11-30``: the largest value of the first field past the bound), or None when all fits.

    No real bill comes near $9.2 billion, so such a figure is a broken or hostile answer. Written, it
    failed mid-transaction with a traceback, on every sync and every question that syncs first, for
    all providers at once. Magnitudes are summed over all of ``buckets``, which also keeps the per-key
    sums (:func:`merge`, the upsert in ``replace_range``) and a query over their days within 64 bits.
    """
    for name in ("cost_nanos", *_SUM_FIELDS):
        values = [(abs(getattr(b, name) or 0), b) for b in buckets]
        if sum(v for v, _ in values) <= LEDGER_MAX:
            continue
        _, bucket = max(values, key=lambda vb: vb[0])
        day = utc_day(bucket.start_ms)
        if name == "cost_nanos":
            return f"{money.format_usd(money.from_nanos(bucket.cost_nanos or 0))} on {day}"
        return f"{getattr(bucket, name):,} {name.replace('_', ' ')} on {day}"
    return None


def check_storable(feed: Feed) -> None:
    """Refuse (ProviderResponseError naming the report, the day and the value) a feed whose amounts
    or counts the ledger cannot hold: see :func:`too_large`. Nothing of the source is written."""
    found = too_large(feed.buckets)
    if found is not None:
        what = f"{feed.provider} {'billing' if feed.kind == 'cost' else 'usage'} report"
        raise ProviderResponseError(
            f"unexpected response: the {what} has {found}, more than the ledger holds "
            "(64-bit: $9.2 billion, 9.2e18 tokens): not a real bill, so nothing was written"
        )


def price_usage(
    pricer: Pricer,
    tokens: Tokens,
    model: str,
    provider: str,
    at_ms: int,
    *,
    requests: int | None = None,
    max_input_per_call: int | None = None,
) -> int | None:
    """Estimated nano-USD for a usage bucket, priced at its start; None when the model is unknown.

    A day bucket sums many calls, and prices are per call: long-context tiers (Anthropic's >200k
    rule) apply to a call whose own input passes a threshold, never to a day's total. So the
    tokens are spread evenly over ``requests`` calls when the report counts them (OpenAI), else over
    the fewest calls that keep each within ``max_input_per_call`` (Anthropic reports which context
    window its calls fell in), else within the model's standard context window. An even spread is
    an approximation: a day with one huge call among many small ones is priced as average calls.
    Web searches on a model the price data has no search rate for make the bucket unpriced rather
    than free.
    """
    if tokens.total == 0 and tokens.web_search_requests == 0:
        return 0
    if requests is not None and requests > 0:
        n = requests
    elif max_input_per_call:
        n = max(1, -(-tokens.total_input // max_input_per_call))
    else:
        n = fewest_calls(tokens, model, provider)
    at = datetime.fromtimestamp(at_ms / 1000, UTC)
    try:
        price = price_workload(pricer, Workload(tokens, n), model, provider, at)
    except UnknownModelError:
        return None
    if tokens.web_search_requests and price.by_kind and price.by_kind["web_search_requests"] <= 0:
        return None
    return price.total_nanos


# --- typed answers: provider responses decoded into msgspec structs -------------------------------
#
# Each fetcher declares the fields it reads as msgspec structs and decodes a page once with
# :func:`decode`; unknown fields are ignored (reports gain fields over time). Three field types
# keep the leniency the reports need while refusing what would store a wrong figure: counts and
# names may arrive as strings or numbers, amounts as numbers or decimal strings, never as floats.


class Count(int):
    """A count: an int, an integral decimal (``5.0``) or a numeric string (``"5"``); null is 0."""


class Text(str):
    """A name or id (a model, a project, a date): a string, or a number's digits; null is ''."""


class Amount(Decimal):
    """A money amount, exact: a JSON number (decoded as Decimal or int) or a decimal string.

    Null, a bool, a float or anything else is refused (:func:`cost_mcp.money.parse_amount`); a
    field that may be absent is declared ``Amount | None``."""


S = TypeVar("S")
_AT = " - at `"
_SHOWN = 200


def _count(value: object) -> Count:
    if value is None:
        return Count(0)
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise ValueError(f"expected a count, got {value!r}")
    if isinstance(value, int):
        return Count(value)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except ArithmeticError:
        raise ValueError(f"expected a count, got {value!r}") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"expected a whole count, got {value!r}")
    return Count(int(number))


def _text(value: object) -> Text:
    if value is None:
        return Text("")
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ValueError(f"expected a string, got {value!r}")
    return Text(value if isinstance(value, str) else str(value))


def _lenient(kind: type, value: object) -> object:
    """msgspec's decode hook for the three field types above (a ValueError becomes its
    ValidationError, with the location). The usual values (a str, an int) take the short way."""
    if kind is Text:
        return Text(value) if type(value) is str else _text(value)
    if kind is Count:
        return Count(value) if type(value) is int else _count(value)
    if kind is Amount:
        return Amount(money.parse_amount(value))
    raise NotImplementedError(kind)


def decode(value: object, shape: type[S], what: str) -> S:
    """``value`` (a decoded JSON answer) as the struct ``shape``, or ProviderResponseError naming
    ``what`` (the path asked), the field and where it is: ``unexpected response: /v1/x data is not
    a list (at $.data)``."""
    try:
        return msgspec.convert(value, type=shape, dec_hook=_lenient)
    except msgspec.ValidationError as exc:
        raise ProviderResponseError(f"unexpected response: {what}{_explain(str(exc))}") from None


def _explain(message: str) -> str:
    """msgspec's ``Expected `array`, got `str` - at `$.data``` as `` data is not a list (at $.data)``."""
    text, _, where = message.partition(_AT)
    text = text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"  # a value may be a whole object
    where = where.rstrip("`")
    # A dict value's location ends in "[...]", whose dots are not separators.
    field = where.replace("[...]", "[*]").rsplit(".", 1)[-1] if where and where != "$" else ""
    name = f" {field}" if field else ""
    if text.startswith(("Expected `array`, got", "Expected `array | null`, got")):
        said = f"{name} is not a list"
    elif text.startswith(("Expected `object`, got", "Expected `object | null`, got")):
        said = f"{name} is not an object"
    elif text.startswith("Object missing required field `"):
        said = f"{name} has no {text.split('`')[1]}"
    else:
        said = f"{name}: {text[:1].lower()}{text[1:]}"
    return f"{said} (at {where})" if where else said


def as_str(value: object) -> str:
    """A dimension from an untyped row (Azure's columns); null means '' (not grouped by it)."""
    return "" if value is None else str(value)


async def gather(calls: Sequence[Callable[[], Awaitable[T]]], *, limit: int) -> list[T]:
    """Run ``calls`` concurrently, at most ``limit`` at a time, and return their results in order.

    The first failure cancels the others and is raised as itself (not wrapped in an exception
    group), so callers see the one error that explains what went wrong.
    """
    results: dict[int, T] = {}
    errors: list[Exception] = []
    limiter = anyio.CapacityLimiter(limit)

    async def run(i: int, call: Callable[[], Awaitable[T]], scope: anyio.CancelScope) -> None:
        async with limiter:
            try:
                results[i] = await call()
            except Exception as exc:
                errors.append(exc)
                scope.cancel()

    async with anyio.create_task_group() as tg:
        for i, call in enumerate(calls):
            tg.start_soon(run, i, call, tg.cancel_scope)
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(calls))]
