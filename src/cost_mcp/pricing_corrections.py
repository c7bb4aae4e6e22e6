"""Prices genai-prices does not have yet: a small table of corrections, each with its source.

genai-prices is the price data; this module only fills cases it does not price (yet). Each entry
names the provider's page it comes from and the date it was checked, and has a test that fails as
soon as genai-prices prices the case itself, so the entry is then removed rather than kept.

A call's *modifiers* are what a provider reports beside its tokens: ``speed`` (Anthropic fast mode),
``service_tier`` (batch, priority, flex) and ``inference_geo`` (Anthropic US-only inference). A
modifier genai-prices prices for the model (a price variant) is left to it; a modifier it does not
price is corrected here when a provider documents the price; otherwise the call is priced at
standard rates *with an assumption* that results show as a warning, never silently.

:func:`correct` is applied inside the one pricing function (:class:`cost_mcp.pricing.Pricer`), on a
resolved price table before it is compiled, so the hot path pays nothing per call.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    # Imported where used: loading genai-prices costs ~0.3 s, and the status line normalises
    # modifiers without it when its saved price plans answer (see pricing.SavedPlan).
    from genai_prices.types import ModelPrice, TieredPrices

Speed = Literal["standard", "fast"]
ServiceTier = Literal["standard", "batch", "priority", "flex"]
InferenceGeo = Literal["global", "us"]

STANDARD_SPEEDS = frozenset({"", "standard"})
STANDARD_TIERS = frozenset({"", "standard", "default", "auto"})
STANDARD_GEOS = frozenset({"", "global", "not_available"})
KNOWN_SPEEDS = frozenset({"fast"})
KNOWN_TIERS = frozenset({"batch", "priority", "flex"})
KNOWN_GEOS = frozenset({"us"})

_RATE_KEYS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_5m_mtok",
    "cache_write_1h_mtok",
)
"""Token rates a multiplier scales. Per-request fees such as web searches are not token prices:
Anthropic's multipliers apply to token categories only."""


@dataclass(frozen=True, slots=True)
class Modifiers:
    """A call's non-standard modifiers, normalised: ``None`` means standard."""

    speed: str | None = None
    service_tier: str | None = None
    inference_geo: str | None = None

    def items(self) -> list[tuple[str, str]]:
        """The modifiers that are set, as (name, value)."""
        return [
            (k, v)
            for k, v in (
                ("speed", self.speed),
                ("service_tier", self.service_tier),
                ("inference_geo", self.inference_geo),
            )
            if v is not None
        ]


_modifier_cache: dict[tuple[str | None, str | None, str | None], Modifiers | None] = {}


def modifiers(speed: str | None, service_tier: str | None, inference_geo: str | None) -> Modifiers | None:
    """Normalised modifiers, or None when the call is standard in every respect (the common case)."""
    key = (speed, service_tier, inference_geo)
    try:
        return _modifier_cache[key]
    except KeyError:
        pass
    s = (speed or "").strip().lower()
    t = (service_tier or "").strip().lower()
    g = (inference_geo or "").strip().lower()
    found = Modifiers(
        speed=None if s in STANDARD_SPEEDS else s,
        service_tier=None if t in STANDARD_TIERS else t,
        inference_geo=None if g in STANDARD_GEOS else g,
    )
    result = None if not found.items() else found
    if len(_modifier_cache) < 1024:  # log values are few; a hostile file must not grow this forever
        _modifier_cache[key] = result
    return result


def genai_context(name: str, value: str) -> dict[str, str] | None:
    """genai-prices' price context for one modifier, or None when it has no such context."""
    if name == "speed":
        return {"speed": value}
    if name == "service_tier":
        return {"processing": "batch"} if value == "batch" else {"service_tier": value}
    return None


# --- the corrections ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LongContext:
    """A whole-request long-context rate table: above ``threshold`` total input tokens, every
    token of the request is charged at these rates (USD per million tokens)."""

    threshold: int
    rates: Mapping[str, Decimal]


SONNET_LONG_CONTEXT = LongContext(
    threshold=200_000,
    rates={
        "input_mtok": Decimal(6),
        "output_mtok": Decimal("22.5"),
        "cache_read_mtok": Decimal("0.6"),
        "cache_write_mtok": Decimal("7.5"),
        "cache_write_1h_mtok": Decimal(12),
    },
)
"""Sonnet 4 and 4.5 above 200k input tokens: the whole request at $6 / $22.50 per MTok (Anthropic
and the clouds' global endpoints alike)."""

SONNET_LONG_CONTEXT_REGIONAL = LongContext(
    threshold=SONNET_LONG_CONTEXT.threshold,
    rates={kind: rate * Decimal("1.1") for kind, rate in SONNET_LONG_CONTEXT.rates.items()},
)
"""The same on a cloud's regional endpoint: 10% above global."""


@dataclass(frozen=True, slots=True)
class Correction:
    """One price genai-prices lacks."""

    name: str
    provider: str
    models: frozenset[str]
    """genai-prices model ids it applies to; empty means every model of the provider."""
    modifier: tuple[str, str] | None
    """The modifier (name, value) it prices, or None for a correction of the standard table."""
    source: str
    checked: date
    multiplier: Decimal | None = None
    long_context: LongContext | None = None
    one_hour_write: Decimal | None = None
    """For a table without a 1-hour cache write price: that price, as a multiple of the input rate."""

    def applies(self, provider: str, model_id: str) -> bool:
        """Whether this entry covers the model."""
        return provider == self.provider and (not self.models or model_id in self.models)


ANTHROPIC_PRICING = "https://platform.claude.com/docs/en/about-claude/pricing"
LITELLM_ONLY = (
    "[not confirmed on that page, which this machine could not reach: the rates are LiteLLM's "
    "*_above_200k_tokens for this id, as ccusage 20.0.24 embeds them]"
)
"""Said of a cloud's rate not yet read on the cloud's own price page."""

CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        name="fast mode on claude-opus-4-6 is 6x standard rates",
        provider="anthropic",
        models=frozenset({"claude-opus-4-6"}),
        modifier=("speed", "fast"),
        multiplier=Decimal(6),
        # "$30 / $150 per MTok up to 200K input, $60 / $225 above": 6x the standard table,
        # long-context tier included; stacks with other modifiers.
        source="https://platform.claude.com/docs/en/build-with-claude/fast-mode (pricing table)",
        checked=date(2026, 12, 2),
    ),
    Correction(
        name="fast mode on claude-opus-4-7 is 6x standard rates",
        provider="anthropic",
        models=frozenset({"claude-opus-4-7"}),
        modifier=("speed", "fast"),
        multiplier=Decimal(6),
        # Offered from May 2026 until its removal on 2026-07-24 (Claude Code's fast-mode page), at
        # Opus 4.6's fast rates: $30 / $150 per MTok. ccusage 20.0.24 prices it 6x too.
        source="https://code.claude.com/docs/en/fast-mode (Opus 4.7: removed 2026-07-24) "
        "[6x not on that page: ccusage 20.0.24's fast-multiplier overrides and Opus 4.6's fast rates]",
        checked=date(2026, 12, 5),
    ),
    Correction(
        name="long context on claude-sonnet-4-0: above 200k input the whole request at $6 / $22.50",
        provider="anthropic",
        models=frozenset({"claude-sonnet-4-0"}),
        modifier=None,
        long_context=SONNET_LONG_CONTEXT,
        source=f"{ANTHROPIC_PRICING}#long-context-pricing (Sonnet 4 and 4.5, 1M context)",
        checked=date(2026, 12, 2),
    ),
    # The clouds bill Claude's long context like Anthropic (above 200k input the whole request at
    # the long-context rates, regional endpoints 10% above global); genai-prices has the tier for
    # Vertex's Sonnet 4.5 but not for Bedrock's Sonnet 4 and 4.5 or Vertex's Sonnet 4. The same
    # rates are LiteLLM's *_above_200k_tokens for these ids, which ccusage 20.0.24 embeds.
    Correction(
        name="long context on Bedrock's global Sonnet 4.5: above 200k input all at $6 / $22.50",
        provider="aws",
        models=frozenset({"global.anthropic.claude-sonnet-4-5-20250929-v1:0"}),
        modifier=None,
        long_context=SONNET_LONG_CONTEXT,
        source="https://aws.amazon.com/bedrock/pricing/ (Anthropic, Claude Sonnet 4.5 - Long Context) "
        + LITELLM_ONLY,
        checked=date(2026, 12, 5),
    ),
    Correction(
        name="long context on Bedrock's regional Sonnet 4.5: above 200k input all at $6.60 / $24.75",
        provider="aws",
        models=frozenset({"regional.anthropic.claude-sonnet-4-5-20250929-v1:0"}),
        modifier=None,
        long_context=SONNET_LONG_CONTEXT_REGIONAL,
        source="https://aws.amazon.com/bedrock/pricing/ (Anthropic, Claude Sonnet 4.5 - Long Context) "
        + LITELLM_ONLY,
        checked=date(2026, 12, 5),
    ),
    Correction(
        name="long context on Bedrock's Sonnet 4: above 200k input the whole request at $6 / $22.50",
        provider="aws",
        models=frozenset(
            {
                "global.anthropic.claude-sonnet-4-20250514-v1:0",
                "regional.anthropic.claude-sonnet-4-20250514-v1:0",
            }
        ),
        modifier=None,
        long_context=SONNET_LONG_CONTEXT,
        source="https://aws.amazon.com/bedrock/pricing/ (Anthropic, Claude Sonnet 4 - Long Context) "
        + LITELLM_ONLY,
        checked=date(2026, 12, 5),
    ),
    Correction(
        name="long context on Vertex's Sonnet 4: above 200k input the whole request at $6 / $22.50",
        provider="google",
        models=frozenset({"claude-4-sonnet"}),
        modifier=None,
        long_context=SONNET_LONG_CONTEXT,
        source="https://cloud.google.com/vertex-ai/generative-ai/pricing (Claude Sonnet 4, input > 200K) "
        + LITELLM_ONLY,
        checked=date(2026, 12, 5),
    ),
    # A table without a 1-hour cache write price would charge those tokens at the 5-minute rate
    # (genai-prices' fallback): 37.5% under what is billed. Anthropic prices a 1-hour write at 2x
    # input for every Claude model, and the clouds follow its multipliers; genai-prices lacks the
    # 1-hour price for Bedrock's and Vertex's Claude 4 (Sonnet 4, Opus 4, Opus 4.1) and 3.x models.
    Correction(
        name="1-hour cache writes of Claude on Bedrock are 2x input",
        provider="aws",
        models=frozenset(
            {
                "global.anthropic.claude-sonnet-4-20250514-v1:0",
                "regional.anthropic.claude-sonnet-4-20250514-v1:0",
                "regional.anthropic.claude-opus-4-1-20250805-v1:0",
                "regional.anthropic.claude-opus-4-20250514-v1:0",
                "regional.anthropic.claude-3-7-sonnet-20250219-v1:0",
                "regional.anthropic.claude-3-5-sonnet-20241022-v2:0",
                "regional.anthropic.claude-3-5-sonnet-20240620-v1:0",
                "regional.anthropic.claude-3-5-haiku-20241022-v1:0",
                "regional.anthropic.claude-3-haiku-20240307-v1:0",
                "regional.anthropic.claude-3-opus-20240229-v1:0",
                "regional.anthropic.claude-3-sonnet-20240229-v1:0",
            }
        ),
        modifier=None,
        one_hour_write=Decimal(2),
        source=f"{ANTHROPIC_PRICING}#model-pricing (1h cache writes: 2x base input)",
        checked=date(2026, 12, 5),
    ),
    Correction(
        name="1-hour cache writes of Claude on Vertex are 2x input",
        provider="google",
        models=frozenset(
            {
                "claude-4-sonnet",
                "claude-4-opus",
                "claude-3-7-sonnet",
                "claude-3-5-sonnet",
                "claude-3-5-haiku",
                "claude-3-haiku",
                "claude-3-opus",
            }
        ),
        modifier=None,
        one_hour_write=Decimal(2),
        source=f"{ANTHROPIC_PRICING}#model-pricing (1h cache writes: 2x base input)",
        checked=date(2026, 12, 5),
    ),
    Correction(
        name="US-only inference (inference_geo us) is 1.1x every token category",
        provider="anthropic",
        models=frozenset(),
        modifier=("inference_geo", "us"),
        multiplier=Decimal("1.1"),
        # Only models from Feb 2026 on report a geography; older ones say "not_available".
        source="https://platform.claude.com/docs/en/build-with-claude/data-residency (pricing)",
        checked=date(2026, 12, 2),
    ),
    Correction(
        name="Anthropic batch is 50% of standard rates",
        provider="anthropic",
        models=frozenset(),
        modifier=("service_tier", "batch"),
        multiplier=Decimal("0.5"),
        # genai-prices has batch variants for recent models only (not Sonnet 4, Opus 4/4.1, 3.x).
        source=f"{ANTHROPIC_PRICING}#batch-processing",
        checked=date(2026, 12, 2),
    ),
    Correction(
        name="OpenAI batch is 50% of standard rates",
        provider="openai",
        models=frozenset(),
        modifier=("service_tier", "batch"),
        multiplier=Decimal("0.5"),
        source="https://platform.openai.com/docs/guides/batch (50% lower costs)",
        checked=date(2026, 12, 2),
    ),
    Correction(
        name="OpenAI flex processing is priced at Batch API rates (50%)",
        provider="openai",
        models=frozenset(),
        modifier=("service_tier", "flex"),
        multiplier=Decimal("0.5"),
        source="https://platform.openai.com/docs/guides/flex-processing (priced at Batch API rates)",
        checked=date(2026, 12, 2),
    ),
)

_NO_LIST_PRICE = {
    ("anthropic", "service_tier", "priority"): (
        "Anthropic Priority Tier has no list price (it is billed under a commitment)"
    ),
}


_digest: list[tuple[object, str]] = []
"""The table :func:`corrections_digest` last hashed (by identity) and its digest."""


def corrections_digest() -> str:
    """A short, stable name for the set of corrections in force (a hash of what each entry prices:
    provider, models, modifier and rates; not its source text or date). The ledger records it beside
    the genai-prices version with every priced write, so a release that adds or fixes a correction
    tells which stored calls were priced without it (`cost-mcp doctor`, `cost-mcp reprice --all`)."""
    # Kept per table rather than once per process: every priced write asks, and a table replaced
    # in place (a test pricing as an older release did) gets its own digest.
    if _digest and _digest[0][0] is CORRECTIONS:
        return _digest[0][1]
    entries = sorted(
        json.dumps(
            [
                c.provider,
                sorted(c.models),
                list(c.modifier) if c.modifier else None,
                None if c.multiplier is None else str(c.multiplier),
                None
                if c.long_context is None
                else [c.long_context.threshold, sorted((k, str(v)) for k, v in c.long_context.rates.items())],
                None if c.one_hour_write is None else str(c.one_hour_write),
            ]
        )
        for c in CORRECTIONS
    )
    entries += sorted(json.dumps([*key, why]) for key, why in _NO_LIST_PRICE.items())
    digest = hashlib.sha256("\n".join(entries).encode()).hexdigest()[:12]
    _digest[:] = [(CORRECTIONS, digest)]
    return digest


@dataclass(frozen=True, slots=True)
class Corrected:
    """A price table after corrections, what was corrected, and what had to be assumed."""

    prices: ModelPrice
    applied: tuple[str, ...]
    assumptions: tuple[str, ...]


def correct(
    provider: str,
    model_id: str,
    prices: ModelPrice,
    mods: Modifiers | None,
    priced_by_genai: frozenset[tuple[str, str]] = frozenset(),
) -> Corrected:
    """Apply the corrections that cover this model to its resolved price table.

    ``priced_by_genai`` lists the modifiers genai-prices already priced for this model (its
    price variants): those are never corrected twice. A modifier that neither genai-prices nor a
    correction prices leaves the standard price and an assumption saying so.
    """
    applied: list[str] = []
    assumptions: list[str] = []
    table = prices
    for c in CORRECTIONS:
        # Before the long-context tier, which then tiers the 1-hour price too.
        if (
            c.one_hour_write is not None
            and c.applies(provider, model_id)
            and getattr(table, "cache_write_1h_mtok", None) is None
        ):
            table = _with_one_hour_write(table, c.one_hour_write)
            applied.append(c.name)
    for c in CORRECTIONS:
        if c.modifier is None and c.long_context is not None and c.applies(provider, model_id):
            table = _with_long_context(table, c.long_context)
            applied.append(c.name)
    for name, value in mods.items() if mods else ():
        if (name, value) in priced_by_genai:
            continue
        entry = next(
            (
                c
                for c in CORRECTIONS
                if c.modifier == (name, value) and c.multiplier is not None and c.applies(provider, model_id)
            ),
            None,
        )
        if entry is not None and entry.multiplier is not None:
            table = _scaled(table, entry.multiplier)
            applied.append(entry.name)
            continue
        known = {"speed": KNOWN_SPEEDS, "service_tier": KNOWN_TIERS, "inference_geo": KNOWN_GEOS}[name]
        why = _NO_LIST_PRICE.get((provider, name, value))
        if why is not None:
            assumptions.append(f"{name} {value!r}: {why}; priced at standard rates")
        elif value in known:
            assumptions.append(
                f"{name} {value!r} has no known price for {model_id}; priced at standard rates"
            )
        else:
            assumptions.append(f"unknown {name} {value!r}; priced at standard rates")
    return Corrected(table, tuple(applied), tuple(assumptions))


def _scaled(prices: ModelPrice, factor: Decimal) -> ModelPrice:
    from genai_prices.types import Tier, TieredPrices

    changes: dict[str, Decimal | TieredPrices] = {}
    for key in _RATE_KEYS:
        rate = getattr(prices, key, None)
        if isinstance(rate, Decimal):
            changes[key] = rate * factor
        elif isinstance(rate, TieredPrices):
            changes[key] = TieredPrices(
                base=rate.base * factor,
                tiers=[Tier(start=t.start, price=t.price * factor) for t in rate.tiers],
            )
    return _replaced(prices, changes)


def _with_one_hour_write(prices: ModelPrice, factor: Decimal) -> ModelPrice:
    from genai_prices.types import Tier, TieredPrices

    rate = getattr(prices, "input_mtok", None)
    if isinstance(rate, Decimal):
        return _replaced(prices, {"cache_write_1h_mtok": rate * factor})
    if isinstance(rate, TieredPrices):
        tiered = TieredPrices(
            base=rate.base * factor, tiers=[Tier(start=t.start, price=t.price * factor) for t in rate.tiers]
        )
        return _replaced(prices, {"cache_write_1h_mtok": tiered})
    return prices


def _with_long_context(prices: ModelPrice, lc: LongContext) -> ModelPrice:
    from genai_prices.types import Tier, TieredPrices

    changes: dict[str, TieredPrices] = {}
    for key, above in lc.rates.items():
        base = getattr(prices, key, None)
        if isinstance(base, Decimal):
            changes[key] = TieredPrices(base=base, tiers=[Tier(start=lc.threshold, price=above)])
    return _replaced(prices, changes)


def _replaced(prices: ModelPrice, changes: Mapping[str, Decimal | TieredPrices]) -> ModelPrice:
    # ModelPrice keeps its rates in __dict__ (it is not a dataclass); genai-prices resolves price
    # variants the same way.
    result = copy.copy(prices)
    result.__dict__.update(changes)
    return result
