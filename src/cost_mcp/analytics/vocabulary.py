"""One name per thing in filters, group_by and budget scopes, and filters that say when they miss.

- ``provider``: who serves the model and bills it (anthropic, openai, openrouter, groq, cursor...).
- ``source``: where a number came from, the data source: ``claude_code`` (local logs),
  ``record_usage`` (agents' reports), ``<provider>-costs`` (a provider's cost API: billed),
  ``<provider>-usage`` (a provider's usage API, priced here: estimated), ``anthropic-claude-code``
  (Anthropic's Claude Code report: attribution only) and ``subscription`` (seats by hand).
- ``basis``: how sure the number is: billed, estimated or subscription.

Older names of data sources (``openai billing api``, ``openai usage api``) are still accepted.
A project is the folder a Claude Code session ran in, shown as its path; a filter may name the
path, its last folder (``webapp``) or Claude Code's folder slug (``-home-alice-webapp``).
A model filter matches the calls of that model under whichever id their log gave it
(:func:`model_key`): ``claude-sonnet-4-5`` also matches ``claude-sonnet-4-5-20250929``,
``claude-sonnet-4.5`` and ``anthropic/claude-sonnet-4.5``, never ``claude-sonnet-4``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from pathlib import PurePath
from typing import TYPE_CHECKING

from cost_mcp.store import rollup
from cost_mcp.store.connection import Conn

if TYPE_CHECKING:
    from cost_mcp.analytics.spend import Filters

from cost_mcp.store.known import known_values, marked_values

NOT_REPORTED = "(model not reported)"
"""How every answer names calls whose model was not reported (a span or log record that gave none)."""


def model_label(model: str) -> str:
    """The model as an answer names it: the stored id, or :data:`NOT_REPORTED` for none."""
    return model or NOT_REPORTED


SEAT_FEES = "(seat fees)"
"""How every answer names a row of subscription fees, which have no model, agent, project or session."""

UNPLACED = "(unknown)"
"""How an answer names spend whose row has no value of a dimension and is no seat fee."""


def group_name(value: str | None, basis: str, unplaced: str = UNPLACED) -> str:
    """A row's value of a dimension as an answer names it: the value, else :data:`SEAT_FEES` for
    subscription fees (they have no model, agent or project, nothing was lost), else ``unplaced``.
    One rule for every view: the dashboard's text called $100 of seat fees "(unknown)" as top model,
    agent and project, beside model_breakdown's and the forecast's "(seat fees)"."""
    if value:
        return value
    return SEAT_FEES if basis == "subscription" else unplaced


_LEGACY_SOURCE = re.compile(r"^(?P<provider>.+) (?P<kind>billing|usage) api$")


def canonical_source(name: str) -> str:
    """A data-source name as results spell it (older spellings mapped to it)."""
    m = _LEGACY_SOURCE.match(name)
    if m is None:
        return name
    return f"{m['provider']}-{'costs' if m['kind'] == 'billing' else 'usage'}"


def project_names(path: str) -> set[str]:
    """The names a project may be given by: its path, its last folder, Claude Code's slugs of it."""
    names = {path}
    if "/" in path or "\\" in path:
        names.add(PurePath(path).name)
        names |= _slugs(path)
    return names


def project_slugs(cwd: str) -> tuple[str, str]:
    """Folder names Claude Code may keep a project's logs under.

    Versions differ: some replace every non-alphanumeric character of the path with '-', others
    only '/' and '.'; a path of plain names gives the same slug either way.
    """
    return re.sub(r"[^A-Za-z0-9]", "-", cwd), re.sub(r"[/.]", "-", cwd)


def _slugs(path: str) -> set[str]:
    """Claude Code's folder slugs of a path (:func:`project_slugs`); none for a name that is no path."""
    if "/" not in path and "\\" not in path:
        return set()
    return set(project_slugs(path))


def project_paths(projects: Iterable[str | None]) -> dict[str, str]:
    """For each project stored as Claude Code's folder slug (its log lines gave no usable ``cwd``),
    the one path among ``projects`` whose slug it is, so a breakdown shows the folder once: by its
    path. A slug two of the paths share (``/a-b`` and ``/a/b``) is left as it is."""
    named = {p for p in projects if p}
    paths: dict[str, set[str]] = {}
    for path in named:
        for slug in _slugs(path):
            paths.setdefault(slug, set()).add(path)
    return {
        slug: next(iter(found))
        for slug in named
        if "/" not in slug and "\\" not in slug and len(found := paths.get(slug, set())) == 1
    }


def _named_by(stored: str, wanted: set[str], wanted_slugs: set[str]) -> bool:
    """Whether a stored project is one the filter values name: by any of its names, or, stored as
    a slug (its calls' logs gave no folder), by a path whose slug it is."""
    return bool(project_names(stored) & wanted) or stored in wanted_slugs


def project_aliases(conn: Conn, project: str, known: Collection[str] | None = None) -> set[str]:
    """Every name a call's ``project`` goes by: its own (:func:`project_names`), and those of each
    stored path it names. The hook knows a session by Claude Code's folder slug, a budget may name
    the folder (``webapp``) or its path: each must find the other. ``known``: the stored projects,
    when read already (:meth:`Names.project_aliases`)."""
    names = project_names(project)
    for stored in known_values(conn, "project") if known is None else known:
        theirs = project_names(stored)
        if project in theirs:
            names |= theirs
    return names


_BEDROCK_CLAUDE = re.compile(r"^(?:[a-z]{2,8}\.)?anthropic\.(?=claude-)")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_VERTEX_VERSION = re.compile(r"@[^@/]*$")
_RELEASE = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2}|latest)$")
_DOTTED_VERSION = re.compile(r"(?<=\d)\.(?=\d)")
_MINOR_ZERO = re.compile(r"(?<=-\d)-0$|(?<=-\d\d)-0$")


def model_key(model: str) -> str:
    """The model a logged model id names, whatever way the log spelt it: two ids with one key are
    the same model, so a model filter or budget scope naming either counts the calls of both.

    What is set aside, as model providers and gateways vary it for one model: case; a gateway's
    ``provider/`` prefix (``anthropic/claude-sonnet-4.5``); Bedrock's region and vendor prefix
    and ``-v1:0`` suffix and Vertex's ``@20250929``; a release date (``-20250929``,
    ``-2024-08-06``) or ``-latest``; a dot or dash between version digits (``4.5``, ``4-5``); and
    a ``-0`` minor version (Anthropic's alias ``claude-sonnet-4-0`` is ``claude-sonnet-4``).

    Deliberately not genai-prices' matching (the priced model id): it groups ids that share a
    price, ``gpt-5-codex`` with ``gpt-5``, or on Vertex Claude Opus 4.1 with Opus 4, and a
    budget on one model must not count another. Nor a prefix match: ``claude-sonnet-4`` is not
    ``claude-sonnet-4-5``. Pure text, so the status line and the hook need no price data for it.
    """
    key = model.strip().lower().rpartition("/")[2]
    if _BEDROCK_CLAUDE.match(key):
        key = _BEDROCK_VERSION.sub("", _BEDROCK_CLAUDE.sub("", key))
    key = _VERTEX_VERSION.sub("", key)
    key = _RELEASE.sub("", key)
    key = _DOTTED_VERSION.sub("-", key)
    return _MINOR_ZERO.sub("", key) or model


class ModelNames:
    """Model keys (:func:`model_key`) for logged ids, and the name a model's row shows: the id
    with the most spend among those added (the most calls, then the first in order, on a tie),
    the same on every row of the model so a chart summing rows by name sums all of it. One rule
    for every answer that breaks spend down by model (get_spend, compare_periods, savings); and
    likewise the name a project's row shows (:meth:`project`)."""

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}
        self._spend: dict[str, dict[str, list[int]]] = {}
        self._paths: dict[str, str] = {}

    def see_projects(self, projects: Iterable[str | None]) -> None:
        """The projects the rows will name, so that :meth:`project` names a folder stored under its
        slug by its path (:func:`project_paths`)."""
        self._paths = project_paths(projects)

    def project(self, stored: str) -> str:
        """The name a project's row shows: its path for a slug :meth:`see_projects` matched."""
        return self._paths.get(stored, stored)

    def key(self, logged: str) -> str:
        """The model ``logged`` names (cached: a breakdown asks once per row or call)."""
        key = self._keys.get(logged)
        if key is None:
            key = self._keys[logged] = model_key(logged)
        return key

    def add(self, logged: str, spend_nanos: int, calls: int) -> str:
        """Count ``logged``'s spend and calls towards naming its model; returns the model's key."""
        key = self.key(logged)
        spent = self._spend.setdefault(key, {}).setdefault(logged, [0, 0])
        spent[0] += spend_nanos
        spent[1] += calls
        return key

    def name(self, key: str) -> str:
        """The id a model's rows show (the key itself when no id of it was added)."""
        ids = self._spend.get(key)
        if not ids:
            return key
        return min(ids, key=lambda i: (-ids[i][0], -ids[i][1], i))


def same_models(wanted: Sequence[str], known: Collection[str]) -> list[str]:
    """The ids among ``known`` that name one of the models ``wanted`` names (:func:`model_key`)."""
    keys = {model_key(w) for w in wanted}
    return sorted(k for k in known if model_key(k) in keys)


def _expand(conn: Conn, dimension: str, values: Sequence[str], memo: dict[str, set[str]]) -> list[str]:
    """Filter values as stored: sources canonical, projects widened to every stored path they name,
    models to every stored id of the same model (:func:`model_key`). ``memo``: the ledger's known
    values by dimension, read once for many filters (budgets expand theirs on every answer)."""

    def known(d: str) -> set[str]:
        if d not in memo:
            memo[d] = known_values(conn, d)
        return memo[d]

    if dimension == "model":
        return list(dict.fromkeys([*values, *same_models(values, known("model"))]))
    if dimension == "source":
        return list(dict.fromkeys(canonical_source(v) for v in values))
    if dimension == "member":
        return list(dict.fromkeys(_member(v) for v in values))
    if dimension == "project":
        wanted = set(values)
        every = sorted(known("project"))
        # A folder name ('webapp') names the stored paths ending in it, and so their slugs too: the
        # calls of a session whose log lines gave no folder are stored under its slug, which a
        # filter by the path counted and one by the folder name, documented as the same, left out.
        paths = [p for p in every if project_names(p) & wanted]
        slugs = {slug for v in (*values, *paths) for slug in _slugs(v)}
        stored = [p for p in every if _named_by(p, wanted, slugs)]
        return list(dict.fromkeys([*values, *stored]))
    return list(values)


def _member(value: str) -> str:
    """A member filter value as members are stored: an email lower-cased (tokens, JWTs, teams and
    OTLP events all store it so), an account id (no @) as it is. "Ana@Example.com" matched nothing,
    a total of $0, and its closest-name hint, compared case by case, named other people."""
    return value.strip().lower() if "@" in value else value


def unmatched(conn: Conn, dimension: str, values: Sequence[str], member: str | None = None) -> list[str]:
    """A warning for each filter value that matches nothing in the ledger, with the closest known.

    ``member`` (a team member asking): matched and hinted against that member's own values only. The
    whole ledger's named other members, their agents, sessions and projects ("closest known:
    boss@example.com") to a member, who may see only their own usage and the team's total."""
    if dimension == "source":
        values = [canonical_source(v) for v in values]
    if dimension == "member":
        values = [_member(v) for v in values]
    known = known_values(conn, dimension, member)
    names, keys = _names(dimension, known)

    def found(value: str) -> bool:
        return (
            value in names
            or (dimension == "project" and bool(_slugs(value) & names))
            or (dimension == "model" and model_key(value) in keys)
        )

    if not all(map(found, values)):
        # Calls not in the rollup yet (marked quarter-hours before the answer's period) are in the
        # ledger too: read only now, for a value the rollup lacks.
        known |= marked_values(conn, dimension, member)
        names, keys = _names(dimension, known)
    warnings: list[str] = []
    for value in values:
        if found(value):
            continue
        if dimension == "member" and value == member:
            warnings.append(f"no usage of yours ({member}) is in the ledger yet")
            continue
        if len(value) > MAX_HINTED_CHARS:
            # No name is stored this long (ids are cut to 256, paths to 1,024): comparing it with
            # every known name took minutes for a model's 50 values of a megabyte, and the warnings
            # echoed all 50 MB back.
            warnings.append(
                f"{dimension} filter {value[:40]!r}… ({len(value):,} characters) matches nothing in the "
                f"ledger: no {dimension} is named with more than {MAX_HINTED_CHARS:,}"
            )
            continue
        import difflib  # only for a value that matches nothing: the hook imports this module

        close = difflib.get_close_matches(value, sorted(names), n=3, cutoff=0.5)
        hint = f"closest known: {', '.join(close)}" if close else listing(names)
        if dimension == "source" and value in known_values(conn, "provider", member):
            hint = f"{value!r} is a provider: filter with providers=[{value!r}]; {hint}"
        warnings.append(f"{dimension} filter {value!r} matches nothing in the ledger ({hint})")
    return warnings


def _names(dimension: str, known: set[str]) -> tuple[set[str], set[str]]:
    """The names a filter value may give for the ``known`` values (every name of a project), and the
    model keys among them (for ``model``)."""
    names = {n for p in known for n in project_names(p)} if dimension == "project" else set(known)
    return names, {model_key(n) for n in known} if dimension == "model" else set()


MAX_HINTED_CHARS = 1024
"""The longest filter value compared with the known names: longer than any the ledger stores."""


def listing(
    names: Collection[str], label: str = "known", none: str = "nothing of that kind is recorded yet"
) -> str:
    """Up to ten of ``names``, sorted, after ``label`` ("known: a, b and 3 more"), or ``none``."""
    if not names:
        return none
    shown = sorted(names)[:10]
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    return f"{label}: {', '.join(shown)}{more}"


FILTER_DIMENSIONS = {
    "providers": "provider",
    "models": "model",
    "projects": "project",
    "agents": "agent",
    "sessions": "session",
    "members": "member",
    "sources": "source",
    "basis": "basis",
}
"""Filter fields of :class:`~cost_mcp.analytics.spend.Filters` and the dimension each filters."""


class Names:
    """The ledger's names, to check and widen an answer's filters with: made by :func:`read` only,
    after the rollup they are read from holds every call of the answer's period."""

    def __init__(self, conn: Conn, refreshed: int) -> None:
        self.conn = conn
        self.refreshed = refreshed
        """What ``rollup.refresh`` returned: rows rebuilt, or ``rollup.TOO_LARGE`` or -1 (stale)."""
        self._memo: dict[str, set[str]] = {}

    def rebuild_warnings(self) -> list[str]:
        """What an answer from this rollup must say when its rebuild fell short: some quarter-hours'
        sums too large to hold (left out), or another writer kept it from the newest calls."""
        if self.refreshed == rollup.TOO_LARGE:
            from cost_mcp.store import team  # a team server's look-up, only for this rare answer

            return [team.too_large_warning(self.conn)]
        return [rollup.STALE_WARNING] if self.refreshed < 0 else []

    def expand(self, dimension: str, values: Sequence[str]) -> list[str]:
        """Filter values as stored (:func:`_expand`), the ledger's values read once for many filters."""
        return _expand(self.conn, dimension, values, self._memo)

    def project_aliases(self, project: str) -> set[str]:
        """Every name a call's ``project`` goes by (:func:`project_aliases`)."""
        if "project" not in self._memo:
            self._memo["project"] = known_values(self.conn, "project")
        return project_aliases(self.conn, project, self._memo["project"])

    def apply(self, filters: Filters, member: str | None = None) -> tuple[Filters, list[str]]:
        """Filters as stored (see :func:`_expand`), and a warning for each value that matches nothing
        (for a team ``member``, nothing of their own: :func:`unmatched`)."""
        warnings: list[str] = []
        changes: dict[str, list[str]] = {}
        for attr, dimension in FILTER_DIMENSIONS.items():
            values: Sequence[str] | None = getattr(filters, attr)
            if values:
                warnings += unmatched(self.conn, dimension, values, member)
                changes[attr] = self.expand(dimension, values)
        return replace(filters, **changes), warnings


def read(conn: Conn, since_ms: int) -> Names:
    """The ledger's names for an answer about a period starting at ``since_ms``, once the rollup is
    rebuilt from there (``rollup.refresh``, bounded as it bounds it: never the marks of years a
    re-price leaves before the period).

    The one way to filters as stored: the names come from the rollup, which calls just written
    reach only at a refresh (the OTLP receiver, a team server's pushes and ``record_usage`` mark
    their quarter-hours and leave the rebuild to the next answer). Checked before it, a model or
    project only those calls had "matched nothing in the ledger", and ``claude-sonnet-4-5`` did
    not widen to the ``claude-sonnet-4-5-20250929`` they logged: get_spend, cost_by_hour and a
    model-scoped budget answered $0 beside the spend."""
    return Names(conn, rollup.refresh(conn, since_ms))
