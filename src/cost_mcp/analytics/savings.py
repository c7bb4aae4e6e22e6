"""Where recorded calls could have cost less, and what changed between two periods.

Everything here works on the ledger's counted usage events, one call at a time, because every rule
that makes a saving real is per call: long-context tiers, cache reads and writes, when a call was
made and what came before it in its session. Money stays in integer nano-USD until the result.

Three findings, each priced with the one pricing function (:mod:`cost_mcp.pricing`):

- **Model mix**: each call's tokens repriced on the cheaper models of its provider (found as
  ``estimate_cost`` finds them) and on the models listed in ``COST_MCP_SUBSTITUTES``.
- **Caching**: the cache's share of input, what writes cost against what reads saved, calls that
  re-send a large uncached prefix, and 1-hour writes a 5-minute write would have served.
- **Batch**: agents whose calls need no immediate answer, at the provider's batch discount.

Only price is measured, never quality; the results say so.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar, get_args
from zoneinfo import ZoneInfo

from cost_mcp.analytics import rows as bounded_rows
from cost_mcp.analytics import vocabulary
from cost_mcp.analytics.estimate import cheaper_alternatives
from cost_mcp.analytics.spend import period_info
from cost_mcp.analytics.usage import unpriced_warnings
from cost_mcp.config import Settings, parse_substitutes
from cost_mcp.errors import InvalidInputError, UnknownModelError
from cost_mcp.models import (
    BatchFinding,
    BatchRow,
    CachingFinding,
    CachingRow,
    CandidateSaving,
    ChangePart,
    CompareRow,
    Comparison,
    ModelMixFinding,
    ModelMixModel,
    ModelMixRow,
    ModelShare,
    PeriodFigures,
    SavingsDimension,
    SavingsReport,
    SessionSaving,
)
from cost_mcp.money import PICOS_PER_NANO, format_usd, from_nanos, known_cost, pico_to_nanos
from cost_mcp.periods import Period, ms_to_datetime
from cost_mcp.pricing import CallRates, Price, Pricer, Tokens, Workload, price_workload
from cost_mcp.store.connection import Conn
from cost_mcp.store.events import Call, calls_between, count_between, reported_costs_between
from cost_mcp.store.spend import bucket_sums
from cost_mcp.tokens import KINDS, NAMES, of_call

# --- the rules, stated once (the README and the results' assumptions quote them) -----------------

SHORT_ANSWER_MAX_OUTPUT = 1_000
"""A call is short-answer work when it wrote at most this many output tokens..."""
SHORT_ANSWER_INPUT_RATIO = 10
"""...and its total input was at least this many times its output (routing, classification, extraction)."""
LARGE_PREFIX_TOKENS = 10_000
"""A prefix this large re-sent uncached is worth caching (above every model's minimum cacheable length)."""
MINUTE_MS = 60_000
CACHE_5M_MS = 5 * MINUTE_MS
CACHE_1H_MS = 60 * MINUTE_MS
NIGHT_HOURS = frozenset({22, 23, 0, 1, 2, 3, 4, 5})
"""22:00 to 06:00 local time."""
NIGHT_SHARE = Fraction(4, 5)
LONG_GAP_MINUTES = 30
MIN_CALLS_FOR_PATTERN = 5
BATCH_SOURCES = frozenset({"record_usage"})
"""Calls agents report themselves; Claude Code is interactive by nature and never a batch candidate."""
BATCH_DISCOUNT: Mapping[str, Fraction] = {"anthropic": Fraction(1, 2), "openai": Fraction(1, 2)}
"""Anthropic Message Batches and OpenAI Batch API: 50% of the standard price of input and output."""
BATCH_SOURCES_CITED = (
    "Anthropic: https://docs.anthropic.com/en/docs/build-with-claude/batch-processing (50% of standard "
    "prices); OpenAI: https://platform.openai.com/docs/guides/batch (50% cost discount)"
)
MAX_CALLS = 300_000
"""Calls one period may hold here: each is repriced several times (about 60 us of CPU per call),
so a larger period is refused with a shorter one to try rather than left running for minutes."""
TOP_ROWS = 10
TOP_SESSIONS = 5
TOP_MODELS = 10
MAX_CANDIDATES = 6
SAME_PROVIDER_CANDIDATES = 3
"""Each call is priced on every candidate: the 3 cheapest models of its provider (by the model's
whole workload, as estimate_cost ranks them) keep that affordable, plus every listed substitute."""
NO_VALUE = "(none)"
_R = TypeVar("_R")
NO_SESSION = "(no session)"
DEFAULT_MIX_DIMS = ("agent", "project", "model")
DEFAULT_CACHE_DIMS = ("agent", "project")
DEFAULT_COMPARE_DIMS = ("model",)
QUALITY_NOTE = (
    "Only price is measured, not quality: check a cheaper model on your own tasks before switching."
)


def _nanos(
    pricer: Pricer, tokens: Tokens, model: str, provider: str | None, at: datetime, speed: str = ""
) -> int | None:
    """One call's list price in nano-USD at ``at``, or None when the model has no price."""
    priced = pricer.price(tokens, model, provider or None, at, speed=speed or None)
    return priced.total_nanos if isinstance(priced, Price) else None


def _usd(nanos: int) -> Decimal:
    return from_nanos(nanos)


# --- substitutes --------------------------------------------------------------------------------


def _substitutes_for(pairs: Sequence[tuple[str, str]], ids: Iterable[str]) -> list[str]:
    """The substitutes listed for a model logged and priced under ``ids``."""
    names = {i.lower() for i in ids}

    def matches(pattern: str) -> bool:
        if pattern == "*" or pattern in names:
            return True
        # A dated or tagged id (claude-opus-4-1-20250805, model@vertex) matches its base name.
        return any(
            n.startswith(pattern) and n[len(pattern) : len(pattern) + 1] in "-@:/"
            for n in names
            if len(n) > len(pattern)
        )

    found = [sub for pattern, sub in pairs if matches(pattern)]
    return [s for s in dict.fromkeys(found) if s.lower() not in names]


# --- grouping helpers ---------------------------------------------------------------------------


def _model_names(*sides: Iterable[Call]) -> vocabulary.ModelNames:
    """One name per model over all of ``sides``' calls, whatever id each log spelt it with (the
    rule get_spend's rows follow): an id of last week and another of this week are one model; and
    one per project folder, whether its calls were stored under its path or its slug."""
    names = vocabulary.ModelNames()
    projects: set[str] = set()
    for calls in sides:
        for c in calls:
            if c.model:
                names.add(c.model, c.cost_nanos or 0, 1)
            projects.add(c.project)
    names.see_projects(projects)
    return names


def _dim(call: Call, d: str, names: vocabulary.ModelNames) -> str:
    if d == "model":
        return names.key(call.model) if call.model else NO_VALUE
    value = {
        "provider": call.provider,
        "agent": call.agent,
        "project": names.project(call.project),
        "session": call.session,
        "source": call.source,
    }[d]
    return value or NO_VALUE


def _key(call: Call, dims: Sequence[str], names: vocabulary.ModelNames) -> tuple[str, ...]:
    return tuple(_dim(call, d, names) for d in dims)


def _shown(dims: Sequence[str], key: tuple[str, ...], names: vocabulary.ModelNames) -> dict[str, str]:
    """A row's group as shown: its model by the model's name, not its key."""
    return {d: names.name(v) if d == "model" and v != NO_VALUE else v for d, v in zip(dims, key, strict=True)}


def _session_key(call: Call, names: vocabulary.ModelNames) -> tuple[str, str, str]:
    # Its project as rows name it: a session's lines with no cwd (stored under the folder's slug)
    # made it two sessions in the top list, one under its path and one under the slug.
    return (call.session or NO_SESSION, call.agent, names.project(call.project))


def _chain_key(call: Call) -> tuple[str, ...]:
    """Calls that can share a prompt cache: one conversation (session, else agent and project) and model."""
    where = ("s", call.session) if call.session else ("a", call.agent, call.project)
    return (*where, call.provider, call.model)


@dataclass
class _SessionAcc:
    calls: int = 0
    saving: Decimal = Decimal(0)


def _top_sessions(acc: Mapping[tuple[str, str, str], _SessionAcc]) -> tuple[list[SessionSaving], int]:
    ranked = sorted(((k, v) for k, v in acc.items() if v.saving > 0), key=lambda kv: (-kv[1].saving, kv[0]))
    top = [
        SessionSaving(
            session=k[0], agent=k[1] or NO_VALUE, project=k[2] or NO_VALUE, calls=v.calls, saving_usd=v.saving
        )
        for k, v in ranked[:TOP_SESSIONS]
    ]
    return top, max(0, len(ranked) - TOP_SESSIONS)


def _bounded(rows: list[_R], saving: Callable[[_R], Decimal]) -> tuple[list[_R], int, Decimal]:
    shown = bounded_rows.top(rows, saving, TOP_ROWS)
    return shown.shown, len(shown.rest), sum((saving(r) for r in shown.rest), Decimal(0))


# --- model mix ----------------------------------------------------------------------------------


def is_short_answer(tokens: Tokens) -> bool:
    """Small output relative to input: the work a smaller model is usually chosen for."""
    return (
        tokens.output <= SHORT_ANSWER_MAX_OUTPUT
        and tokens.total_input >= SHORT_ANSWER_INPUT_RATIO * tokens.output
        and tokens.total_input > 0
    )


@dataclass
class _Cand:
    model: str
    origin: str
    provider: str | None
    alt_nanos: list[int] = field(default_factory=list)


def _model_mix(
    calls: Sequence[Call],
    pricer: Pricer,
    subs: Sequence[tuple[str, str]],
    dims: Sequence[str],
    warnings: list[str],
    names: vocabulary.ModelNames,
) -> ModelMixFinding:
    # One model whatever ids its calls were logged with: its alternatives are the same.
    by_model: dict[tuple[str, str], list[Call]] = defaultdict(list)
    for c in calls:
        by_model[(c.provider, names.key(c.model))].append(c)
    models: list[ModelMixModel] = []
    target_of: dict[int, tuple[str, int]] = {}
    """id(call) -> (target model, saving in nanos on that call)."""
    for (provider, key), group in by_model.items():
        model = names.name(key)
        cands = _candidates(pricer, provider, model, group, subs, warnings)
        short = [is_short_answer(c.tokens) for c in group]
        actual = [c.cost_nanos or 0 for c in group]
        savings: list[CandidateSaving] = []
        for cand in cands:
            saved = [a - b for a, b in zip(actual, cand.alt_nanos, strict=True)]
            all_saved = sum(saved)
            short_saved = sum(s for s, is_short in zip(saved, short, strict=True) if is_short)
            savings.append(
                CandidateSaving(
                    model=cand.model,
                    origin="substitute" if cand.origin == "substitute" else "same provider",
                    cost_usd=_usd(sum(cand.alt_nanos)),
                    saving_usd=_usd(all_saved),
                    short_answer_saving_usd=_usd(short_saved),
                )
            )
        # The user's own substitutes are the target when there are any; else the cheapest model.
        pool = [s for s in savings if s.origin == "substitute"] or savings
        ranked = sorted(pool, key=lambda s: (-s.short_answer_saving_usd, -s.saving_usd, s.model))
        target = ranked[0] if ranked and ranked[0].saving_usd > 0 else None
        if target is not None:
            cand = next(c for c in cands if c.model == target.model)
            for c, a, b in zip(group, actual, cand.alt_nanos, strict=True):
                target_of[id(c)] = (cand.model, a - b)
        savings.sort(key=lambda s: (s.cost_usd, s.model))
        models.append(
            ModelMixModel(
                provider=provider,
                model=model,
                calls=len(group),
                short_answer_calls=sum(short),
                cost_usd=_usd(sum(actual)),
                target=target.model if target else None,
                candidates=savings[:MAX_CANDIDATES],
            )
        )
    models.sort(key=lambda m: (-m.cost_usd, m.model))

    @dataclass
    class Row:
        calls: int = 0
        short: int = 0
        cost: int = 0
        targets: set[str] = field(default_factory=set)
        short_saving: int = 0
        all_saving: int = 0

    rows: dict[tuple[str, ...], Row] = defaultdict(Row)
    sessions: dict[tuple[str, str, str], _SessionAcc] = defaultdict(_SessionAcc)
    total_short = total_all = 0
    for c in calls:
        r = rows[_key(c, dims, names)]
        is_short = is_short_answer(c.tokens)
        r.calls += 1
        r.short += is_short
        r.cost += c.cost_nanos or 0
        hit = target_of.get(id(c))
        if hit is None:
            continue
        r.targets.add(hit[0])
        r.all_saving += hit[1]
        total_all += hit[1]
        if is_short:
            r.short_saving += hit[1]
            total_short += hit[1]
            s = sessions[_session_key(c, names)]
            s.calls += 1
            s.saving += _usd(hit[1])
    mix_rows = [
        ModelMixRow(
            group=_shown(dims, k, names),
            calls=r.calls,
            short_answer_calls=r.short,
            cost_usd=_usd(r.cost),
            target=next(iter(r.targets)) if len(r.targets) == 1 else None,
            short_answer_saving_usd=_usd(r.short_saving),
            all_calls_saving_usd=_usd(r.all_saving),
        )
        for k, r in rows.items()
    ]
    mix_rows.sort(key=lambda r: (-r.short_answer_saving_usd, -r.cost_usd, sorted(r.group.items())))
    top, more, more_saving = _bounded(mix_rows, lambda r: r.short_answer_saving_usd)
    top_sessions, more_sessions = _top_sessions(sessions)
    return ModelMixFinding(
        saving_usd=_usd(total_short),
        all_calls_saving_usd=_usd(total_all),
        calls=len(calls),
        short_answer_calls=sum(is_short_answer(c.tokens) for c in calls),
        assumptions=[
            QUALITY_NOTE,
            f"Short-answer work: a call with at most {SHORT_ANSWER_MAX_OUTPUT:,} output tokens and total "
            f"input at least {SHORT_ANSWER_INPUT_RATIO} times its output; saving_usd moves only those calls.",
            "Each call's own tokens (uncached input, cache reads and writes, output) are repriced on the "
            "target at the call's own time, with the same caching; long-context rates apply per call.",
            "Candidates: the cheaper current chat models of the same provider (as estimate_cost finds "
            "them) and your COST_MCP_SUBSTITUTES; a model's target is its substitute with the largest "
            "saving when you list any, else its cheapest candidate.",
        ],
        models=models[:TOP_MODELS],
        more_models=max(0, len(models) - TOP_MODELS),
        rows=top,
        more_rows=more,
        more_rows_saving_usd=more_saving,
        top_sessions=top_sessions,
        more_sessions=more_sessions,
    )


def _candidates(
    pricer: Pricer,
    provider: str,
    model: str,
    group: Sequence[Call],
    subs: Sequence[tuple[str, str]],
    warnings: list[str],
) -> list[_Cand]:
    """Cheaper models of the provider for this workload, then the listed substitutes, each priced per call."""
    total = Tokens(
        input=sum(c.tokens.input for c in group),
        output=sum(c.tokens.output for c in group),
        cache_read=sum(c.tokens.cache_read for c in group),
        cache_write_5m=sum(c.tokens.cache_write_5m for c in group),
        cache_write_1h=sum(c.tokens.cache_write_1h for c in group),
        web_search_requests=sum(c.tokens.web_search_requests for c in group),
    )
    work = Workload(total, len(group))
    at = group[-1].at
    cands: list[_Cand] = []
    try:
        priced = price_workload(pricer, work, model, provider or None, at)
    except UnknownModelError:
        priced = None
    if priced is not None:
        cheaper = cheaper_alternatives(pricer, work, priced, at)[:SAME_PROVIDER_CANDIDATES]
        cands += [_Cand(a.model, "same provider", priced.provider_id) for a in cheaper]
    logged = {c.model for c in group} | {c.priced_model for c in group if c.priced_model}
    for sub in _substitutes_for(subs, sorted(logged)):
        cands = [c for c in cands if c.model != sub]
        cands.append(_Cand(sub, "substitute", provider))
    kept: list[_Cand] = []
    for cand in cands:
        for c in group:
            n = _nanos(pricer, c.tokens, cand.model, cand.provider, c.at)
            if n is None and cand.origin == "substitute":
                # A substitute from another provider (gpt-5-mini for a Claude model) is priced
                # under the provider its name implies.
                cand.provider = None
                n = _nanos(pricer, c.tokens, cand.model, None, c.at)
            if n is None:
                break
            cand.alt_nanos.append(n)
        if len(cand.alt_nanos) == len(group):
            kept.append(cand)
        elif cand.origin == "substitute":
            warnings.append(
                f"substitute {cand.model!r} for {model} has no known price; fix COST_MCP_SUBSTITUTES or add "
                "it to the price override file"
            )
    return kept


# --- caching ------------------------------------------------------------------------------------


@dataclass
class _CacheAcc:
    calls: int = 0
    input_total: int = 0
    cache_read: int = 0
    premium: int = 0
    read_saved: int = 0
    prefix_calls: int = 0
    prefix_tokens: int = 0
    prefix_saving: int = 0
    h1_calls: int = 0
    h1_tokens: int = 0
    h1_saving: int = 0


def _caching(
    calls: Sequence[Call], pricer: Pricer, dims: Sequence[str], names: vocabulary.ModelNames
) -> CachingFinding:
    acc: dict[tuple[str, ...], _CacheAcc] = defaultdict(_CacheAcc)
    sessions: dict[tuple[str, str, str], _SessionAcc] = defaultdict(_SessionAcc)
    chains: dict[tuple[str, ...], list[Call]] = defaultdict(list)

    def price(c: Call, t: Tokens) -> int:
        return _nanos(pricer, t, c.model, c.provider, c.at, c.speed) or 0

    def credit(c: Call, nanos: int) -> None:
        s = sessions[_session_key(c, names)]
        s.calls += 1
        s.saving += _usd(nanos)

    for c in calls:
        t = c.tokens
        a = acc[_key(c, dims, names)]
        a.calls += 1
        a.input_total += t.total_input
        a.cache_read += t.cache_read
        premium, read_saved = _cache_effects(pricer, c)
        a.premium += premium
        a.read_saved += read_saved
        chains[_chain_key(c)].append(c)

    for chain in chains.values():
        candidate = [False] * len(chain)
        for i, c in enumerate(chain):
            if i == 0:
                continue
            prev = chain[i - 1]
            t = c.tokens
            if not (
                t.input >= LARGE_PREFIX_TOKENS
                and prev.tokens.total_input >= LARGE_PREFIX_TOKENS
                and c.ts_ms - prev.ts_ms <= CACHE_5M_MS
            ):
                continue
            candidate[i] = True
            prefix = min(t.input, prev.tokens.total_input)
            saved = price(c, t) - price(
                c, replace(t, input=t.input - prefix, cache_read=t.cache_read + prefix)
            )
            if not candidate[i - 1]:
                # The run's first call writes the prefix once (5-minute write instead of plain input).
                pt = prev.tokens
                w = min(prefix, pt.input)
                saved -= price(
                    prev, replace(pt, input=pt.input - w, cache_write_5m=pt.cache_write_5m + w)
                ) - price(prev, pt)
            a = acc[_key(c, dims, names)]
            a.prefix_calls += 1
            a.prefix_tokens += prefix
            a.prefix_saving += saved
            credit(c, saved)
        for i, c in enumerate(chain):
            if not c.tokens.cache_write_1h or _needs_1h(chain, i):
                continue
            t = c.tokens
            saved = price(c, t) - price(
                c, replace(t, cache_write_5m=t.cache_write_5m + t.cache_write_1h, cache_write_1h=0)
            )
            a = acc[_key(c, dims, names)]
            a.h1_calls += 1
            a.h1_tokens += t.cache_write_1h
            a.h1_saving += saved
            credit(c, saved)

    rows = [
        CachingRow(
            group=_shown(dims, k, names),
            calls=a.calls,
            input_tokens_total=a.input_total,
            cache_read_tokens=a.cache_read,
            cache_share_percent=_percent(a.cache_read, a.input_total),
            cache_write_premium_usd=_usd(a.premium),
            cache_read_saved_usd=_usd(a.read_saved),
            net_cache_saving_usd=_usd(a.read_saved - a.premium),
            prefix_candidate_calls=a.prefix_calls,
            prefix_tokens=a.prefix_tokens,
            prefix_saving_usd=_usd(a.prefix_saving),
            unneeded_1h_writes=a.h1_calls,
            unneeded_1h_tokens=a.h1_tokens,
            unneeded_1h_saving_usd=_usd(a.h1_saving),
            saving_usd=_usd(a.prefix_saving + a.h1_saving),
        )
        for k, a in acc.items()
    ]
    rows.sort(key=lambda r: (-r.saving_usd, -r.input_tokens_total, sorted(r.group.items())))
    top, more, more_saving = _bounded(rows, lambda r: r.saving_usd)
    top_sessions, more_sessions = _top_sessions(sessions)
    total = _CacheAcc()
    for a in acc.values():
        for name in ("input_total", "cache_read", "premium", "read_saved", "prefix_saving", "h1_saving"):
            setattr(total, name, getattr(total, name) + getattr(a, name))
    return CachingFinding(
        saving_usd=_usd(total.prefix_saving + total.h1_saving),
        prefix_saving_usd=_usd(total.prefix_saving),
        unneeded_1h_saving_usd=_usd(total.h1_saving),
        cache_share_percent=_percent(total.cache_read, total.input_total),
        cache_write_premium_usd=_usd(total.premium),
        cache_read_saved_usd=_usd(total.read_saved),
        assumptions=[
            "Cache share: cache-read tokens over all input (uncached, cache reads, cache writes). "
            "Write premium: what writes cost above the plain input price; reads saved: the plain "
            "input price minus the read price.",
            f"Repeated prefix: a call with at least {LARGE_PREFIX_TOKENS:,} uncached input tokens "
            "made within 5 minutes of the previous call of the same session (agent and project "
            f"without one) and model, whose input was also at least {LARGE_PREFIX_TOKENS:,}. The "
            "prefix is taken as the smaller of the two; cached, it would be read at the cache-read "
            "price, and the run's first call would write it once as a 5-minute write. Prompts are "
            "never read, so the repeat is inferred from sizes and timing.",
            "A 1-hour write is needed only when the same session and model read the cache more "
            "than 5 minutes after its previous call and within the hour; otherwise (never read, or "
            "only read by calls under 5 minutes apart) a 5-minute write would have served, and the "
            "saving is the price difference between the two writes.",
        ],
        rows=top,
        more_rows=more,
        more_rows_saving_usd=more_saving,
        top_sessions=top_sessions,
        more_sessions=more_sessions,
    )


def _cache_effects(pricer: Pricer, c: Call) -> tuple[int, int]:
    """A call's cache-write premium and cache-read saving against plain input, in nano-USD.

    One pricing of the call gives the per-token rate of every kind it used, all at the call's own
    tier (tiers depend on total input, which moving tokens between kinds leaves unchanged); a call
    without uncached input shows no input rate and is priced again without the cache instead.
    """
    t = c.tokens
    if not (t.cache_read or t.cache_write_5m or t.cache_write_1h):
        return 0, 0
    priced = pricer.price(t, c.model, c.provider or None, c.at, speed=c.speed or None)
    if not isinstance(priced, Price):
        return 0, 0
    if priced.kind_pico and t.input:
        rate = {k: pico // t.count(k) for k, pico in zip(NAMES, priced.kind_pico, strict=True) if t.count(k)}
        writes = sum(
            t.count(k) * (rate[k] - rate["input"]) for k in ("cache_write_5m", "cache_write_1h") if t.count(k)
        )
        reads = t.cache_read * (rate["input"] - rate["cache_read"]) if t.cache_read else 0
        return pico_to_nanos(writes), pico_to_nanos(reads)

    def price(tokens: Tokens) -> int:
        return _nanos(pricer, tokens, c.model, c.provider, c.at, c.speed) or 0

    actual = price(t)
    plain = replace(
        t, input=t.input + t.cache_write_5m + t.cache_write_1h, cache_write_5m=0, cache_write_1h=0
    )
    premium = actual - price(plain) if t.cache_write_5m or t.cache_write_1h else 0
    saved = price(replace(t, input=t.input + t.cache_read, cache_read=0)) - actual if t.cache_read else 0
    return premium, saved


def _needs_1h(chain: Sequence[Call], i: int) -> bool:
    start = chain[i].ts_ms
    for j in range(i + 1, len(chain)):
        c = chain[j]
        if c.ts_ms - start > CACHE_1H_MS:
            return False
        if c.tokens.cache_read and c.ts_ms - chain[j - 1].ts_ms > CACHE_5M_MS:
            return True
    return False


def _percent(part: int, whole: int) -> float:
    return float(round(Decimal(part) / Decimal(whole) * 100, 1)) if whole else 0.0


# --- batch --------------------------------------------------------------------------------------


def _batch(calls: Sequence[Call], tz: ZoneInfo, names: vocabulary.ModelNames) -> BatchFinding:
    by_agent: dict[str, list[Call]] = defaultdict(list)
    for c in calls:
        if c.source in BATCH_SOURCES and c.agent:
            by_agent[c.agent].append(c)
    rows: list[BatchRow] = []
    sessions: dict[tuple[str, str, str], _SessionAcc] = defaultdict(_SessionAcc)
    for agent, group in sorted(by_agent.items()):
        n = len(group)
        night = sum(datetime.fromtimestamp(c.ts_ms / 1000, tz).hour in NIGHT_HOURS for c in group)
        session_ids = {c.session for c in group if c.session}
        gaps = [b.ts_ms - a.ts_ms for a, b in itertools.pairwise(group)]
        median_gap = statistics.median(gaps) / MINUTE_MS if gaps else None
        reasons: list[str] = []
        if n >= MIN_CALLS_FOR_PATTERN:
            if night >= NIGHT_SHARE * n:
                reasons.append("night")
            if not session_ids:
                reasons.append("no session")
            if median_gap is not None and median_gap >= LONG_GAP_MINUTES:
                reasons.append("long gaps")
        if not reasons:
            continue
        cost = sum(c.cost_nanos or 0 for c in group)
        saving = 0
        for c in group:
            rate = BATCH_DISCOUNT.get(c.provider)
            if rate is None or not c.cost_nanos:
                continue
            # Per call, in whole nano-USD (half-even), as the ledger would store the batch price.
            part = round(c.cost_nanos * rate)
            saving += part
            s = sessions[_session_key(c, names)]
            s.calls += 1
            s.saving += _usd(part)
        rows.append(
            BatchRow(
                agent=agent,
                providers=sorted({c.provider for c in group}),
                calls=n,
                sessions=len(session_ids),
                night_share_percent=_percent(night, n),
                median_gap_minutes=round(median_gap, 1) if median_gap is not None else None,
                reasons=reasons,
                cost_usd=_usd(cost),
                batch_cost_usd=_usd(cost - saving),
                saving_usd=_usd(saving),
            )
        )
    rows.sort(key=lambda r: (-r.saving_usd, r.agent))
    top, more, more_saving = _bounded(rows, lambda r: r.saving_usd)
    top_sessions, more_sessions = _top_sessions(sessions)
    return BatchFinding(
        saving_usd=sum((r.saving_usd for r in rows), Decimal(0)),
        agents_checked=len(by_agent),
        assumptions=[
            "Only agents that report their own calls (record_usage) are checked; Claude Code sessions are "
            "interactive.",
            f"An agent with at least {MIN_CALLS_FOR_PATTERN} calls is non-interactive when at least "
            f"{NIGHT_SHARE.numerator * 100 // NIGHT_SHARE.denominator}% of its calls fall between 22:00 and "
            f"06:00 local time (night), when none carries a session id (no session), or when the median time "
            f"between its consecutive calls is at least {LONG_GAP_MINUTES} minutes (long gaps).",
            f"Batch rate: 50% of the standard price at Anthropic and OpenAI ({BATCH_SOURCES_CITED}); results "
            "come back within 24 hours. Calls to other providers are left at their price.",
        ],
        rows=top,
        more_rows=more,
        more_rows_saving_usd=more_saving,
        top_sessions=top_sessions,
        more_sessions=more_sessions,
    )


# --- the report ---------------------------------------------------------------------------------


def _priced_calls(
    conn: Conn, settings: Settings, p: Period, warnings: list[str], left_out_of: str
) -> tuple[list[Call], list[Call]]:
    """The priced calls of ``p``, and those left out for want of a price (with a warning per model
    saying what they are missing from, ``left_out_of``).

    Raises InvalidInputError when ``p`` holds more than MAX_CALLS calls.
    """
    n = count_between(conn, p.start_ms, p.end_ms)
    if n > MAX_CALLS:
        raise InvalidInputError(
            f"{p.label()} holds {n:,} calls; savings and comparisons reprice every call and take at most "
            f"{MAX_CALLS:,} per period: pick a shorter period, e.g. last_7_days or start/end dates"
        )
    calls: list[Call] = []
    left_out: list[Call] = []
    unpriced: dict[str, int] = defaultdict(int)
    for c in calls_between(conn, p.start_ms, p.end_ms):
        if c.cost_nanos is None:
            unpriced[vocabulary.model_label(c.model)] += 1
            left_out.append(c)
        else:
            calls.append(c)
    warnings += unpriced_warnings(
        ((model, n, None) for model, n in unpriced.items()), settings.prices_file, left_out_of
    )
    return calls, left_out


def _reported_cost_note(conn: Conn, settings: Settings, p: Period, side: str = "") -> list[str]:
    """A warning when calls of ``p`` carry the cost their log reported: get_spend counts that cost
    (cost mode auto or display), while savings and comparisons price every call at list price, so
    their totals differ from get_spend's by the difference, which would otherwise go unexplained."""
    if settings.cost_mode == "calculate":
        return []
    reported = reported_costs_between(conn, p.start_ms, p.end_ms)
    if not reported.calls:
        return []
    return [
        f"{side}{reported.calls} call(s) carry the cost their log reported "
        f"({format_usd(from_nanos(reported.reported_nanos))}), which get_spend counts; this report prices "
        f"them at list price ({format_usd(from_nanos(reported.list_nanos))}), so its cost differs from "
        "get_spend's by the difference"
    ]


def _billed_note(conn: Conn, p: Period, side: str) -> list[str]:
    """A warning when providers' bills cover days of ``p``: get_spend counts each bill as its days'
    total and sets the estimates of the calls on them aside, while a comparison prices the calls
    recorded locally, so its cost is not the period's spend, however far apart the two are."""
    first, end = p.utc_dates_ms()
    billed: dict[str, int] = defaultdict(int)
    for b in bucket_sums(conn, first, end):
        if b.kind == "cost":
            billed[b.provider] += b.cost_nanos
    if not billed:
        return []
    names = ", ".join(sorted(billed))
    return [
        f"{side}{names} billed {format_usd(from_nanos(sum(billed.values())))} in this period, which "
        "get_spend counts as those days' total; this comparison prices only the calls recorded locally, "
        "at list price, so its cost is not the period's spend (see method)"
    ]


def savings_report(
    conn: Conn,
    settings: Settings,
    pricer: Pricer,
    p: Period,
    group_by: Sequence[str] | None = None,
) -> SavingsReport:
    """Model-mix, caching and batch savings over the calls recorded in ``p``.

    ``group_by`` replaces the default breakdowns (model mix per agent, project and model; caching
    per agent and project). A malformed COST_MCP_SUBSTITUTES never gets here: settings refuse it.
    """
    subs = parse_substitutes(settings.substitutes)
    warnings: list[str] = []
    calls, unpriced = _priced_calls(conn, settings, p, warnings, "this report")
    names = _model_names(calls)
    warnings += _reported_cost_note(conn, settings, p)
    mix_dims = list(group_by) if group_by else list(DEFAULT_MIX_DIMS)
    cache_dims = list(group_by) if group_by else list(DEFAULT_CACHE_DIMS)
    notes = [
        QUALITY_NOTE,
        "Findings overlap (a call moved to a cheaper model and to batch saves less than both): do not add "
        "them up. Amounts are list prices, as the ledger prices calls; billed provider totals are not "
        "split per call and are not analysed here.",
    ]
    if not calls:
        notes.append("No priced calls in this period: nothing to analyse.")
    return SavingsReport(
        period=period_info(p),
        calls=len(calls),
        cost_usd=_usd(sum(c.cost_nanos or 0 for c in calls)),
        unpriced_calls=len(unpriced),
        model_mix=_model_mix(calls, pricer, subs, mix_dims, warnings, names),
        caching=_caching(calls, pricer, cache_dims, names),
        batch=_batch(calls, p.tz, names),
        notes=notes,
        warnings=warnings,
    )


# --- comparing two periods ----------------------------------------------------------------------

PART_MEANINGS: Mapping[str, str] = {
    "volume": "more or fewer calls, at the before period's average cost per call",
    "mix": "calls moved between models, at each model's before cost per call",
    "tokens_per_call": "bigger or smaller calls on the same models, at before prices and caching",
    "caching": "a larger or smaller share of input served from (or written to) the cache, at before prices",
    "price": "prices that changed: each period's calls as recorded against the same calls at before prices",
}
METHOD = (
    "Over the calls recorded in the ledger (Claude Code logs, record_usage) at list price; billed "
    "provider totals are not split per call and are left out. Chain substitution, each step changing "
    "one thing, in nano-USD, so the parts sum exactly to the change. B = before's cost as recorded; "
    "S0 = before's calls at before prices; S1 = S0 x after calls / before calls (volume = S1 - S0); "
    "S2 = sum over models of after's calls on the model x before's cost per call on it, a model new "
    "in after counting at its S3 value (mix = S2 - S1); S3 = after's calls at before prices with each "
    "model's before cache shares (reads, 5-minute and 1-hour writes, of total input), taken over the "
    "before calls at the same input prices (speed, long-context tier) where there are any "
    "(tokens_per_call = S3 - S2); S4 = after's calls at before prices (caching = S4 - S3); A = "
    "after's cost as recorded (price = A - S4 + S0 - B). Before prices are those in effect on the "
    "before period's last day, from the current price data."
)


@dataclass
class _Side:
    calls: list[Call]
    cost: int = 0
    tokens: int = 0
    input_total: int = 0
    cache_read: int = 0

    @classmethod
    def of(cls, calls: list[Call]) -> _Side:
        s = cls(calls)
        for c in calls:
            s.cost += c.cost_nanos or 0
            s.tokens += c.tokens.total
            s.input_total += c.tokens.total_input
            s.cache_read += c.tokens.cache_read
        return s


def compare_periods(
    conn: Conn,
    settings: Settings,
    pricer: Pricer,
    before: Period,
    after: Period,
    group_by: Sequence[str] | None = None,
    notes: Sequence[str] = (),
) -> Comparison:
    """Two periods side by side, with the change split into volume, mix, tokens per call, caching and
    price, parts that sum exactly to the change (see :data:`METHOD`); ``notes`` on the periods
    themselves (see :func:`periods.periods_to_compare`) lead the warnings."""
    warnings: list[str] = list(notes)
    b_calls, b_unpriced = _priced_calls(conn, settings, before, warnings, "the before side")
    a_calls, a_unpriced = _priced_calls(conn, settings, after, warnings, "the after side")
    b, a = _Side.of(b_calls), _Side.of(a_calls)
    warnings += _reported_cost_note(conn, settings, before, "before: ")
    warnings += _reported_cost_note(conn, settings, after, "after: ")
    warnings += _billed_note(conn, before, "before: ")
    warnings += _billed_note(conn, after, "after: ")
    # One model whatever ids its calls were logged with, on both sides: Claude Code's
    # claude-sonnet-4-5-20250929 last week and another agent's claude-sonnet-4.5 this week are
    # one model that changed, not one gone and one new.
    names = _model_names(b_calls, a_calls, b_unpriced, a_unpriced)
    parts = _decompose(pricer, b, a, before, names)
    dims = list(group_by) if group_by else list(DEFAULT_COMPARE_DIMS)
    rows = _compare_rows(b, a, dims, (b_unpriced, a_unpriced), names)
    change = a.cost - b.cost
    for side, priced, unpriced in (("before", b.calls, b_unpriced), ("after", a.calls, a_unpriced)):
        if priced:
            continue
        # No calls at all is not the same answer as calls with no price: a period with nothing
        # recorded yet (not begun, or before the first log) compares as if usage had stopped.
        held = (
            f"no priced calls ({len(unpriced):,} unpriced)"
            if unpriced
            else "no calls in the ledger (none recorded for its days yet)"
        )
        warnings.append(f"the {side} period has {held}: the whole change is counted as volume")
    if before.start_ms < after.end_ms and after.start_ms < before.end_ms:
        warnings.append("the two periods overlap: calls in both are counted on each side")
    return Comparison(
        before=_figures(before, b, names, len(b_unpriced)),
        after=_figures(after, a, names, len(a_unpriced)),
        change_usd=_usd(change),
        change_percent=float(round(Decimal(change) / Decimal(b.cost) * 100, 1)) if b.cost else None,
        parts=[ChangePart(part=name, usd=_usd(v), meaning=PART_MEANINGS[name]) for name, v in parts],
        method=METHOD,
        group_by=dims,
        rows=rows[:TOP_ROWS],
        more_rows=max(0, len(rows) - TOP_ROWS),
        warnings=warnings,
    )


def _round(q: Fraction) -> int:
    """Half-even rounding of an exact fraction of nano-USD."""
    return round(q)


def _decompose(
    pricer: Pricer, b: _Side, a: _Side, before: Period, names: vocabulary.ModelNames
) -> list[tuple[str, int]]:
    s0, s5 = b.cost, a.cost
    if not b.calls or not a.calls:
        return [("volume", s5 - s0), ("mix", 0), ("tokens_per_call", 0), ("caching", 0), ("price", 0)]
    ref = ms_to_datetime(before.end_ms - 1)
    plans: dict[tuple[str, str, str], CallRates | None] = {}

    def at_before(c: Call) -> int | None:
        return _nanos(pricer, c.tokens, c.model, c.provider, ref, c.speed)

    def input_rates(c: Call) -> tuple[int, ...] | None:
        """Pico-USD per token of each input kind for ``c`` at before prices, at its own speed and
        long-context tier; None for a table genai-prices prices itself (no rates per kind)."""
        k = (c.provider, c.model, c.speed)
        if k not in plans:
            plan = pricer.rates(c.model, c.provider or None, ref, speed=c.speed or None)
            plans[k] = plan if isinstance(plan, CallRates) else None
        plan = plans[k]
        if plan is None:
            return None
        picos, _ = plan.rates.price_counts(_ONES, c.tokens.total_input)
        return tuple(picos[i] for i in _INPUT_KINDS)

    # Per model: calls and their cost at before prices. Cache shares (input counts by kind) per model
    # and per model at one set of input rates: a model's fast calls, or those past a long-context
    # tier, cost more per token, so shares pooled over them and applied call by call moved money
    # between tokens_per_call and caching (a period compared with itself split $0 into +$1.64 and
    # -$1.64). Within one set of rates the caching part is linear, and exactly 0 for equal shares.
    b_models: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    model_shares: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(_INPUT_KINDS))
    rate_shares: dict[tuple[str, str, tuple[int, ...]], list[int]] = defaultdict(
        lambda: [0] * len(_INPUT_KINDS)
    )
    s0_ref = 0
    for c in b.calls:
        key = (c.provider, names.key(c.model))
        repriced = at_before(c)
        # Before's calls at before prices as priced now; equal to s0 unless prices moved inside
        # the before period or since its calls were priced (that difference is price, not volume).
        cost = (c.cost_nanos or 0) if repriced is None else repriced
        s0_ref += cost
        m = b_models[key]
        m[0] += 1
        m[1] += cost
        counts = _input_counts(c.tokens)
        _add_into(model_shares[key], counts)
        rates = input_rates(c) if repriced is not None else None
        if rates is not None:
            _add_into(rate_shares[(*key, rates)], counts)
    s1 = _round(Fraction(s0_ref * len(a.calls), len(b.calls)))
    mix_known = Fraction(0)
    mix_new = s4 = 0
    caching_picos = Fraction(0)
    for c in a.calls:
        repriced = at_before(c)
        p4 = (c.cost_nanos or 0) if repriced is None else repriced
        key = (c.provider, names.key(c.model))
        seen = b_models.get(key)
        s4 += p4
        if seen is None:
            mix_new += p4
            continue
        mix_known += Fraction(seen[1], seen[0])
        rates = input_rates(c) if repriced is not None else None
        if rates is None:
            continue
        shares = rate_shares.get((*key, rates)) or model_shares[key]
        whole = sum(shares)
        if whole:
            # The call's input at its own split less the same input in before's shares, exactly.
            total = c.tokens.total_input
            own = _input_counts(c.tokens)
            diff = sum(r * (n * whole - total * s) for r, n, s in zip(rates, own, shares, strict=True))
            caching_picos += Fraction(diff, whole)
    s2 = _round(mix_known) + mix_new
    s3 = s4 - _round(caching_picos / PICOS_PER_NANO)
    return [
        ("volume", s1 - s0_ref),
        ("mix", s2 - s1),
        ("tokens_per_call", s3 - s2),
        ("caching", s4 - s3),
        ("price", (s0_ref - s0) + (s5 - s4)),
    ]


_INPUT_KINDS = tuple(i for i, k in enumerate(KINDS) if k.is_input)
"""Where the input kinds (uncached, cache reads and writes) sit in a call's counts."""
_ONES = (1,) * len(KINDS)


def _input_counts(t: Tokens) -> list[int]:
    counts = of_call(t)
    return [counts[i] for i in _INPUT_KINDS]


def _add_into(acc: list[int], counts: Sequence[int]) -> None:
    for i, n in enumerate(counts):
        acc[i] += n


def _figures(p: Period, s: _Side, names: vocabulary.ModelNames, unpriced: int) -> PeriodFigures:
    nano = Decimal("0.000000001")
    cost = _usd(s.cost)
    per_model: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for c in s.calls:
        m = per_model[(c.provider, names.key(c.model))]
        m[0] += 1
        m[1] += c.cost_nanos or 0
    models = [
        ModelShare(
            provider=prov,
            model=names.name(key),
            calls=n,
            cost_usd=_usd(nanos),
            call_share_percent=_percent(n, len(s.calls)),
            cost_share_percent=_percent(nanos, s.cost),
        )
        for (prov, key), (n, nanos) in per_model.items()
    ]
    models.sort(key=lambda m: (-m.cost_usd, m.model))
    return PeriodFigures(
        period=period_info(p),
        cost_usd=cost,
        calls=len(s.calls),
        unpriced_calls=unpriced,
        tokens=s.tokens,
        cost_per_call_usd=(cost / len(s.calls)).quantize(nano) if s.calls else None,
        cost_per_million_tokens_usd=(cost * 1_000_000 / s.tokens).quantize(nano) if s.tokens else None,
        cache_share_percent=_percent(s.cache_read, s.input_total),
        models=models[:TOP_MODELS],
        more_models=max(0, len(models) - TOP_MODELS),
    )


def _compare_rows(
    b: _Side,
    a: _Side,
    dims: Sequence[str],
    unpriced: tuple[list[Call], list[Call]],
    names: vocabulary.ModelNames,
) -> list[CompareRow]:
    """Each group's two sides: the priced calls' cost, every call counted and the unpriced ones
    apart. A side of unpriced calls only costs an unknown amount (None), and so does the change."""
    # per group: [before nanos, before calls, before unpriced, after nanos, after calls, after unpriced]
    acc: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0] * 6)
    ids: dict[tuple[str, ...], set[str]] = defaultdict(set)
    by_model = "model" in dims
    for side, calls in ((0, b.calls), (3, a.calls)):
        for c in calls:
            k = _key(c, dims, names)
            r = acc[k]
            r[side] += c.cost_nanos or 0
            r[side + 1] += 1
            if by_model and c.model:
                ids[k].add(c.model)
    for side, calls in ((0, unpriced[0]), (3, unpriced[1])):
        for c in calls:
            k = _key(c, dims, names)
            r = acc[k]
            r[side + 1] += 1
            r[side + 2] += 1
            if by_model and c.model:
                ids[k].add(c.model)
    rows = []
    for k, r in acc.items():
        group = _shown(dims, k, names)
        before = known_cost(_usd(r[0]), r[1], r[2])
        after = known_cost(_usd(r[3]), r[4], r[5])
        rows.append(
            CompareRow(
                group=group,
                before_cost_usd=before,
                after_cost_usd=after,
                before_calls=r[1],
                after_calls=r[4],
                before_unpriced_calls=r[2],
                after_unpriced_calls=r[5],
                change_usd=None if before is None or after is None else _usd(r[3] - r[0]),
                model_ids=sorted(ids[k]) if ids[k] and ids[k] != {group.get("model")} else None,
            )
        )
    # An unknown change goes after every known one, $0 included.
    rows.sort(key=lambda r: (r.change_usd is None, -abs(r.change_usd or Decimal(0)), sorted(r.group.items())))
    return rows


def check_dims(group_by: Iterable[str] | None, what: str = "savings") -> list[str] | None:
    """The group_by dimensions, or InvalidInputError naming the allowed ones (``what`` is grouped:
    the savings, or a comparison of two periods, which groups the same way)."""
    if not group_by:
        return None
    allowed: tuple[str, ...] = get_args(SavingsDimension)
    dims: list[str] = []
    for d in group_by:
        if d not in allowed:
            raise InvalidInputError(f"cannot group {what} by {d!r}; use any of: {', '.join(allowed)}")
        if d not in dims:
            dims.append(d)
    return dims
