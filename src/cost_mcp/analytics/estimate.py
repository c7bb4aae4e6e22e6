"""The price of a hypothetical call, and what the same call would cost on cheaper models."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from cost_mcp.errors import UnknownModelError
from cost_mcp.models import Alternative, CostByKind, Estimate
from cost_mcp.output import counted
from cost_mcp.pricing import (
    GENAI_PRICES_VERSION,
    Price,
    Pricer,
    Tokens,
    Workload,
    fewest_calls,
    price_workload,
    provider_models,
    providers_pricing,
)
from cost_mcp.tokens import KINDS

MAX_ALTERNATIVES = 5
# Specialised models are cheap but are no substitute for a chat call.
_NOT_A_SUBSTITUTE = re.compile(
    r"guard|embed|moderation|tts|whisper|transcribe|audio|realtime|image|search|:|\.ft-|^(ada|babbage|curie|davinci)\b"
)


def estimate_cost(
    pricer: Pricer,
    tokens: Tokens,
    model: str,
    provider: str | None = None,
    requests: int | None = None,
    at: datetime | None = None,
    *,
    speed: str | None = None,
    service_tier: str | None = None,
    inference_geo: str | None = None,
) -> Estimate:
    """Price ``tokens`` on ``model`` and on cheaper models of the same provider.

    ``speed``, ``service_tier`` and ``inference_geo`` are priced as in the ledger (the same
    pricing function), and alternatives are priced with the same ones.
    Raises UnknownModelError (with close matches) when the model has no known price.
    """
    when = at or datetime.now(UTC)
    n = requests if requests is not None else fewest_calls(tokens, model, provider)
    work = Workload(tokens, n)
    mods = {"speed": speed, "service_tier": service_tier, "inference_geo": inference_geo}
    try:
        priced = price_workload(pricer, work, model, provider, when, **mods)
    except UnknownModelError as exc:
        # Named here, not in price_workload: loops that skip unpriced candidates need no advice.
        elsewhere = providers_pricing(model, provider)
        raise UnknownModelError(model, provider, exc.suggestions, elsewhere=elsewhere) from None
    notes: list[str] = []
    if requests is None and n > 1:
        notes.append(
            f"Priced as {n} calls so each fits the model's standard context window; "
            "pass requests=1 (--requests 1 on the command line) to price one single long-context call."
        )
    if priced.long_context:
        notes.append("A long-context rate applied: input above the model's threshold raises every price.")
    if priced.source == "override":
        notes.append("Priced from your price override file.")
    notes += [f"Price correction beside genai-prices: {c}." for c in priced.corrections]
    notes += [f"Priced with an assumption: {a}." for a in priced.assumptions]
    cheaper, too_small = _alternatives(pricer, work, priced, when, **mods)
    if too_small:
        per_call = max(shape.total_input for shape, _ in work.calls())
        notes.append(
            f"Not suggested, though cheaper: {counted(len(too_small), 'model')} whose context window "
            f"(in tokens) is smaller than {'the' if n == 1 else 'each'} call's {per_call:,} input tokens: "
            f"{', '.join(too_small[:MAX_ALTERNATIVES])}"
            + (
                f" and {len(too_small) - MAX_ALTERNATIVES:,} more"
                if len(too_small) > MAX_ALTERNATIVES
                else ""
            )
            + "."
        )
    return Estimate(
        model=model,
        matched_model=priced.model_id,
        provider=priced.provider_id,
        requests=n,
        cost_usd=priced.total,
        cost_by_kind=_cost_by_kind(priced),
        long_context=priced.long_context,
        price_source="override" if priced.source == "override" else f"genai-prices {GENAI_PRICES_VERSION}",
        cheaper=cheaper,
        notes=notes,
    )


def _cost_by_kind(priced: Price) -> CostByKind:
    by_kind = priced.by_kind
    zero = Decimal(0)
    return CostByKind(**{k.cost_field: by_kind.get(k.call_field, zero) for k in KINDS})


def cheaper_alternatives(
    pricer: Pricer, work: Workload, priced: Price, at: datetime, **mods: str | None
) -> list[Alternative]:
    """Current chat models of the same provider that price every kind of token used here for less,
    and whose context window (where genai-prices knows it) takes each call's input.

    On a router (OpenRouter) "the same provider" means the same upstream vendor prefix, such as
    ``anthropic/``: a user comparing Claude models there does not want a list of unknown models.
    """
    return _alternatives(pricer, work, priced, at, **mods)[0]


def _alternatives(
    pricer: Pricer, work: Workload, priced: Price, at: datetime, **mods: str | None
) -> tuple[list[Alternative], list[str]]:
    """:func:`cheaper_alternatives`, and the cheaper models left out because a call's input is more
    than their context window (each named with its window)."""
    if priced.total <= 0 or not priced.provider_id:
        return [], []
    vendor = priced.model_id.split("/", 1)[0] + "/" if "/" in priced.model_id else ""
    # The largest call of the workload: a model that cannot read it cannot take the workload.
    largest = max(shape.total_input for shape, _ in work.calls())
    found: list[Alternative] = []
    too_small: list[tuple[int, str]] = []
    for info in provider_models(priced.provider_id):
        if info.id == priced.model_id or info.deprecated or _NOT_A_SUBSTITUTE.search(info.id):
            continue
        if vendor and not info.id.startswith(vendor):
            continue
        try:
            alt = price_workload(pricer, work, info.id, priced.provider_id, at, **mods)
        except UnknownModelError:
            continue
        if not _prices_what_is_used(alt, work.tokens) or alt.total >= priced.total:
            continue
        # gpt-4o-mini (128k) was offered for a 300k-token prompt on gpt-4.1: cheaper, and unable to
        # take it. A model whose window genai-prices does not know is kept (no limit is invented),
        # as is one priced at a long-context rate past its window (Sonnet 4.5's 1M-token beta).
        if info.context_window is not None and largest > info.context_window and not alt.long_context:
            too_small.append((info.context_window, info.id))
            continue
        saving = priced.total - alt.total
        found.append(
            Alternative(
                model=info.id,
                cost_usd=alt.total,
                saving_usd=saving,
                saving_percent=float(round(saving / priced.total * 100, 1)),
            )
        )
    found.sort(key=lambda a: (a.cost_usd, a.model))
    return found[:MAX_ALTERNATIVES], [
        f"{m} ({w:,})" for w, m in sorted(too_small, key=lambda t: (-t[0], t[1]))
    ]


def _prices_what_is_used(alt: Price, tokens: Tokens) -> bool:
    # A model with no output price (an embedding model) or no known rates (audio, images) is not a
    # substitute for a chat call, even though it "costs less".
    if not alt.by_kind:
        return False
    return not any(tokens.count(kind) > 0 and alt.by_kind[kind] <= 0 for kind in ("input", "output"))
