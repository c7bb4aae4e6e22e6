"""Exact money.

Storage holds integer nano-USD (1e-9 USD): sums in SQL stay exact and an int64 holds $9.2 billion.
Code holds :class:`~decimal.Decimal`. Floats never take part in arithmetic; the only float is the
JSON number a result is displayed as (:data:`USD`), produced once from an exact value.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

NANOS_PER_USD = 1_000_000_000
_NANO = Decimal("0.000000001")
ZERO = Decimal(0)


def to_nanos(usd: Decimal) -> int:
    """USD as integer nano-USD, rounding half-even below a billionth of a dollar."""
    return int((usd * NANOS_PER_USD).to_integral_value(rounding=ROUND_HALF_EVEN))


PICOS_PER_NANO = 1_000


def pico_to_nanos(pico: int) -> int:
    """Integer pico-USD (how prices are computed) to nano-USD (how they are stored), half-even."""
    q, r = divmod(pico, PICOS_PER_NANO)
    if r * 2 > PICOS_PER_NANO or (r * 2 == PICOS_PER_NANO and q % 2):
        q += 1
    return q


def pico_to_usd(pico: int) -> Decimal:
    """Integer pico-USD as an exact Decimal amount of USD."""
    return Decimal(pico).scaleb(-12) if pico else Decimal(0)


def from_nanos(nanos: int) -> Decimal:
    """Integer nano-USD back to an exact Decimal amount of USD."""
    # The same digits and exponent (-9) as dividing by 10^9 and quantizing to the nano, without
    # the division: a year's breakdown by session converts thousands of these.
    return Decimal(nanos).scaleb(-9)


def parse_usd(value: str | int | Decimal) -> Decimal:
    """Parse an amount given as a decimal string, an int or a Decimal (never a float).

    Raises ValueError with the offending value when it is not a finite number.
    """
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return amount


def cents_to_usd(cents: Decimal) -> Decimal:
    """Provider amounts in cents (Anthropic cost_report, Cursor chargedCents) to USD."""
    return cents / 100


def parse_amount(value: object) -> Decimal:
    """A provider's money amount, exactly: a JSON number decoded as Decimal or int (never a float),
    or a numeric string. Anything else, missing included, is a ValueError naming the value: a
    wrong amount must never become $0. Provider answers are decoded through this (see
    ``sources.billing.Amount``), so a bad amount is refused where it is read."""
    if value is None or isinstance(value, (bool, float)) or not isinstance(value, (str, int, Decimal)):
        raise ValueError(f"not an amount: {value!r}")
    return parse_usd(value)


def amount_nanos(value: object, *, cents: bool = False, per_usd: Decimal | None = None) -> int:
    """A provider's money amount as exact nano-USD: the one conversion every source uses.

    ``value`` is read by :func:`parse_amount`; it is in dollars, or in cents with ``cents``
    (Anthropic's cost report, Cursor), or in another currency of which ``per_usd`` units make one
    dollar (Google's ``currency_conversion_rate``). Anything else is a ValueError.
    """
    amount = parse_amount(value)
    if cents:
        amount = cents_to_usd(amount)
    if per_usd is not None:
        if not per_usd.is_finite() or per_usd <= 0:
            raise ValueError(f"not a usable conversion rate: {per_usd!r}")
        amount = amount / per_usd
    return to_nanos(amount)


def shown_usd(amount: Decimal, places: int = 2) -> Decimal:
    """``amount`` as :func:`format_usd` shows it: rounded half-even to ``places``, or for amounts
    under a cent but above zero to as many places as it takes for a digit other than 0."""
    if amount != 0 and abs(amount) < Decimal("0.01") and places == 2:
        places = 4
    q = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    while q == 0 and amount != 0 and places < 9:
        # A call of a few tokens costs millionths of a dollar: "$0.0000" read as nothing spent.
        # Nine places always reach it (amounts are whole nano-dollars).
        places += 1
        q = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return q


def format_usd(amount: Decimal, places: int = 2) -> str:
    """Human display: `$1,234.57`; amounts under a cent but above zero show more places, as many
    as it takes for a digit other than 0 (`$0.0040`, `$0.00001`): never `$0.0000` for money spent."""
    q = shown_usd(amount, places)
    sign = "-" if q < 0 else ""
    return f"{sign}${abs(q):,.{max(places, -int(q.as_tuple().exponent))}f}"


def rounding_note(
    rows: Iterable[Decimal | None],
    total: Decimal | None,
    what: str = "rows",
    exactly: str | None = "--json gives every amount exactly",
) -> str | None:
    """A line to print under amounts shown rounded (:func:`format_usd`) when, as shown, they do not
    add up to their total as shown, else None.

    Each row and the total are rounded on their own, as an invoice line is: $3.335 three times
    shows $3.34 three times under a total of $10.00 (10.005, half-even). Nudging a row to make the
    column add up would show a figure that is no row's amount, and another view (CSV, JSON) would
    disagree with it; so the rows stay as they are and this says why they add up to a cent or two
    more or less. Unknown amounts (None) count nothing, as in the total. Rows whose exact amounts
    do not add up to the total (some left out) get no note: the line says the total is their sum.
    ``exactly`` says where to read the exact amounts (None: nowhere to point to, as on the dashboard).
    """
    if total is None:
        return None
    amounts = [r for r in rows if r is not None]
    if sum(amounts, ZERO) != total:
        return None  # not a split of the total (rows left out): rounding is not what to explain
    shown = sum((shown_usd(r) for r in amounts), ZERO)
    # Compared as a reader would: the shown rows summed, then read to the cent like the total.
    if shown_usd(shown) == shown_usd(total):
        return None
    return (
        f"{what} are each rounded on their own, so as shown they add up to {format_usd(shown)}; "
        f"{format_usd(total)} is their exact sum, rounded once" + (f" ({exactly})" if exactly else "")
    )


def shown_left(limit: Decimal, spent: Decimal) -> Decimal:
    """What is left of ``limit`` once ``spent``, as a reader works it out from the two shown
    (:func:`shown_usd`): the figure to show beside them, so "spent" and "left" add up to the limit.

    Rounded each on its own, a limit of $10.01 with $5.005 spent read "$5.00 spent, $5.00 left"
    (5.005 rounds half-even to 5.00 both times). The shown limit less the shown spent ($5.01) is
    as near the exact $5.005 as a cent allows, so it is shown instead; where it is not (a limit
    with digits below the cent), the exact amount is shown rounded. Display only: results keep
    the exact amount.
    """
    exact = limit - spent
    left = shown_usd(limit) - shown_usd(spent)
    return left if abs(left - exact) <= Decimal("0.005") else exact


UNPRICED = "unpriced"
"""How an amount with no known price is shown: never as $0.00."""


def bounded(
    text: str, unpriced: int, *, at_most: bool = False, complete: bool = True, bare_unpriced: bool = False
) -> str:
    """A budget's figure (its percent used, how far over, what is left) marked as the bound it is
    when ``unpriced`` calls count nothing against the budget, or a provider's bill it counts is
    missing (not ``complete``): at least (``≥``), or at most (``≤``) for what is left. Its spent
    amount says the same as :func:`format_cost` does ("$1.09 + unpriced"), and is marked too when
    not ``complete``. One wording for `cost-mcp budget status`, the MCP texts, the dashboard (whose
    page marks its gauges alike, web/static/app.js) and the status line, whose short form leaves a
    figure that starts :data:`UNPRICED` unmarked (``bare_unpriced``: it has no dollar amount to
    bound; the other shells mark it "≥unpriced")."""
    if (not unpriced and complete) or (bare_unpriced and text.startswith(UNPRICED)):
        return text
    return f"{'≤' if at_most else '≥'}{text}"


def format_cost(amount: Decimal | None, unpriced: int = 0, places: int = 2) -> str:
    """Human display of a cost that may be unknown in part: ``unpriced`` when nothing of it has a
    price (``amount`` None, or 0 with ``unpriced`` calls), ``$1.23 + unpriced`` when some calls have
    none, else :func:`format_usd`."""
    if amount is None or (amount == 0 and unpriced):
        return UNPRICED
    text = format_usd(amount, places)
    return f"{text} + {UNPRICED}" if unpriced else text


def known_cost(amount: Decimal, requests: int | None, unpriced: int) -> Decimal | None:
    """A group's cost as a row shows it: None when the group has calls and none of them has a
    known price (its 0 would read as $0 spent), else ``amount``, the sum of the priced ones."""
    return None if requests and unpriced >= requests else amount


def plain_usd(amount: Decimal | None) -> str:
    """Machine-readable exact dollars without an exponent (``0E-9`` is ``0.000000000``); None,
    an unknown amount, is ``unpriced``."""
    return UNPRICED if amount is None else f"{amount:f}"


def _as_number(amount: Decimal) -> float:
    # Display only: an amount quantized to nano-USD has at most 15 significant digits below
    # $1M, which a double's shortest repr reproduces exactly in JSON.
    return float(amount.quantize(_NANO))


def json_usd(amount: Decimal | None) -> float | None:
    """Money in machine output (MCP results, `--json`, `export --format json`): a JSON number of
    dollars exact to 1e-9 below $1M (a double's 15 digits; above, exact to the cent), or null when
    the price is unknown. CSV cells use :func:`plain_usd`, exact at any size."""
    return None if amount is None else _as_number(amount)


def _usd_type() -> Any:
    from pydantic import PlainSerializer, WithJsonSchema

    return Annotated[
        Decimal,
        PlainSerializer(_as_number, return_type=float, when_used="json"),
        WithJsonSchema({"type": "number", "description": "US dollars (exact to 1e-9)."}),
    ]


if TYPE_CHECKING:
    USD = Annotated[Decimal, "US dollars (exact to 1e-9), a JSON number on the wire"]
    """A money amount in a result model: exact Decimal in Python, a JSON number on the wire."""
else:

    def __getattr__(name: str) -> object:
        # USD is built on first use: it needs pydantic, which the status line's hot path (money
        # helpers only) must not import.
        if name == "USD":
            globals()["USD"] = value = _usd_type()
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
