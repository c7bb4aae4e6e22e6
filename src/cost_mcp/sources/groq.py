"""Groq: token usage per day, model and project, from the Prometheus metrics API, priced as estimated.

Groq has no billing or cost API. What it has (Enterprise plan only) is a Prometheus-compatible
metrics API whose series are *rates*: recording rules such as ``model_project_id:tokens_in:rate5m``
hold the per-second rate averaged over the last 5 minutes, broken out by model and project. Rates
are not counters, so ``increase()`` does not apply; daily totals are approximated by integration:

- ``query_range`` with ``step=300s`` (one sample per 5-minute window) returns, at each step end
  ``t``, the average rate over ``(t - 300 s, t]``; that window holds ``rate × 300`` tokens.
- A day ``D`` is the samples at ``D + 300 s, D + 600 s, … D + 86,400 s``, i.e. the windows that
  start inside the day. Sample values are decimal strings, summed exactly as Decimal; the day's
  total is rounded ONCE, half-even, to a whole number of tokens (requests likewise).
- Approximation: the result is exact only if the recorded rate is the true 5-minute average at each
  step; samples the metrics store misses (a gap, a late recording) count as no use, and today's
  last step may repeat the latest rate up to 5 minutes ahead. Prompt cache hits are not broken out
  in tokens, so cached input is priced as input (an estimate on the high side).

The totals are stored as kind 'usage' buckets priced with genai-prices under provider ``groq``;
a model it does not know stays unpriced, never $0. Ranges are queried at most
:data:`CHUNK_DAYS` days at a time (2,880 samples a series, well under Prometheus' 11,000-point
limit). An organisation without the metrics entitlement gets :data:`NO_METRICS`, an error, not an
empty success that would read as "no Groq use".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from cost_mcp.errors import ProviderAuthError, ProviderResponseError, SourceError
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources.billing import Feed, Text, Window, decode, gather, price_usage
from cost_mcp.sources.paging import Json
from cost_mcp.store.buckets import DAY_MS, Bucket

if TYPE_CHECKING:
    from cost_mcp.sources.http import ProviderClient

PROVIDER = "groq"
KEY_HINT = (
    "a Groq API key, gsk_…, of an organisation on the Enterprise plan (the metrics API is Enterprise only)"
)
QUERY_RANGE_PATH = "/v1/metrics/prometheus/api/v1/query_range"
STEP_SECONDS = 300
CHUNK_DAYS = 10
CONCURRENCY = 3
METRICS: dict[str, str] = {
    "input": "model_project_id:tokens_in:rate5m",
    "output": "model_project_id:tokens_out:rate5m",
    "requests": "model_project_id_status_code:requests:rate5m",
}
"""What is summed, per model and project: input tokens, output tokens, and requests (all status
codes; a failed request still used tokens if it reports any)."""
NO_METRICS = (
    "Groq's metrics API needs the Enterprise plan; usage from Groq cannot be synced: "
    "{path} answered HTTP {status} for GROQ_API_KEY. Ask Groq to enable Prometheus metrics for the "
    "organisation, or set COST_MCP_SYNC_SKIP=groq to stop trying (your apps keep their key); calls "
    "reported with record_usage(provider='groq') are still counted as estimates"
)
BAD_KEY = (
    "Groq refused GROQ_API_KEY ({path} answered HTTP 401): check the key (gsk_…); "
    "note that Groq's metrics API is also only open to Enterprise organisations"
)

Series = tuple[str, str]
"""(model, project_id)"""


class _Series(msgspec.Struct):
    metric: dict[str, Text] | None = None
    values: list[tuple[Any, Any]] | None = None
    """(time, value) pairs: Unix seconds and a decimal string, read by _seconds and _rate."""


class _Matrix(msgspec.Struct, rename="camel"):
    result_type: Text = Text("")
    result: list[_Series] = []


class QueryRange(msgspec.Struct, rename="camel"):
    """A Prometheus ``query_range`` answer (the fields read)."""

    status: Text = Text("")
    error_type: Text = Text("")
    error: Text = Text("")
    data: _Matrix | None = None


def auth_headers(key: str) -> dict[str, str]:
    """Groq's metrics API takes the ordinary API key as a bearer token."""
    return {"Authorization": f"Bearer {key}"}


def query(metric: str) -> str:
    """Sum a metric's series per model and project, whatever other labels (status code...) it has."""
    return f"sum by (model, project_id) ({metric})"


def chunks(window: Window) -> Iterator[tuple[int, int]]:
    """``window`` in pieces of at most :data:`CHUNK_DAYS` whole days, as [start, end) in ms."""
    for start in range(window.start_ms, window.end_ms, CHUNK_DAYS * DAY_MS):
        yield start, min(start + CHUNK_DAYS * DAY_MS, window.end_ms)


def step_samples(body: Json, start_ms: int, end_ms: int) -> Iterator[tuple[Series, int, Decimal]]:
    """(series, UTC day, tokens or requests in that step) for every sample of a query_range answer
    whose 5-minute window starts inside ``[start_ms, end_ms)``.

    Raises ProviderResponseError on a Prometheus error body, an unexpected result type, or a sample
    that is not a finite, non-negative number. ``NaN`` samples (no value) are skipped.
    """
    answer = decode(body, QueryRange, QUERY_RANGE_PATH)
    if answer.status != "success":
        kind = answer.error_type or "error"
        raise ProviderResponseError(
            f"{QUERY_RANGE_PATH} answered status {answer.status!r} ({kind}: {answer.error[:200]})"
        )
    if answer.data is None:
        raise ProviderResponseError(f"unexpected response: {QUERY_RANGE_PATH} has no data")
    if answer.data.result_type != "matrix":
        raise ProviderResponseError(
            f"{QUERY_RANGE_PATH} returned a {answer.data.result_type!r} result, not a matrix"
        )
    for entry in answer.data.result:
        labels = entry.metric or {}
        series = (labels.get("model", ""), labels.get("project_id", ""))
        for ts, value in entry.values or []:
            window_start_ms = _seconds(ts) * 1000 - STEP_SECONDS * 1000
            if not start_ms <= window_start_ms < end_ms:
                continue
            rate = _rate(value)
            if rate is None:
                continue
            day = window_start_ms - window_start_ms % DAY_MS
            yield series, day, rate * STEP_SECONDS


def _seconds(ts: object) -> int:
    # Prometheus timestamps are Unix seconds, possibly with a fraction ("1731456000.000").
    if isinstance(ts, bool) or not isinstance(ts, (str, int, Decimal)):
        raise ProviderResponseError(f"unexpected response: a sample time {str(ts)[:40]!r}")
    try:
        number = Decimal(str(ts))
    except ArithmeticError:
        raise ProviderResponseError(f"unexpected response: a sample time {str(ts)[:40]!r}") from None
    if not number.is_finite():
        raise ProviderResponseError(f"unexpected response: a sample time {str(ts)[:40]!r}")
    return int(number.to_integral_value(rounding=ROUND_HALF_EVEN))


def _rate(value: object) -> Decimal | None:
    # Sample values are strings ("2.5"); numbers are accepted too. NaN means "no value".
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ProviderResponseError(f"unexpected response: a sample value {value!r}")
    try:
        rate = Decimal(str(value).strip())
    except ArithmeticError:
        raise ProviderResponseError(f"unexpected response: a sample value {str(value)[:40]!r}") from None
    if rate.is_nan():
        return None
    if not rate.is_finite() or rate < 0:
        raise ProviderResponseError(f"unexpected response: a rate of {str(value)[:40]!r}")
    return rate


async def fetch_metric(client: ProviderClient, metric: str, start_ms: int, end_ms: int) -> Json:
    """One metric over one chunk: steps ending at start + 5 min ... end, every 5 minutes."""
    params: list[tuple[str, str | int]] = [
        ("query", query(metric)),
        ("start", start_ms // 1000 + STEP_SECONDS),
        ("end", end_ms // 1000),
        ("step", f"{STEP_SECONDS}s"),
    ]
    try:
        return await client.get_json(QUERY_RANGE_PATH, params)
    except SourceError as exc:
        if exc.status in (403, 404):
            raise ProviderAuthError(
                NO_METRICS.format(path=QUERY_RANGE_PATH, status=exc.status), status=exc.status
            ) from None
        if exc.status == 401:
            raise ProviderAuthError(BAD_KEY.format(path=QUERY_RANGE_PATH), status=401) from None
        raise


def whole(total: Decimal) -> int:
    """A day's summed tokens or requests as a whole number, rounded once, half-even."""
    return int(total.to_integral_value(rounding=ROUND_HALF_EVEN))


async def fetch(client: ProviderClient, pricer: Pricer, window: Window) -> list[Feed]:
    """Daily usage per model and project over ``window``, priced as estimated.

    Every day of the window is covered, with or without use: Prometheus answered for the whole
    range, and a day with no samples had no traffic (or is older than Groq keeps metrics for, which
    Groq does not document).
    """
    calls = [
        (name, start, end, partial(fetch_metric, client, metric, start, end))
        for start, end in chunks(window)
        for name, metric in METRICS.items()
    ]
    bodies = await gather([call for *_, call in calls], limit=CONCURRENCY)
    sums: dict[tuple[int, Series], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for (name, start, end, _), body in zip(calls, bodies, strict=True):
        for series, day, amount in step_samples(body, start, end):
            sums[(day, series)][name] += amount
    buckets: list[Bucket] = []
    for (day, (model, project)), parts in sorted(sums.items()):
        tokens = Tokens(input=whole(parts["input"]), output=whole(parts["output"]))
        requests = whole(parts["requests"])
        if tokens.total == 0 and requests == 0:
            continue
        buckets.append(
            Bucket(
                start_ms=day,
                end_ms=day + DAY_MS,
                cost_nanos=price_usage(pricer, tokens, model, PROVIDER, day, requests=requests),
                model=model,
                project=project,
                line_item="metrics (5-minute rates)",
                requests=requests,
                input_tokens=tokens.input,
                output_tokens=tokens.output,
            )
        )
    return [Feed(PROVIDER, "usage", window.start_ms, window.end_ms, tuple(buckets))]
