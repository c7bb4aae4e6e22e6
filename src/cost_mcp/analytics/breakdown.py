"""Which models cost the most, how that moved, and the at-a-glance summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from cost_mcp.analytics import rows
from cost_mcp.analytics.budgets import departed_notes, list_budgets, states_of, with_missing_bills
from cost_mcp.analytics.spend import (
    Filters,
    Lacking,
    get_spend,
    log_read_warnings,
    period_info,
)
from cost_mcp.analytics.vocabulary import NOT_REPORTED, group_name, model_key
from cost_mcp.config import Settings
from cost_mcp.models import ModelBreakdown, ModelRow, SpendResult
from cost_mcp.money import bounded, format_cost, format_usd, known_cost
from cost_mcp.periods import Period, baseline, resolve_period
from cost_mcp.store.connection import Conn


@dataclass
class _Acc:
    provider: str | None
    cost: Decimal = Decimal(0)
    requests: int | None = None
    unpriced: int = 0
    tokens: list[int] | None = field(default_factory=lambda: [0, 0, 0, 0])
    """None once any part is a billed amount with no token counts: a sum of the other parts would
    read as the model's whole use (a billed-only model showed 0 tokens)."""
    uncounted: bool = False
    """Some part is an amount with no request count (a bill, a usage report that counts none): the
    requests of the other parts are not the model's (cost per request read as the bill's dollars
    over the one call that was counted)."""
    basis: set[str] = field(default_factory=set)
    name: str = ""
    """The model's name as get_spend shows it (its id with the most spend)."""
    ids: set[str] = field(default_factory=set)

    def unknown(self) -> bool:
        """Every call is unpriced: the cost is not known, not $0."""
        return known_cost(self.cost, None if self.uncounted else self.requests, self.unpriced) is None

    def merge(self, other: _Acc) -> None:
        self.cost += other.cost
        self.uncounted = self.uncounted or other.uncounted
        if other.requests is not None:
            self.requests = (self.requests or 0) + other.requests
        self.unpriced += other.unpriced
        if self.tokens is None or other.tokens is None:
            self.tokens = None
        else:
            self.tokens = [a + b for a, b in zip(self.tokens, other.tokens, strict=True)]
        self.basis |= other.basis
        self.ids |= other.ids
        if self.provider != other.provider:
            self.provider = None


def _by_model(result: SpendResult) -> dict[str, _Acc]:
    """The rows of ``result`` per model (:func:`vocabulary.model_key`): a model served by two
    providers is one row, and this period's row meets the previous period's under another id."""
    models: dict[str, _Acc] = {}
    for row in result.rows:
        # A seat fee has no model; "(model not reported)" read as a bill that lost its model.
        name = group_name(row.group.get("model"), row.basis, NOT_REPORTED)
        provider = row.group.get("provider")
        acc = models.setdefault(model_key(name), _Acc(provider, name=name))
        part = _Acc(
            provider,
            row.cost_usd or Decimal(0),
            row.requests,
            row.unpriced_requests,
            uncounted=row.requests is None,
            basis={row.basis},
            ids=set(row.model_ids or [name]),
        )
        if row.tokens is None:
            part.tokens = None
        else:
            t = row.tokens
            part.tokens = [
                t.input_tokens,
                t.output_tokens,
                t.cache_read_tokens,
                t.cache_write_5m_tokens + t.cache_write_1h_tokens,
            ]
        acc.merge(part)
    return models


def model_breakdown(
    conn: Conn,
    settings: Settings,
    p: Period,
    top_n: int | None = 10,
    filters: Filters | None = None,
    *,
    take_alerts: bool = True,
    window: rows.Window | None = None,
    now: datetime | None = None,
) -> ModelBreakdown:
    """Per-model spend in ``p`` with shares, per-request figures and the trend against the previous
    period of equal length (for a period in progress, its days so far against as many days before,
    see :func:`periods.baseline`); ``top_n`` models (largest first, see analytics/rows.py), from
    where ``window`` starts when given (its limit then counts, not ``top_n``), the others folded
    into one "(other)" row (:data:`rows.OTHER`); ``top_n`` and ``window`` None list every model."""
    base = baseline(p, now or datetime.now(UTC))
    prev = base.previous
    current = get_spend(conn, settings, p, ["provider", "model"], filters, take_alerts=take_alerts)
    before = get_spend(conn, settings, prev, ["provider", "model"], filters, take_alerts=False)
    now_models = _by_model(current)
    prev_models = _by_model(before)
    # A model whose calls are all unpriced (cost unknown) goes after every known cost, $0 included.
    ranked = sorted(now_models.items(), key=lambda kv: (-kv[1].cost, kv[1].unknown(), kv[1].name))
    if window is None and top_n is not None:
        window = rows.Window(top_n)
    shown = rows.page(ranked, lambda kv: kv[1].cost, window, lambda kv: kv[0])
    ranked = shown.shown
    if shown.truncated:
        rest = _Acc(None, name=rows.OTHER)
        prev_rest = _Acc(None)
        for key, acc in shown.rest:
            rest.merge(acc)
            if key in prev_models:
                prev_rest.merge(prev_models[key])
        rest.ids = set()  # the row names no model: the others' ids are theirs
        ranked = [*ranked, (rows.OTHER, rest)]
        prev_models[rows.OTHER] = prev_rest
    next_cursor, paging_notes = rows.follow(window, shown)
    total = current.total_usd
    model_rows = [_model_row(acc, prev_models.get(key), total) for key, acc in ranked]
    if shown.truncated:
        # "(other)" alone did not say how many models it sums (top_n=5 of 40 read as one more model).
        model_rows[-1] = model_rows[-1].model_copy(update={"folded_models": len(shown.rest)})
    return ModelBreakdown(
        period=current.period,
        previous_period=period_info(prev),
        total_usd=total,
        unpriced_requests=current.unpriced_requests,
        previous_total_usd=before.total_usd,
        previous_unpriced_requests=before.unpriced_requests,
        models=model_rows,
        truncated=shown.truncated,
        total_rows=shown.total_rows,
        next_cursor=next_cursor,
        sources=current.sources,
        warnings=[*current.warnings, *([base.note] if base.note else []), *paging_notes],
        alerts=current.alerts,
    )


def _model_row(acc: _Acc, prev: _Acc | None, total: Decimal) -> ModelRow:
    prev_cost = prev.cost if prev else Decimal(0)
    counts: list[int | None] = list(acc.tokens) if acc.tokens is not None else [None] * 4
    tokens = sum(acc.tokens) if acc.tokens is not None else None
    requests = None if acc.uncounted else acc.requests
    # Per request of the calls that have a price: one with no known price is not a call at $0.
    priced = requests - acc.unpriced if requests else None
    return ModelRow(
        model=acc.name,
        provider=acc.provider,
        requests=requests,
        input_tokens=counts[0],
        output_tokens=counts[1],
        cache_read_tokens=counts[2],
        cache_write_tokens=counts[3],
        cost_usd=known_cost(acc.cost, requests, acc.unpriced),
        unpriced_requests=acc.unpriced,
        share_percent=float(round(acc.cost / total * 100, 1)) if total else 0.0,
        avg_tokens_per_request=round(tokens / requests, 1) if requests and tokens is not None else None,
        cost_per_request_usd=(acc.cost / priced).quantize(Decimal("0.000000001")) if priced else None,
        previous_cost_usd=prev_cost,
        trend_percent=float(round((acc.cost - prev_cost) / prev_cost * 100, 1)) if prev_cost else None,
        basis=sorted(acc.basis),
        model_ids=sorted(acc.ids) if acc.ids and acc.ids != {acc.name} else None,
    )


def summary_text(
    conn: Conn, settings: Settings, now: datetime | None = None, *, logs_read: bool = True
) -> str:
    """Today, this week and this month at a glance, the top models of the month, and budgets.

    ``logs_read``: False while the logs are still being read, which makes every total a lower bound
    (the caller says so above them)."""
    lines: list[str] = []
    month: SpendResult | None = None
    month_lacking = Lacking.of((), settings)
    # Plain text, with no envelope to say it: the logs the last read could not open (answers say it
    # in theirs, catchup.envelope), which each total and part lacks too.
    unread = log_read_warnings(conn)
    for name in ("today", "this_week", "this_month"):
        p = resolve_period(name, tz=settings.tz, week_start=settings.week_start, now=now)
        result = get_spend(conn, settings, p, ["basis"], take_alerts=False)
        lacking = Lacking.of([*result.warnings, *unread], settings, reading=not logs_read)
        # Each basis the gap may be in is at least (a missing bill: billed and estimated, not seat
        # fees; unread logs: estimated), as the total: "estimated $0.0045" read as the whole.
        result = lacking.rows(result)
        # An amount of calls with no known price is "unpriced", never $0.00 (the notes say which).
        parts = ", ".join(
            f"{r.group['basis']} "
            + bounded(format_cost(r.cost_usd, r.unpriced_requests), 0, complete=r.complete)
            for r in result.rows
        )
        # A bill missing (its PARTIAL note below), logs unreadable or still being read: at least, as
        # report's total says (money.bounded); "this month: $0.00" read as nothing spent.
        complete = not lacking
        total = bounded(format_cost(result.total_usd, result.unpriced_requests), 0, complete=complete)
        lines.append(f"{p.label()}: {total}" + (f" ({parts})" if parts else ""))
        month, month_lacking = result, lacking
    p = resolve_period("this_month", tz=settings.tz, week_start=settings.week_start, now=now)
    top = model_breakdown(conn, settings, p, top_n=5, take_alerts=False, now=now)
    if top.models:
        lines.append("top models this month:")
        # A model whose calls or bill the month lacks (its provider's, or its agent's logs) is at
        # least, as the month's total; its share is then of a total that lacks it too, so unmarked.
        lines += [
            f"  {m.model}: "
            + bounded(
                format_cost(m.cost_usd, m.unpriced_requests),
                0,
                complete=not (month_lacking.touches({"provider": m.provider, "model": m.model}, m.basis)),
            )
            # No share for an unknown cost: 0% of the total would read as nothing spent.
            + ("" if m.cost_usd is None else f" ({m.share_percent}%)")
            for m in top.models
        ]
    moment = now or datetime.now(UTC)
    # A budget counting a provider's bill that is missing says its figures are bounds, as
    # `cost-mcp budget status` does: "$0.00 of $100.00 per month (0.0%), ok" read as nothing spent.
    states, missing = with_missing_bills(
        conn, settings, states_of(conn, settings, list_budgets(conn), moment), moment
    )
    if states:
        lines.append("budgets:")
        for st in states:
            # Its calls with no price count nothing against it: "+ unpriced", and its percent is at
            # least that ("(0.0%)" read as a sure figure), as `cost-mcp budget status` says.
            spent = bounded(format_cost(st.spent_usd, st.unpriced_requests), 0, complete=st.complete)
            lines.append(
                f"  {st.budget.name}: {spent} of {format_usd(st.budget.amount_usd)} per {st.budget.period} "
                f"({bounded(f'{st.percent}%', st.unpriced_requests, complete=st.complete)}), {st.status}"
            )
        # Said beside the budget, as budget_status says it: a departed member's budget looks live.
        lines += [
            f"note: budget '{st.budget.name}': {w}" for st in states for w in departed_notes(conn, st.budget)
        ]
    if month is not None:
        lines += [f"note: {w}" for w in month.warnings]
    # The month's answer says most of them already; a budget's period may reach past its end.
    # Plain text, with no envelope to say it: the logs the last read could not open too (answers
    # say it in theirs, catchup.envelope), once, though a budget's line may have named them.
    lines += [
        f"note: {w}" for w in dict.fromkeys([*missing, *unread]) if month is None or w not in month.warnings
    ]
    return "\n".join(lines)
