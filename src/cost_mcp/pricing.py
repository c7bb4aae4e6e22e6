"""The one pricing function: what a single model call cost, as an exact Decimal.

Prices come from the user's override file first, then from genai-prices' bundled data (never fetched
at run time). Every call is priced on its own, at its own timestamp, because two rules make
aggregates wrong: prices change over time, and long-context tiers (Anthropic's >200k rule) apply to a
whole request once its *total* input passes the threshold.

Token kinds are disjoint here, as in Anthropic's usage: ``input`` is only the uncached input, and
cache reads and writes are counted apart. genai-prices wants the total input instead; that mapping
lives in :func:`_genai_usage` and nowhere else. The kinds, their order and the genai-prices prices
each is charged at are :data:`cost_mcp.tokens.KINDS`: every tuple of counts or per-kind amounts
here is in that order.

The ledger prices hundreds of thousands of calls per ingest, and genai-prices' general calculator
manages about 10k calls a second. So each resolved price table is compiled once into per-kind rates
(:class:`_Rates`); tables using price units this module does not model fall back to genai-prices
itself. Tests check that both paths agree for every model of the main providers.

genai-prices itself (its types, data and ~0.3 s of loading) is imported only where a price must be
looked up in it. A short-lived process such as the status line passes the plans it saved earlier
(:class:`SavedPlan`, kept in the ledger) and prices a new call without loading it at all.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import itertools
import json
import operator
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from cost_mcp.errors import InvalidInputError, UnknownModelError
from cost_mcp.files import NotRegularFileError, read_regular_file
from cost_mcp.money import pico_to_nanos, pico_to_usd, to_nanos
from cost_mcp.pricing_corrections import Corrected, Modifiers, correct, genai_context, modifiers
from cost_mcp.tokens import KINDS, NAMES, Counts, input_total, of_call, token_total

if TYPE_CHECKING:
    from genai_prices import Usage
    from genai_prices.types import ModelInfo, ModelPrice, Provider, TieredPrices

MTOK = Decimal(1_000_000)
KCOUNT = Decimal(1_000)
GENAI_PRICES_VERSION: str
"""genai-prices' version, read on first use (module ``__getattr__``): importing it is slow."""


def __getattr__(name: str) -> str:
    if name == "GENAI_PRICES_VERSION":
        from importlib.metadata import version

        globals()[name] = found = version("genai-prices")
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PriceSource = Literal["override", "genai-prices"]


@dataclass(frozen=True, slots=True)
class Tokens:
    """What one call used, in disjoint kinds (``input`` excludes cache reads and writes).

    One field per kind, named and ordered as :data:`cost_mcp.tokens.KINDS` (``Tokens(*counts)``
    builds one from :data:`~cost_mcp.tokens.Counts`)."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    web_search_requests: int = 0

    def __post_init__(self) -> None:
        # Types are checked statically and by every parser in front of this; only the sign is
        # checked here, cheaply, because this runs once per logged call on ingest.
        values = of_call(self)
        if min(values) < 0:
            name = next(f.name for f, v in zip(fields(self), values, strict=True) if v < 0)
            raise InvalidInputError(f"{name} must be a whole number >= 0, got {getattr(self, name)}")

    @property
    def total_input(self) -> int:
        """All input the model read: uncached, cache reads and cache writes."""
        return input_total(of_call(self))

    @property
    def total(self) -> int:
        """All tokens, as ccusage counts them (input + output + cache read + cache write)."""
        return token_total(of_call(self))

    def count(self, kind: str) -> int:
        """The count of one kind, by name (:data:`cost_mcp.tokens.NAMES`)."""
        return int(getattr(self, kind))


@dataclass(frozen=True, slots=True)
class Price:
    """A priced call: exact integer pico-USD per token kind, or genai-prices' own Decimal total for
    the rare price tables whose units this module does not model."""

    model_id: str
    provider_id: str
    source: PriceSource
    long_context: bool
    """True when a tier above the base price applied (the request passed a threshold such as 200k)."""
    kind_pico: tuple[int, ...] = ()
    """Pico-USD per kind, in :data:`cost_mcp.tokens.KINDS` order; empty for fallback pricing."""
    extra_pico: int = 0
    """Per-request fees, in pico-USD."""
    fallback_total: Decimal | None = None
    corrections: tuple[str, ...] = ()
    """Corrections applied beside genai-prices' data (see :mod:`cost_mcp.pricing_corrections`)."""
    assumptions: tuple[str, ...] = ()
    """What had to be assumed to price this call (e.g. an unknown speed priced at standard rates)."""

    @property
    def total(self) -> Decimal:
        """The price in USD, exact."""
        if self.fallback_total is not None:
            return self.fallback_total
        return pico_to_usd(sum(self.kind_pico) + self.extra_pico)

    @property
    def total_nanos(self) -> int:
        """The price in nano-USD, as the ledger stores it (rounded half-even below a nano-dollar)."""
        if self.fallback_total is not None:
            return to_nanos(self.fallback_total)
        return pico_to_nanos(sum(self.kind_pico) + self.extra_pico)

    @property
    def by_kind(self) -> Mapping[str, Decimal]:
        """Cost per token kind, by name (:data:`cost_mcp.tokens.NAMES`; empty for fallback pricing)."""
        if not self.kind_pico:  # fallback pricing: a total only (zip would fail on the lengths)
            return {}
        return {kind: pico_to_usd(p) for kind, p in zip(NAMES, self.kind_pico, strict=True)}


@dataclass(frozen=True, slots=True)
class Unpriced:
    """No price is known; ``reason`` says why and ``suggestions`` lists close model ids."""

    reason: str
    suggestions: tuple[str, ...] = ()


# --- compiled rates ---------------------------------------------------------------------------

_FAST_KEYS = frozenset({key for kind in KINDS for key in kind.prices} | {"requests_kcount"})
"""The price attributes the compiled rates model: every kind's, and the per-request fee."""

# Units whose usage a call record never carries (audio, images, documents, other tools): their
# count is zero for every call we price, so they add nothing and leave the token kinds unchanged.
_ZERO_USAGE_KEYS = re.compile(
    r"audio|image|video|document|mchars|messages|gpixels|hours|reasoning|citation|(?<!web_)searches|code_executions"
)

Rate: TypeAlias = "Decimal | TieredPrices | None"
PICO_PER_USD = 10**12
_PER = {"_mtok": 1_000_000, "_kcount": 1_000}
"""How many units a genai-prices price is for, by its attribute's suffix (see ``TokenKind.prices``)."""


def _per(price_key: str) -> int:
    return next(per for suffix, per in _PER.items() if price_key.endswith(suffix))


def _usage_key(price_key: str) -> str:
    """genai-prices' usage field a price attribute is charged on (``input_mtok``: ``input_tokens``,
    ``web_searches_kcount``: ``web_searches``)."""
    return (
        price_key.removesuffix("_mtok") + "_tokens"
        if price_key.endswith("_mtok")
        else price_key.removesuffix("_kcount")
    )


_Tiered = tuple[int, tuple[tuple[int, int], ...]]
"""A rate in integer pico-USD per unit: (base, ((threshold, rate above it), ...) highest first)."""


@dataclass(frozen=True, slots=True)
class _Rates:
    """A resolved price table reduced to one integer rate per disjoint token kind.

    Mirrors genai-prices' decomposition: a kind without a price of its own is charged at the nearest
    priced parent (a 1h cache write at the cache-write rate, then at the input rate). Rates are
    pico-USD per token (per request for web search), so a call is priced in exact integer
    arithmetic; tables with rates finer than that are left to genai-prices.
    """

    rates: tuple[_Tiered, ...]
    """One rate per kind, in :data:`cost_mcp.tokens.KINDS` order."""
    per_request: int
    base: tuple[int, ...] = field(init=False, repr=False, compare=False)
    """The base rate of each kind: what every kind costs while no tier applies."""
    untiered_up_to: int | None = field(init=False, repr=False, compare=False)
    """The largest total input at which no tier applies (None: the table has no tiers)."""

    def __post_init__(self) -> None:
        thresholds = [threshold for _, tiers in self.rates for threshold, _ in tiers]
        object.__setattr__(self, "base", tuple(base for base, _ in self.rates))
        object.__setattr__(self, "untiered_up_to", min(thresholds) if thresholds else None)

    @classmethod
    def from_model_price(cls, mp: ModelPrice) -> _Rates | None:
        """A genai-prices table compiled; None when it has units these rates do not model."""
        return cls.from_prices(
            {k: v for k, v in mp.__dict__.items() if v is not None and not k.startswith("_")}
        )

    @classmethod
    def from_prices(cls, prices: Mapping[str, Rate]) -> _Rates | None:
        """:meth:`from_model_price` from the table's set rates by key (an override file's too)."""
        if any(k not in _FAST_KEYS and not _ZERO_USAGE_KEYS.search(k) for k in prices):
            return None
        compiled = [
            _to_pico(_first(*map(prices.get, kind.prices)), PICO_PER_USD // _per(kind.prices[0]))
            for kind in KINDS
        ]
        per_request = _to_pico(prices.get("requests_kcount"), PICO_PER_USD // 1_000)
        if any(c is None for c in compiled) or per_request is None or per_request[1]:
            return None
        return cls(rates=tuple(c for c in compiled if c is not None), per_request=per_request[0])

    def price(self, tokens: Tokens) -> tuple[tuple[int, ...], bool]:
        """Pico-USD per token kind, and whether a tier above the base applied."""
        counts = of_call(tokens)
        return self.price_counts(counts, input_total(counts))

    def price_counts(self, counts: Counts, total_input: int) -> tuple[tuple[int, ...], bool]:
        """:meth:`price` from a call's counts (no Tokens object on an ingest's hot path)."""
        picos: list[int] = []
        tiered = False
        for n, (base, tiers) in zip(counts, self.rates, strict=True):
            rate = base
            for threshold, above in tiers:
                if total_input > threshold:
                    rate = above
                    tiered = tiered or n > 0
                    break
            picos.append(rate * n)
        return tuple(picos), tiered


def _first(*rates: Rate) -> Rate:
    return next((r for r in rates if r is not None), None)


def _to_pico(rate: Rate, scale: int) -> _Tiered | None:
    """A rate per million (or thousand) units as integer pico-USD per unit; None if not exact."""
    if rate is None:
        return 0, ()
    if isinstance(rate, Decimal):
        value = rate * scale
        return (int(value), ()) if value == value.to_integral_value() else None
    base = _to_pico(rate.base, scale)
    tiers: list[tuple[int, int]] = []
    for tier in sorted(rate.tiers, key=lambda t: t.start, reverse=True):
        above = _to_pico(tier.price, scale)
        if above is None:
            return None
        tiers.append((tier.start, above[0]))
    return None if base is None else (base[0], tuple(tiers))


@dataclass(frozen=True, slots=True)
class CallRates:
    """How every call of one model, provider and set of modifiers is priced on one UTC day.

    What :meth:`Pricer.price` resolves per call, resolved once: an ingest pricing a hundred thousand
    calls of a handful of models asks :meth:`Pricer.rates` once per (model, modifiers, day) and
    prices each call with :meth:`nanos`, with the same integer arithmetic and result as ``price``.
    """

    rates: _Rates
    model_id: str
    provider_id: str
    source: PriceSource
    corrections: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    day_stable: bool = True
    """The same rates hold for every instant of the call's UTC day (prices change only at a UTC
    date; False for time-of-day prices such as off-peak discounts)."""

    def nanos(self, counts: Counts) -> int:
        """Nano-USD of one call from its counts, as ``Price.total_nanos``."""
        rates = self.rates
        untiered = rates.untiered_up_to
        # All of a call's counts (none is negative) bound its input from above: nearly every call
        # is below every tier by that one sum in C, without adding up its input kinds in Python.
        if untiered is None or sum(counts) <= untiered or input_total(counts) <= untiered:
            # Below every tier (nearly every call): the base rates, without the per-kind tier walk
            # of price_counts, which cost an OTLP event ~2 µs.
            return pico_to_nanos(sum(map(operator.mul, counts, rates.base)) + rates.per_request)
        picos, _ = rates.price_counts(counts, input_total(counts))
        return pico_to_nanos(sum(picos) + rates.per_request)

    def priced(self, tokens: Tokens) -> Price:
        """The full :class:`Price` of one call."""
        picos, tiered = self.rates.price(tokens)
        return Price(
            self.model_id,
            self.provider_id,
            self.source,
            tiered,
            picos,
            self.rates.per_request,
            corrections=self.corrections,
            assumptions=self.assumptions,
        )


@dataclass(frozen=True, slots=True)
class _Fallback:
    """A price table whose units the compiled rates do not model: genai-prices prices each call."""

    model_id: str
    provider_id: str
    table: Corrected


def _day_stable(info: ModelInfo) -> bool:
    """Whether the model's prices change only at UTC dates (start-date constraints or none)."""
    from genai_prices.types import StartDateConstraint

    constraints = [c.constraint for c in info.prices] if isinstance(info.prices, list) else []
    constraints += [v.constraint for v in info.price_variants or ()]
    return all(c is None or isinstance(c, StartDateConstraint) for c in constraints)


# --- overrides ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Override:
    """A user's own price for a model, per million tokens (web searches per thousand)."""

    model: str
    provider: str | None
    rates: _Rates


def load_overrides(path: Path) -> tuple[Override, ...]:
    """Read the override file; a missing file means no overrides (see :func:`parse_overrides`)."""
    return parse_overrides(path, read_override_file(path))


def read_override_file(path: Path) -> bytes | None:
    """The override file's bytes, None when there is none."""
    try:
        return read_regular_file(path)
    except (FileNotFoundError, IsADirectoryError):
        return None
    except NotRegularFileError:
        raise InvalidInputError(
            f"price override file {path} is not a regular file (a pipe, socket or device): "
            "remove it or put a TOML file there"
        ) from None
    except OSError as exc:  # no permission: it was a PermissionError traceback in every command
        raise InvalidInputError(
            f"price override file {path} cannot be read ({exc.strerror or exc}): make it readable by "
            "the user running cost-mcp, or set COST_MCP_PRICES_FILE to another file"
        ) from None


def overrides_digest(raw: bytes | None) -> str:
    """What identifies one content of the override file ("" for no file): a change of it is a
    change of prices."""
    return "" if raw is None else hashlib.sha256(raw).hexdigest()


def parse_overrides(path: Path, raw: bytes | None) -> tuple[Override, ...]:
    """The overrides in ``raw``, the content of the file at ``path`` (None: no file, no overrides).

    Format (TOML, amounts in USD per million tokens)::

        [[price]]
        model = "my-finetune"        # exact name, or a prefix followed by - @ : or /
        provider = "openai"          # optional
        input_mtok = "3"
        output_mtok = "15"
        cache_read_mtok = "0.3"      # optional; defaults to the input price
        cache_write_mtok = "3.75"    # optional (5-minute writes)
        cache_write_1h_mtok = "6"    # optional
        web_searches_kcount = "10"   # optional

    Raises InvalidInputError naming the file and entry when it is malformed.
    """
    if raw is None:
        return ()
    import tomllib  # here: most people have no override file, and the status line imports this module

    try:
        doc = tomllib.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"price override file {path} is not valid TOML: {exc}") from None
    entries = doc.get("price", [])
    if not isinstance(entries, list):
        raise InvalidInputError(f"price override file {path}: use [[price]] tables")
    # Any other key is a price written in some other shape, which would otherwise be ignored
    # without a word and leave the model unpriced.
    others = sorted(k for k in doc if k != "price")
    if others:
        raise InvalidInputError(
            f"price override file {path}: unknown key(s) {', '.join(map(repr, others))}; each price is "
            'a [[price]] table with model = "name" and input_mtok, output_mtok... (README, "Price overrides")'
        )
    overrides: list[Override] = []
    for i, entry in enumerate(entries, start=1):
        where = f"price override file {path}, entry {i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
            raise InvalidInputError(f'{where}: each [[price]] needs a model = "name"')
        prices: dict[str, Decimal] = {}
        for key, value in entry.items():
            if key in ("model", "provider"):
                continue
            if key not in _FAST_KEYS:
                raise InvalidInputError(f"{where}: unknown price key {key!r}; known: {sorted(_FAST_KEYS)}")
            try:
                amount = Decimal(str(value))
            except ArithmeticError:
                raise InvalidInputError(f"{where}: {key} must be a number, got {value!r}") from None
            if not amount.is_finite() or amount < 0:
                raise InvalidInputError(f"{where}: {key} must be a number >= 0, got {value!r}")
            prices[key] = amount
        if "input_mtok" not in prices and "output_mtok" not in prices:
            raise InvalidInputError(f"{where}: give at least input_mtok or output_mtok")
        rates = _Rates.from_prices(prices)
        assert rates is not None  # only fast keys are accepted above
        provider = entry.get("provider")
        overrides.append(
            Override(
                model=entry["model"].lower(),
                provider=provider.lower() if isinstance(provider, str) else None,
                rates=rates,
            )
        )
    return tuple(overrides)


_OVERRIDE_BOUNDARY = re.compile(r"[-@:/]")


def _match_override(overrides: Iterable[Override], model: str, provider: str | None) -> Override | None:
    ref = model.lower()
    best: Override | None = None
    for o in overrides:
        if o.provider is not None and provider is not None and o.provider != provider.lower():
            continue
        exact = ref == o.model
        prefix = ref.startswith(o.model) and _OVERRIDE_BOUNDARY.match(ref, len(o.model)) is not None
        if (exact or prefix) and (best is None or len(o.model) > len(best.model)):
            best = o
    return best


# --- saved plans ---------------------------------------------------------------------------------

DAY_MS = 86_400_000
OPEN_END_DAY = 10**7
"""A day no price period reaches (the year 29,349): a plan holds until the data changes."""


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """How :meth:`Pricer.rates` answered for one lookup over a range of UTC days, to reuse elsewhere.

    A status line runs as a fresh process after every message: looking one new call's model up in
    genai-prices costs loading it (~0.3 s). So the pricer hands what it looked up to its caller
    (:attr:`Pricer.fresh`), which keeps it (the ledger's ``price_plans``), and a later pricer given
    these plans answers from them. The plan is this module's own answer, serialised, so a call is
    priced identically either way; it is used only under the same :func:`plan_data_key`.

    ``model``, ``provider`` and ``variant`` (speed|service tier|inference geo) are the lookup exactly
    as asked; the plan holds for calls on UTC days ``first_day <= day < end_day`` (days since
    1970-01-01), the stretch between two of the model's price start dates.
    """

    model: str
    provider: str
    variant: str
    first_day: int
    end_day: int
    plan: str


def plan_data_key() -> str:
    """What saved plans depend on: genai-prices' bundled data and the code of this module, its
    corrections and the token kinds (a plan's rates are one per kind, in their order), from the
    files' sizes and modification times (genai-prices is located, not imported). A new release or
    an edit of any of them changes the key."""
    here = Path(__file__)
    files = [here, here.with_name("pricing_corrections.py"), here.with_name("tokens.py")]
    spec = find_spec("genai_prices")
    for location in (spec.submodule_search_locations or ()) if spec else ():
        files.append(Path(location) / "data.py")
    digest = hashlib.sha256()
    for f in files:
        try:
            st = f.stat()
        except OSError:
            digest.update(f"{f}:missing;".encode())
        else:
            digest.update(f"{f}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()[:32]


def _variant(speed: str | None, service_tier: str | None, inference_geo: str | None) -> str:
    return f"{speed or ''}|{service_tier or ''}|{inference_geo or ''}"


def _encode(plan: CallRates | Unpriced) -> str:
    if isinstance(plan, Unpriced):
        return json.dumps({"unpriced": plan.reason, "suggestions": list(plan.suggestions)})
    return json.dumps(
        {
            "rates": [[base, [list(t) for t in tiers]] for base, tiers in plan.rates.rates],
            "per_request": plan.rates.per_request,
            "model_id": plan.model_id,
            "provider_id": plan.provider_id,
            "corrections": list(plan.corrections),
        }
    )


def _decode(text: str) -> CallRates | Unpriced | None:
    """A saved plan back as :meth:`Pricer.rates` returned it; None for anything malformed."""
    try:
        d = json.loads(text)
        if "unpriced" in d:
            return Unpriced(str(d["unpriced"]), tuple(str(x) for x in d["suggestions"]))
        rates = tuple(
            (int(base), tuple((int(at), int(rate)) for at, rate in tiers)) for base, tiers in d["rates"]
        )
        if len(rates) != len(KINDS):
            return None
        return CallRates(
            _Rates(rates, int(d["per_request"])),
            str(d["model_id"]),
            str(d["provider_id"]),
            "genai-prices",
            tuple(str(c) for c in d["corrections"]),
        )
    except (ValueError, TypeError, KeyError):
        return None


def _epoch_day(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _price_period(info: ModelInfo, day: int, variants: bool) -> tuple[int, int]:
    """The UTC days around ``day`` over which the model's start-date constraints all stay as they
    are on ``day`` (so its resolved prices do too). Price variants count only for a call with
    modifiers (``variants``): without, genai-prices never consults them."""
    from genai_prices.types import StartDateConstraint

    constraints = [c.constraint for c in info.prices] if isinstance(info.prices, list) else []
    constraints += [v.constraint for v in info.price_variants or ()] if variants else []
    starts = [_epoch_day(c.start_date) for c in constraints if isinstance(c, StartDateConstraint)]
    return max((d for d in starts if d <= day), default=0), min(
        (d for d in starts if d > day), default=OPEN_END_DAY
    )


# --- the pricing function -----------------------------------------------------------------------


class Pricer:
    """Prices calls; holds the user's overrides and caches model lookups and compiled rates."""

    def __init__(self, overrides: Iterable[Override] = (), saved: Iterable[SavedPlan] | None = None) -> None:
        """``saved``: plans an earlier pricer looked up (see :class:`SavedPlan`), answered from
        without genai-prices; given (even empty), the plans this pricer looks up go to :attr:`fresh`."""
        self.overrides = tuple(overrides)
        self._saved: dict[tuple[str, str, str], list[tuple[int, int, CallRates | Unpriced]]] = {}
        for s in saved or ():
            plan = _decode(s.plan)
            if plan is not None:
                self._saved.setdefault((s.model, s.provider, s.variant), []).append(
                    (s.first_day, s.end_day, plan)
                )
        self.fresh: list[SavedPlan] | None = None if saved is None else []
        """The plans looked up in genai-prices since, for the caller to save (None: not asked)."""
        self._compiled: dict[
            tuple[int, str, Modifiers | None, tuple[bool, ...]], tuple[ModelPrice, Corrected, _Rates | None]
        ] = {}
        # Models whose prices never change with time, resolved once: ingest prices one model
        # hundreds of thousands of times.
        self._static: dict[tuple[str, str | None], CallRates] = {}
        self.overrides_digest = ""
        """:func:`overrides_digest` of the override file these overrides came from."""
        self.file_problem: str | None = None
        """Why the override file could not be read the last time it was (the prices before it stay)."""

    @classmethod
    def from_file(cls, path: Path, saved: Iterable[SavedPlan] | None = None) -> Pricer:
        """A pricer with the overrides in ``path`` (missing file: none) and ``saved`` plans."""
        raw = read_override_file(path)
        pricer = cls(parse_overrides(path, raw), saved)
        pricer.overrides_digest = overrides_digest(raw)
        return pricer

    def follow_file(self, path: Path) -> bool:
        """Take the override file's prices again if it changed since this pricer read it: a running
        server prices with a model the user just added. True when the overrides changed. A file
        that cannot be read keeps the prices before it, with :attr:`file_problem` saying why."""
        try:
            raw = read_override_file(path)
        except InvalidInputError as exc:  # a running server keeps answering, with what it read before
            self.file_problem = f"{exc}; the prices read before it are still in use"
            return False
        digest = overrides_digest(raw)
        if digest == self.overrides_digest:
            self.file_problem = None
            return False
        try:
            overrides = parse_overrides(path, raw)
        except InvalidInputError as exc:
            self.file_problem = f"{exc}; the prices read before it are still in use"
            return False
        self.file_problem = None
        self.overrides_digest = digest
        # Models resolved once hold the old overrides' prices; one priced from genai-prices before
        # may have an override now. The overrides first, then a new cache (see _plan): a thread
        # pricing meanwhile (a push, an OTLP read) caches a plan of the old ones only in the old.
        self.overrides = overrides
        self._static = {}
        return True

    def price(
        self,
        tokens: Tokens,
        model: str,
        provider: str | None = None,
        at: datetime | None = None,
        *,
        speed: str | None = None,
        service_tier: str | None = None,
        inference_geo: str | None = None,
    ) -> Price | Unpriced:
        """Price one call of ``model`` (with ``provider`` when known) made at ``at`` (default: now).

        ``speed`` ("fast"), ``service_tier`` ("batch", "priority", "flex") and ``inference_geo``
        ("us") select genai-prices' own variant prices where it has them, else a documented
        correction (:mod:`cost_mcp.pricing_corrections`); a value with neither is priced at
        standard rates and listed in ``Price.assumptions``, never silently. Returns
        :class:`Unpriced` with close model ids when no price is known: never a zero cost.
        """
        plan = self._plan(model, provider, at, speed, service_tier, inference_geo)
        if isinstance(plan, CallRates):
            return plan.priced(tokens)
        if isinstance(plan, Unpriced):
            return plan
        corrected = plan.table
        total = corrected.prices.calc_price(_genai_usage(tokens))["total_price"]
        return Price(
            plan.model_id,
            plan.provider_id,
            "genai-prices",
            _any_tier_applies(corrected.prices, tokens),
            fallback_total=total,
            corrections=corrected.applied,
            assumptions=corrected.assumptions,
        )

    def rates(
        self,
        model: str,
        provider: str | None,
        at: datetime,
        *,
        speed: str | None = None,
        service_tier: str | None = None,
        inference_geo: str | None = None,
    ) -> CallRates | Unpriced | None:
        """How :meth:`price` prices calls of ``model`` at ``at``, resolved once for many calls.

        None when the model's price table is priced by genai-prices itself (units the compiled
        rates do not model): call :meth:`price` per call then. When ``day_stable`` is set, the
        result holds for every call of the same UTC day.
        """
        plan = self._plan(model, provider, at, speed, service_tier, inference_geo)
        return None if isinstance(plan, _Fallback) else plan

    def _plan(
        self,
        model: str,
        provider: str | None,
        at: datetime | None,
        speed: str | None,
        service_tier: str | None,
        inference_geo: str | None,
    ) -> CallRates | _Fallback | Unpriced:
        if not model or model == "<synthetic>":
            return Unpriced("no model name" if not model else "synthetic placeholder, not an API call")
        when = at or datetime.now(UTC)
        if when.tzinfo is None:
            raise InvalidInputError("timestamps must carry a timezone (e.g. 2026-11-01T12:00:00Z)")
        mods = (
            modifiers(speed, service_tier, inference_geo) if speed or service_tier or inference_geo else None
        )
        # The cache, then the overrides, read once each in that order: follow_file sets new overrides
        # before a new cache, so a plan resolved here is cached only where its overrides hold.
        cache = self._static
        if mods is None:
            static = cache.get((model, provider))
            if static is not None:
                return static
        override = _match_override(self.overrides, model, provider)
        if override is not None:
            # The user's own price is taken as the price of this call whatever its modifiers.
            noted = (
                tuple(f"{k} {v!r} not applied to your override price" for k, v in mods.items())
                if mods
                else ()
            )
            return CallRates(
                override.rates, override.model, provider or override.provider or "", "override", (), noted
            )
        day = int(when.timestamp() * 1000) // DAY_MS
        if self.fresh is not None:
            lookup = (model, provider or "", _variant(speed, service_tier, inference_geo))
            for first, end, saved in self._saved.get(lookup, ()):
                if first <= day < end:
                    return saved
        found = _lookup(model.lower(), provider.lower() if provider else None)
        if isinstance(found, Unpriced):
            self._keep(model, provider, speed, service_tier, inference_geo, (0, OPEN_END_DAY), found)
            return found
        prov, info = found
        standard = info.get_prices(when)
        _, corrected, rates = self._resolve(prov.id, info, standard, mods, when)
        if rates is None:
            return _Fallback(info.id, prov.id, corrected)
        plan = CallRates(
            rates,
            info.id,
            prov.id,
            "genai-prices",
            corrected.applied,
            corrected.assumptions,
            day_stable=_day_stable(info),
        )
        if mods is None and not isinstance(info.prices, list):
            cache[(model, provider)] = plan
        if plan.day_stable and not plan.assumptions:
            # Unknown modifier values (assumptions) are not kept: a hostile log could hold any number.
            self._keep(
                model,
                provider,
                speed,
                service_tier,
                inference_geo,
                _price_period(info, day, mods is not None),
                plan,
            )
        return plan

    def _keep(
        self,
        model: str,
        provider: str | None,
        speed: str | None,
        service_tier: str | None,
        inference_geo: str | None,
        days: tuple[int, int],
        plan: CallRates | Unpriced,
    ) -> None:
        """Hand a plan looked up in genai-prices to :attr:`fresh`, and answer from it from now on."""
        if self.fresh is None:
            return
        key = (model, provider or "", _variant(speed, service_tier, inference_geo))
        self._saved.setdefault(key, []).append((*days, plan))
        self.fresh.append(SavedPlan(*key, *days, _encode(plan)))

    def _resolve(
        self, provider_id: str, info: ModelInfo, standard: ModelPrice, mods: Modifiers | None, when: datetime
    ) -> tuple[ModelPrice, Corrected, _Rates | None]:
        """The model's price table for these modifiers, corrected and compiled (cached).

        Keyed by identity: genai-prices returns the same ModelPrice object for a given model and
        period, and the entry keeps it alive so the id cannot be reused. The model id is in the key
        too, because corrections are per model, and so is which of its price variants are in force
        at ``when``: a variant that starts later (genai-prices' own batch price from some date)
        changes the answer for the same standard table.
        """
        in_force = (
            tuple(v.constraint is None or v.constraint.active(when) for v in info.price_variants or ())
            if mods
            else ()
        )
        key = (id(standard), info.id, mods, in_force)
        hit = self._compiled.get(key)
        if hit is not None and hit[0] is standard:
            return hit
        table = standard
        priced_by_genai: set[tuple[str, str]] = set()
        for name, value in mods.items() if mods else ():
            context = genai_context(name, value)
            if context is not None and info.get_prices(when, context) != standard:
                priced_by_genai.add((name, value))
        if priced_by_genai:
            merged: dict[str, str] = {}
            for name, value in priced_by_genai:
                merged.update(genai_context(name, value) or {})
            table = info.get_prices(when, merged)
        corrected = correct(provider_id, info.id, table, mods, frozenset(priced_by_genai))
        entry = (standard, corrected, _Rates.from_model_price(corrected.prices))
        if not corrected.assumptions:
            # Values with an assumption are unknown ones: a hostile log could hold any number.
            self._compiled[key] = entry
        return entry


DAY_MS = 86_400_000


class DayPrices:
    """Prices many calls, resolving each distinct (model, provider, modifiers, UTC day) once.

    genai-prices' prices change only at UTC dates, so within one day a model has one set of rates;
    :meth:`Pricer.rates` says when that does not hold (``day_stable``), and those calls, like price
    tables the compiled rates do not model, go through :meth:`Pricer.price` one by one. The result
    is the number :meth:`Pricer.price` gives, to the nano-dollar. Meant for one batch: it does not
    bound how many plans it keeps.
    """

    __slots__ = ("_plans", "pricer")

    def __init__(self, pricer: Pricer) -> None:
        self.pricer = pricer
        self._plans: dict[
            tuple[str, str | None, str | None, str | None, str | None, int], CallRates | Unpriced | None
        ] = {}

    def cost(
        self, counts: Counts, model: str, provider: str | None, ts_ms: int, speed: str | None = None
    ) -> tuple[int, str, str] | None:
        """Nano-USD, the priced model id and its provider id of one call at ``ts_ms`` that used
        ``counts``; None when unpriced."""
        priced = self.priced(counts, model, provider, ts_ms, speed)
        return None if priced is None else priced[:3]

    def priced(
        self,
        counts: Counts,
        model: str,
        provider: str | None,
        ts_ms: int,
        speed: str | None = None,
        service_tier: str | None = None,
        inference_geo: str | None = None,
    ) -> tuple[int, str, str, tuple[str, ...]] | None:
        """:meth:`cost` with the pricing modifiers, and the assumptions the price rests on."""
        key = (model, provider, speed, service_tier, inference_geo, ts_ms // DAY_MS)
        plan = self._plans.get(key, False)
        if plan is False:
            plan = self.pricer.rates(
                model,
                provider,
                datetime.fromtimestamp(ts_ms / 1000, UTC),
                speed=speed,
                service_tier=service_tier,
                inference_geo=inference_geo,
            )
            if not isinstance(plan, CallRates) or plan.day_stable:
                self._plans[key] = plan
        if isinstance(plan, CallRates) and plan.day_stable:
            return plan.nanos(counts), plan.model_id, plan.provider_id, plan.assumptions
        if isinstance(plan, Unpriced):
            return None
        priced = self.pricer.price(
            Tokens(*counts),
            model,
            provider,
            datetime.fromtimestamp(ts_ms / 1000, UTC),
            speed=speed,
            service_tier=service_tier,
            inference_geo=inference_geo,
        )
        if isinstance(priced, Price):
            return priced.total_nanos, priced.model_id, priced.provider_id, priced.assumptions
        return None


def _genai_usage(tokens: Tokens) -> Usage:
    """Our disjoint kinds in genai-prices' convention, where a unit's count includes its descendants'
    (``input_tokens`` is the total input, ``cache_write_tokens`` both cache writes): each kind is
    counted under every price it falls back to (``TokenKind.prices``)."""
    from genai_prices import Usage

    usage: dict[str, int] = {}
    for kind, n in zip(KINDS, of_call(tokens), strict=True):
        for price_key in kind.prices:
            key = _usage_key(price_key)
            usage[key] = usage.get(key, 0) + n
    return Usage(**usage)


def _any_tier_applies(mp: ModelPrice, tokens: Tokens) -> bool:
    from genai_prices.types import TieredPrices

    total_input = tokens.total_input
    return any(
        isinstance(v, TieredPrices) and any(total_input > t.start for t in v.tiers)
        for v in mp.__dict__.values()
    )


def load_price_data() -> None:
    """Import genai-prices and load its price data now (0.15-0.2 s of CPU), which the first price
    looked up would otherwise: for a process forked to price, while its parent does something else."""
    from genai_prices import data_snapshot

    data_snapshot.get_snapshot()


@functools.lru_cache(maxsize=4096)
def _lookup(model: str, provider: str | None) -> tuple[Provider, ModelInfo] | Unpriced:
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    try:
        return snapshot.find_provider_model(model, None, provider, None)
    except LookupError as exc:
        # "anthropic/claude-sonnet-4-5" with provider anthropic (OpenCode, gateways): the provider's
        # own model under its prefix. Other providers' prefixed ids (OpenRouter's) are found above.
        head, _, rest = model.partition("/")
        if rest and (provider is None or head == provider) and head in _provider_ids():
            try:
                return snapshot.find_provider_model(rest, None, head, None)
            except LookupError:
                pass
        if provider in (None, "anthropic") and _BEDROCK_ID.match(model):
            # Claude on Bedrock (Claude Code with CLAUDE_CODE_USE_BEDROCK, or an Anthropic-format
            # gateway) logs Bedrock's ids, "anthropic.claude-...-v1:0" or with a region prefix
            # ("us.", "eu.", "global."): Bedrock bills them, at the prices genai-prices lists
            # under aws (regional endpoints above global ones where AWS says so).
            try:
                return snapshot.find_provider_model(model, None, "aws", None)
            except LookupError:
                pass
        known = _candidate_ids(provider)
        if provider and not known:
            return Unpriced(f"unknown provider {provider!r}", ())
        suggestions = tuple(difflib.get_close_matches(model, known, n=3, cutoff=0.6))
        return Unpriced(str(exc), suggestions)


_BEDROCK_ID = re.compile(r"(?:[a-z]{2,8}\.)?anthropic\.claude-")
"""A Claude model id as Amazon Bedrock names it, with or without a region prefix."""

_VERTEX_ID = re.compile(r"claude-[^@]*@")
"""A Claude model id as Google Vertex AI names it: the version after an ``@``
(``claude-sonnet-4-5@20250929``)."""


CLAUDE_PROVIDERS = ("anthropic", "aws", "google")
"""Every provider :func:`claude_provider` names: those a Claude Code call can be stored under."""


@functools.lru_cache(maxsize=1024)
def claude_provider(model: str) -> str:
    """The provider that bills a Claude call logged with this model id, which it is stored under:
    ``aws`` for Amazon Bedrock's ids (Claude Code with ``CLAUDE_CODE_USE_BEDROCK``), ``google`` for
    Vertex AI's (``CLAUDE_CODE_USE_VERTEX``), else ``anthropic``.

    Neither cloud's usage is on Anthropic's bill, so stored as ``anthropic`` it would count as part
    of what an Anthropic cost report already holds, and a day that report covers would leave it out.
    A Vertex id without its ``@version`` looks like Anthropic's own and stays ``anthropic``.
    Cached: the log reader asks once per distinct model string, not per line.
    """
    if _BEDROCK_ID.match(model):
        return "aws"
    if _VERTEX_ID.match(model):
        return "google"
    return "anthropic"


@functools.cache
def _provider_ids() -> frozenset[str]:
    from genai_prices import data_snapshot

    return frozenset(p.id for p in data_snapshot.get_snapshot().providers)


@functools.cache
def _candidate_ids(provider: str | None) -> tuple[str, ...]:
    from genai_prices import data_snapshot

    providers = data_snapshot.get_snapshot().providers
    ids = [m.id for p in providers if provider is None or p.id == provider for m in p.models]
    return tuple(dict.fromkeys(ids))


@functools.lru_cache(maxsize=256)
def providers_pricing(model: str, exclude: str | None = None) -> tuple[str, ...]:
    """The providers whose genai-prices list holds ``model`` (other than ``exclude``), the one
    genai-prices infers for it first: what an unknown-model error names when the model is known but
    not under the provider given, or not inferable at all (Llama ids are Groq's only when said so)."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    model = model.lower()
    found: list[str] = []
    for provider in snapshot.providers:
        try:
            snapshot.find_provider_model(model, None, provider.id, None)
        except LookupError:
            continue
        if provider.id != (exclude or "").lower():
            found.append(provider.id)
    inferred = _lookup(model, None)
    first = inferred[0].id if not isinstance(inferred, Unpriced) else None
    return tuple(sorted(found, key=lambda p: p != first))


def provider_models(provider: str) -> list[ModelInfo]:
    """Every model genai-prices knows for a provider (empty for an unknown provider)."""
    from genai_prices import data_snapshot

    for p in data_snapshot.get_snapshot().providers:
        if p.id == provider:
            return list(p.models)
    return []


def price_data() -> tuple[str, str | None]:
    """The genai-prices version pricing now, and when its price data was published if that is
    known: fetched data carries its fetch time; the bundled data has no date of its own (its
    snapshot's timestamp is when it was loaded), so None."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    when = snapshot.timestamp.isoformat(timespec="seconds") if snapshot.from_auto_update else None
    # The global once read (module __getattr__ sets it): reading the package metadata again cost
    # every priced write ~1 ms (a zip or dist-info lookup and an email-header parse).
    version = globals().get("GENAI_PRICES_VERSION") or __getattr__("GENAI_PRICES_VERSION")
    return version, when


def genai_prices_loaded() -> bool:
    """Whether this process has loaded genai-prices (not when every price came from saved plans)."""
    return "genai_prices.data_snapshot" in sys.modules


def genai_calc_total(tokens: Tokens, model: str, provider: str, at: datetime) -> Decimal:
    """genai-prices' own general calculation, for checking the compiled rates against it."""
    import genai_prices

    return genai_prices.calc_price(
        _genai_usage(tokens), model, provider_id=provider, genai_request_timestamp=at
    ).total_price


# --- workloads: token totals spread over several calls ------------------------------------------


@dataclass(frozen=True)
class Workload:
    """Token totals spread over ``requests`` calls."""

    tokens: Tokens
    requests: int

    def calls(self) -> Iterator[tuple[Tokens, int]]:
        """The distinct call shapes and how many calls have each, splitting every kind evenly.

        The remainder of each kind goes to the first calls, so at most a handful of shapes exist
        however many calls there are.
        """
        n = self.requests
        t = self.tokens
        parts = {name: divmod(getattr(t, name), n) for name in NAMES}
        cuts = sorted({0, n, *(r for _, r in parts.values())})
        for lo, hi in itertools.pairwise(cuts):
            if hi > lo:
                shape = {name: q + (1 if lo < r else 0) for name, (q, r) in parts.items()}
                yield Tokens(**shape), hi - lo


def price_workload(
    pricer: Pricer,
    work: Workload,
    model: str,
    provider: str | None,
    at: datetime,
    *,
    speed: str | None = None,
    service_tier: str | None = None,
    inference_geo: str | None = None,
) -> Price:
    """Price every call of a workload; raises UnknownModelError when the model has no price."""
    picos = [0] * len(KINDS)
    extra = 0
    fallback = Decimal(0)
    first: Price | None = None
    long_context = False
    for shape, count in work.calls():
        priced = pricer.price(
            shape, model, provider, at, speed=speed, service_tier=service_tier, inference_geo=inference_geo
        )
        if not isinstance(priced, Price):
            raise UnknownModelError(model, provider, priced.suggestions)
        first = first or priced
        long_context = long_context or priced.long_context
        if priced.fallback_total is not None:
            fallback += priced.fallback_total * count
        else:
            picos = [a + b * count for a, b in zip(picos, priced.kind_pico, strict=True)]
            extra += priced.extra_pico * count
    assert first is not None  # a workload has at least one call
    corrections, assumptions = first.corrections, first.assumptions
    if first.fallback_total is not None:
        return Price(
            first.model_id,
            first.provider_id,
            first.source,
            long_context,
            fallback_total=fallback,
            corrections=corrections,
            assumptions=assumptions,
        )
    return Price(
        first.model_id,
        first.provider_id,
        first.source,
        long_context,
        tuple(picos),
        extra,
        corrections=corrections,
        assumptions=assumptions,
    )


def fewest_calls(tokens: Tokens, model: str, provider: str | None) -> int:
    """The fewest calls that keep each call's input within the model's standard context window."""
    window = _context_window(model, provider)
    if not window or tokens.total_input <= window:
        return 1
    return -(-tokens.total_input // window)


def _context_window(model: str, provider: str | None) -> int | None:
    found = _lookup(model.lower(), provider.lower() if provider else None)
    return None if not isinstance(found, tuple) else found[1].context_window
