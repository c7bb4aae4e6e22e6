"""Pydantic models shared by the MCP tools and the CLI: parameter types and results.

Parameter types are defined once here, with their descriptions, and reused by every tool that takes
the same kind of argument, so a model sees one consistent vocabulary.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)

from cost_mcp.errors import InvalidInputError
from cost_mcp.money import USD, to_nanos
from cost_mcp.periods import PERIOD_PATTERN, PRESETS, preset_key

if TYPE_CHECKING:
    from cost_mcp.sources.claude_code import IngestReport

MAX_TOKENS = 10_000_000_000
"""Above any real workload; larger counts are rejected as mistakes rather than priced."""

# --- shared parameter types ---------------------------------------------------------------------

ModelName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="Model id as the provider names it, e.g. 'claude-sonnet-4-5', 'gpt-5-mini', "
        "'anthropic/claude-sonnet-4.5' (OpenRouter).",
    ),
]
ProviderName = Annotated[
    str | None,
    Field(
        max_length=50,
        description="anthropic, openai, openrouter, groq, google, mistral... Omit to infer it from the "
        "model (not for Llama on Groq).",
    ),
]
InputTokens = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_TOKENS,
        description="Uncached input tokens, not read from or written to the cache (subtract cached "
        "tokens from OpenAI's prompt_tokens).",
    ),
]
OutputTokens = Annotated[
    int, Field(ge=0, le=MAX_TOKENS, description="Output tokens, including reasoning/thinking tokens.")
]
CacheReadTokens = Annotated[int, Field(ge=0, le=MAX_TOKENS, description="Input tokens read from the cache.")]
CacheWriteTokens = Annotated[
    int, Field(ge=0, le=MAX_TOKENS, description="Input tokens written to the 5-minute cache.")
]
CacheWrite1hTokens = Annotated[
    int, Field(ge=0, le=MAX_TOKENS, description="Input tokens written to the 1-hour cache (priced apart).")
]
SpeedParam = Annotated[
    Literal["standard", "fast"] | None,
    Field(description="Anthropic fast mode (usage.speed): 'fast' is priced at the model's fast rates."),
]
ServiceTierParam = Annotated[
    Literal["standard", "batch", "priority", "flex"] | None,
    Field(description="usage.service_tier: batch and flex at 50%, priority at published priority rates."),
]
InferenceGeoParam = Annotated[
    Literal["global", "us"] | None,
    Field(description="Anthropic usage.inference_geo: 'us' (US-only inference) is priced at 1.1x."),
]
Requests = Annotated[
    int | None,
    Field(
        ge=1,
        le=1_000_000_000,
        description="Calls the tokens are spread over (long-context rates apply per call). Omit for the "
        "fewest calls that fit the context window; 1 for one call.",
    ),
]


def checked(annotation: Any, value: object, what: str) -> Any:
    """``value`` validated against a parameter type of this module, or InvalidInputError naming
    ``what``: how the CLI applies exactly the limits the MCP tools have."""
    try:
        return TypeAdapter(annotation).validate_python(value)
    except ValidationError as exc:
        # A field's errors name the field; the value's own ("--days (1 to 31)") are already named
        # by ``what``, and said it twice: "invalid --days (1 to 31) (--days (1 to 31): Input ...)".
        reasons = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()[:3]
        )
        raise InvalidInputError(f"invalid {what} ({reasons})") from None


class Said(str):
    """A line of an answer (a warning) that carries, for the code that reads it, what its builder
    knew beside its words: :class:`cost_mcp.analytics.gaps.Partial`, the gaps a PARTIAL line names.
    Its text is all a person or JSON sees. A model's field of such lines (:data:`Line`) keeps it as
    given, where pydantic's ``str`` made each a plain ``str`` again and lost what it carried."""

    __slots__ = ()


def _as_said(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # A Said is a str already: kept as the object it is. Anything else as ``str`` validates it (a
    # str-valued enum still becomes its plain value).
    return value if isinstance(value, Said) else handler(value)


Line = Annotated[str, WrapValidator(_as_said)]
"""A warning's line in a result: a ``str`` (its published schema is a string's), which keeps a
:class:`Said` as given."""


class Result(BaseModel):
    """Base for results: strict about fields so a typo in code fails a test, not a user.

    Each result's validator and serializer are built when it is first used, not when this module
    is imported: building the ~80 of them was ~50 ms of every command's start, and a `cost-mcp
    report` uses a dozen."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


_M = TypeVar("_M", bound=BaseModel)
_new = object.__new__
_set = object.__setattr__


def trusted(cls: type[_M], values: dict[str, Any]) -> _M:
    """A ``cls`` holding ``values`` as given, without validation: for rows built in bulk from values
    the store hands back already exact (int, Decimal, str), where validating each field again is
    most of the cost (a year by session: ~2,800 rows). ``values`` must name every field, in
    declaration order, with the type validation would have produced: the object is then the one
    validation builds (same fields set, same dump); tests/analytics/test_session_rows.py holds
    them equal.
    Nested models must be built the same way."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


class LogReading(Result):
    """How far the Claude Code logs have been read into the ledger, while they still are."""

    bytes_read: int = Field(description="Log bytes read since this reading started.")
    bytes_left: int | None = Field(description="Log bytes still to read (null: not measured yet).")
    files_left: int | None = Field(description="Log files with lines still to read (null: not measured yet).")
    started_at: str = Field(description="When this reading started (UTC).")


class Answer(Result):
    """What every query result carries: whether it covers everything it claims, and warnings.

    Set in one place (:func:`cost_mcp.catchup.envelope`), never per tool.
    """

    complete: bool = Field(
        True,
        description="False while Claude Code logs are still being read (see reading), or when data is "
        "missing (a provider's bill never synced, days of it never fetched): the numbers are partial, "
        "and the first warning says why. Repeat that to the user.",
    )
    reading: LogReading | None = Field(None, description="How much is read and left; null when complete.")


RowLimit = Annotated[
    int | None,
    Field(
        ge=1,
        le=500,
        description="Rows to return (default 25); the rest are summed in '(other)' rows.",
    ),
]
NewestLimit = Annotated[
    int | None,
    Field(ge=1, le=500, description="How many to return, newest first (default 25)."),
]
"""RowLimit of a list cut by time (blocks, readings): no '(other)' row, older ones by cursor."""
RowCursor = Annotated[
    str | None,
    Field(
        max_length=100,
        description="A previous result's next_cursor, with the same other arguments.",
    ),
]


class Paged(Result):
    """Mixed into results whose rows are bounded (see analytics/rows.py); the CLI shows every row."""

    truncated: bool = Field(
        False,
        description="True when only some rows are shown: the others are summed in '(other)' rows (so "
        "rows still add up to the total). Ask again with cursor=next_cursor, or a larger limit.",
    )
    total_rows: int = Field(0, description="How many rows there are in all, before bounding.")
    next_cursor: str | None = Field(
        None, description="Pass as cursor (with the same other arguments) for the next rows; null: none."
    )


# --- estimate_cost ------------------------------------------------------------------------------


class CostByKind(Result):
    """A cost split by token kind."""

    input_usd: USD
    cache_read_usd: USD
    cache_write_5m_usd: USD
    cache_write_1h_usd: USD
    output_usd: USD
    web_search_usd: USD


class Alternative(Result):
    """The same call priced on another model."""

    model: str
    cost_usd: USD
    saving_usd: USD
    saving_percent: float = Field(description="Saving as a percentage of the asked model's cost.")


class Estimate(Result):
    """The price of a hypothetical call, with cheaper models of the same provider beside it."""

    model: str = Field(description="The model as asked.")
    matched_model: str = Field(description="The model id the price was found under.")
    provider: str
    requests: int = Field(description="Number of calls the tokens were priced as.")
    cost_usd: USD
    cost_by_kind: CostByKind
    long_context: bool = Field(description="True when a long-context (e.g. >200k input) rate applied.")
    price_source: str = Field(description="'override' (your price file) or 'genai-prices <version>'.")
    cheaper: list[Alternative] = Field(
        description="Cheaper models of the same provider, cheapest first; none whose context window is "
        "known to be smaller than a call's input (notes name those left out)."
    )
    notes: list[str]


# --- doctor -------------------------------------------------------------------------------------


class KeyStatus(Result):
    """One provider's configuration, with the key masked."""

    provider: str
    env_var: str
    configured: bool
    masked: str | None
    origin: str
    base_url: str
    needs: list[str] = Field(
        default_factory=list,
        description="Other variables the provider still needs before it can be synced (its key set or not).",
    )


class LogRoot(Result):
    """A Claude Code folder and what was found in it."""

    path: str
    projects_dir_found: bool
    jsonl_files: int
    unreadable: list[str] = Field(
        default_factory=list, description="Folders under it that could not be opened, each with the reason."
    )


class AgentFolder(Result):
    """One folder (or file) where an agent's logs are looked for, and what is in it."""

    path: str
    found: bool
    log_files: int = Field(description="Files of the agent's log formats in it (counted up to 100,000).")


class AgentLogs(Result):
    """Another coding agent's log folders (Codex, Gemini CLI, ...) and its last read's errors."""

    agent: str
    source: str = Field(description="The ledger source its calls are stored under.")
    folders: list[AgentFolder]
    read_error: str | None = Field(None, description="Files the last read could not open, if any.")
    unreadable: list[str] = Field(
        default_factory=list, description="Folders doctor could not open, each with the reason."
    )


class SkippedFile(Result):
    """Lines of one log file that were skipped, by reason."""

    path: str
    source: str = Field("claude_code", description="Whose log it is: claude_code, codex, gemini_cli...")
    lines: dict[str, int]


class PricedWith(Result):
    """One version of the price data that priced rows of the ledger, from when it was first used."""

    version: str = Field(description="The genai-prices version.")
    data_date: str | None = Field(
        None, description="When its price data was published, if known (bundled data carries no date)."
    )
    first_used: str = Field(description="First write priced with it (ISO 8601, UTC).")
    corrections: str | None = Field(
        None, description="The corrections set priced with it (a digest; None: not recorded then)."
    )


class TeamStatus(Result):
    """This machine's team-server settings and where its pushes stand (issue 14)."""

    server: str | None = Field(
        description="COST_MCP_TEAM_SERVER as scheme and host; None: no team server configured."
    )
    token_set: bool = Field(description="Whether COST_MCP_TEAM_TOKEN is set; its value is never shown.")
    hide_projects: bool = Field(description="Whether pushed project names are a keyed hash.")
    last_push: str | None = Field(
        None, description="When the team server last acknowledged a batch (UTC, ISO 8601); None: never."
    )
    pushed_events: int = Field(0, description="Usage rows the team server acknowledged, all pushes together.")
    pending_events: int | None = Field(
        None,
        description="Counted usage rows added or changed since the last push; None when the ledger "
        "cannot tell (not created or not migrated yet).",
    )
    pending_forgets: int | None = Field(
        None,
        description="Reported calls forgotten here that the team server has not acknowledged yet "
        "(`cost-mcp reported forget`, sent with the next push); None: no team server, or the ledger "
        "cannot tell.",
    )
    pending_unforgets: int | None = Field(
        None, description="Unforgets made here that the team server has not acknowledged yet."
    )
    pending_removals: int | None = Field(
        None,
        description="Copies of logged calls this machine's reader removed (a session's replayed "
        "history) that the team server has not acknowledged yet: a server older than the laptop keeps "
        "them until it is upgraded.",
    )
    forgets_pending_since: str | None = Field(
        None,
        description="When the oldest forget or unforget waiting for the team server was made "
        "(UTC, ISO 8601); None: none waits.",
    )
    token_accepted: bool | None = Field(
        None,
        description="Whether the team server took the token just now; None: not checked (no server "
        "or token) or the server could not be reached.",
    )
    token_can_push: bool | None = Field(
        None,
        description="Whether the team server takes pushes with the token; False: it knows the token "
        "but refuses every push with it (an ingest token); None: not known.",
    )
    token_check: str | None = Field(None, description="What the check of the token found, in words.")
    push_refused: str | None = Field(
        None,
        description="What the push said when the team server refused this machine's latest push (its "
        "token revoked, its member removed); None: its latest push or beat was taken, or none was refused.",
    )
    push_refused_since: str | None = Field(
        None, description="Since when the team server has refused this machine's pushes (UTC, ISO 8601)."
    )


class ReceivedPush(Result):
    """A token that has pushed usage to this (team server's) ledger."""

    token_name: str
    member: str
    last_push: str = Field(description="When it last pushed (UTC, ISO 8601).")
    revoked: bool = Field(False, description="Whether the token was revoked since: it pushes no more.")
    last_heard: str | None = Field(
        None,
        description="When its laptop last said it runs with nothing to send (a beat; UTC, ISO 8601); "
        "null for a laptop that never did (a release from before beats).",
    )


class SilentToken(Result):
    """A live member's token that has never pushed usage to this (team server's) ledger."""

    token_name: str
    member: str
    created: str = Field(description="When the token was made (UTC, ISO 8601).")
    otel_calls: int = Field(
        0,
        description="Calls of this token's member the OTLP receiver accepted, when the latest arrived "
        "in the otel_days window: when not 0 the token may be the one their agent sends OTLP with "
        "(OTel rows do not record the token), and that usage is counted.",
    )


class OtelSender(Result):
    """An agent and member whose usage events arrived at this ledger over OTLP."""

    agent: str
    member: str = Field(
        description="The events' user.email or user.account_id, or the token's member; may be empty."
    )
    events: int = Field(
        description="Calls the receiver accepted from them (those also read from a log included; an "
        "exporter's retry counted again)."
    )
    last_event: str = Field(
        description="When the receiver last accepted a call of theirs (UTC, ISO 8601): its arrival, "
        "not the call's own time (a laptop that sent last week's calls today was heard from today). "
        "On a ledger the server has not upgraded yet, and for calls held before it kept arrivals: "
        "the latest call's time."
    )
    departed: bool = Field(
        False,
        description="Every token made for the member is revoked (removed from the team): what they sent "
        "still counts.",
    )


class DoctorReport(Result):
    """Everything needed to see why a number looks wrong."""

    version: str
    database: str
    database_status: str
    schema_migrations: int
    timezone: str
    week_start: str
    claude_code_billing: str
    env_file: str
    prices_file: str
    prices_status: str
    genai_prices_version: str
    providers: list[KeyStatus]
    claude_log_roots: list[LogRoot]
    agent_log_roots: list[AgentLogs] = Field(
        [], description="Every other coding agent's log folders, whether found, and its read errors."
    )
    skipped_log_lines: list[SkippedFile] = Field(
        [], description="Log files with lines skipped (not counted), most first, with counts by reason."
    )
    webhooks: dict[str, str] = Field(
        default={}, description="Configured budget webhooks (COST_MCP_WEBHOOKS): name -> scheme and host."
    )
    priced_with: list[PricedWith] = Field(
        [],
        description="The price data versions that priced the ledger's rows, oldest first: rows written "
        "before a newer entry's first_used were priced with an older one (`cost-mcp reprice --all`).",
    )
    team: TeamStatus | None = Field(None, description="Team server settings and pushes (team mode).")
    received_pushes: list[ReceivedPush] = Field(
        default_factory=list,
        description="On a team server: each token that has pushed usage here, most recent first.",
    )
    never_pushed: list[SilentToken] = Field(
        default_factory=list,
        description="On a team server: each live member's token that has never pushed, oldest first "
        "(a laptop not set up yet, or a token only used to ask, or one that only sends OTLP: "
        "see otel_calls).",
    )
    otel_days: int = Field(7, description="The window otel_senders covers, in days up to now.")
    otel_senders: list[OtelSender] = Field(
        default_factory=list,
        description="Whose calls arrived over OTLP (the HTTP server's /v1/*) in the window, by arrival, "
        "latest first.",
    )
    otel_quiet: list[OtelSender] = Field(
        default_factory=list,
        description="Whose calls last arrived over OTLP in the 30 days before now but none in the "
        "window, latest first: their telemetry stopped, or they did not work.",
    )
    problems: list[str]
    warnings: list[Line] = Field(default_factory=list, description="Not wrong now, but worth knowing.")


# --- Claude Code ---------------------------------------------------------------------------------

SessionId = Annotated[
    str | None,
    Field(
        max_length=200,
        description="A session id (its log file's uuid). Omit for the current session.",
    ),
]
ForgetPaths = Annotated[
    list[str] | None,
    Field(
        max_length=100,
        description="Remove the calls read from files under these paths, e.g. imported by mistake. "
        "Not with paths.",
    ),
]

LogPaths = Annotated[
    list[str] | None,
    Field(
        max_length=100,
        description="Folders or .jsonl files to read instead of the configured Claude folders (inside them).",
    ),
]


class TokenTotals(Result):
    """Token counts by kind; ``input_tokens`` excludes cache reads and writes."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    web_search_requests: int = 0
    total_tokens: int = Field(0, description="input + output + cache reads + cache writes.")


class ForgetSummary(Result):
    """What forgetting paths removed from the ledger."""

    paths: list[str] = Field(description="The paths forgotten, as matched against where events came from.")
    events_removed: int = Field(description="Stored copies of calls read from files under these paths.")
    files_forgotten: int = Field(description="Files under these paths whose read state was dropped.")
    warnings: list[Line] = Field(
        default_factory=list,
        description="E.g. a path under a configured Claude folder, which the next scan reads again.",
    )


class IngestResult(Result):
    """What a scan of the Claude Code logs did."""

    roots: list[str] = Field(description="Folders scanned.")
    files_seen: int
    files_new: int
    files_changed: int = Field(description="Files with appended lines, read from where the last scan ended.")
    files_reread: int = Field(description="Files that shrank or were replaced, read again from the start.")
    files_unchanged: int
    lines_read: int
    bytes_read: int
    usage_lines: int = Field(description="Lines carrying model usage (every copy of a call counts here).")
    events_added: int = Field(description="Distinct model calls added to the ledger.")
    duplicates_collapsed: int = Field(description="Usage lines that were copies of a call already counted.")
    skipped: dict[str, int] = Field(
        description="Lines skipped, by reason: malformed, truncated, no_usage, invalid_fields, synthetic, "
        "too_long (over COST_MCP_MAX_LINE_BYTES)."
    )
    skipped_files: dict[str, int] = Field(
        default_factory=dict,
        description="Files or folders left unread, by reason: undecodable_name (not valid UTF-8), "
        "link_outside (a symlink leading out of the folder read), not_a_file (a pipe, socket, device "
        "or broken link).",
    )
    first_event: str | None = Field(description="Earliest timestamp among the lines read (UTC, ISO 8601).")
    last_event: str | None = Field(description="Latest timestamp among the lines read (UTC, ISO 8601).")
    unpriced_models: dict[str, int] = Field(description="Models with no known price, and their call counts.")
    complete: bool = Field(description="False when the scan hit its time budget; the rest comes next time.")
    files_pending: int = Field(0, description="Files with lines left unread when the scan stopped early.")
    bytes_pending: int = Field(0, description="Bytes left unread when the scan stopped early.")
    errors: list[str]
    seconds: float
    forgotten: ForgetSummary | None = Field(
        default=None,
        description="Set when paths were forgotten; the counts above are then the re-read of the other "
        "files, which restores copies of calls the forgotten files had held.",
    )

    @classmethod
    def of(cls, report: IngestReport) -> IngestResult:
        """The result of a scan, from the plain report the log reader gives."""
        return cls.model_validate(dataclasses.asdict(report))


class ModelUsage(Result):
    """One model's share of some usage."""

    model: str
    requests: int
    tokens: TokenTotals
    cost_usd: USD | None = Field(description="Null when the model has no known price.")


class BurnRate(Result):
    """How fast usage accrues, over the span between first and last activity."""

    cost_per_hour_usd: USD | None = Field(description="Of the priced calls; null when none is priced.")
    tokens_per_minute: float
    input_output_tokens_per_minute: float


class SessionUsage(Answer):
    """What one Claude Code session has cost so far."""

    session_id: str
    project: str
    first_activity: str
    last_activity: str
    duration_minutes: float
    requests: int
    tokens: TokenTotals
    cost_usd: USD | None = Field(description="Of the priced calls; null when none of its calls is.")
    unpriced_requests: int = Field(0, description="Calls with no known price (not in cost_usd).")
    cost_basis: str = Field(
        description="'estimated' (tokens x list price), or 'api-equivalent' when Claude Code is covered by "
        "a subscription (COST_MCP_CLAUDE_CODE_BILLING=subscription)."
    )
    models: list[ModelUsage]
    burn_rate: BurnRate | None
    warnings: list[Line]
    logs_checked_at: str = Field(description="When the logs were last scanned (UTC).")


class BlockProjection(Result):
    """Where an active block ends up at its current burn rate."""

    total_tokens: int
    cost_usd: USD | None = Field(description="Null when none of the block's calls is priced.")
    remaining_minutes: int


class TokenLimitStatus(Result):
    """An active block against a token limit."""

    limit: int
    projected_tokens: int
    percent_used: float
    status: str = Field(description="ok, warning (projected above 80%), or exceeds.")


class UsageBlock(Result):
    """A 5-hour usage window, as Claude's plan limits count them."""

    start: str
    end: str
    actual_end: str | None = Field(description="Last activity in the block (null for a gap).")
    is_active: bool
    is_gap: bool
    requests: int
    tokens: TokenTotals
    cost_usd: USD | None = Field(description="Of the priced calls; null when none of its calls is.")
    unpriced_requests: int = Field(
        0, description="Calls with no known price: not in cost_usd, the burn rate or the projection."
    )
    models: list[str]
    burn_rate: BurnRate | None
    projection: BlockProjection | None
    token_limit_status: TokenLimitStatus | None


class UsageBlocks(Answer, Paged):
    """Recent 5-hour windows, newest last."""

    blocks: list[UsageBlock] = Field(description="Oldest first; the newest ones when truncated.")
    active: UsageBlock | None
    token_limit: int | None = Field(description="The limit compared against, if any ('max' resolves here).")
    warnings: list[Line]


# --- spend ---------------------------------------------------------------------------------------

Basis = Literal["billed", "estimated", "subscription"]
Dimension = Literal[
    "provider", "model", "day", "week", "month", "project", "agent", "session", "member", "source", "basis"
]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)


def _preset_spelling(value: object) -> object:
    """A preset spelt another way ("last week", "Last-Month") as the enum spells it.

    The CLI and `resolve_period` already forgive case, spaces and dashes; a model that writes the
    period as it would say it gets the same answer rather than an enum refusal. Anything else is
    passed on unchanged, so an unknown name is still refused with the valid values.
    """
    if isinstance(value, str) and (key := preset_key(value)) in PRESETS:
        return key
    return value


PERIOD_SCHEMA: dict[str, JsonValue] = {
    "type": "string",
    "anyOf": [{"enum": list(PRESETS)}, {"pattern": PERIOD_PATTERN}],
}
"""A period as every tool publishes it: a preset, or days as the CLI writes them (PERIOD_FORMS).
`get_spend(period="2026-11")` was refused while `compare_periods(after="2026-11")` and
`cost-mcp report --period 2026-11` took it; one parser (periods.resolve_spec) now reads them all,
and its refusal, naming the forms, is the same everywhere."""

# The length is checked, not published: every tool's list carries this schema (tools/list size).
_PeriodText = Annotated[
    str, BeforeValidator(_preset_spelling), StringConstraints(max_length=40), WithJsonSchema(PERIOD_SCHEMA)
]

PeriodName = Annotated[
    _PeriodText | None,
    Field(description="Or days, both included; omit with start/end."),
]
DAY_FORMAT: dict[str, JsonValue] = {"format": "date"}
"""JSON Schema's format of a day (YYYY-MM-DD), so that a bad one is answered "allowed: a date,
YYYY-MM-DD", not "text of at most 10 characters" (an ISO time, `2026-12-01T00:00:00Z`, is one)."""
StartDate = Annotated[
    str | None,
    Field(
        max_length=10, description="First day, YYYY-MM-DD, instead of period.", json_schema_extra=DAY_FORMAT
    ),
]
EndDate = Annotated[
    str | None,
    Field(
        max_length=10,
        description="Last day, YYYY-MM-DD, inclusive; default today.",
        json_schema_extra=DAY_FORMAT,
    ),
]
TimezoneName = Annotated[
    str | None,
    Field(
        max_length=64,
        description="IANA name, e.g. 'Europe/Paris'; default configured.",
    ),
]
GroupBy = Annotated[
    list[Dimension],
    Field(
        max_length=4,
        description="Up to 4 dimensions to break the total down by; empty for the total only.",
    ),
]
FilterValues = Annotated[list[str] | None, Field(max_length=50)]
"""Keep only these values (exact match; a project also by folder name). No description in the
schema: the argument's name says what it filters, and each tool says how once, not per filter."""


class PeriodInfo(Result):
    """The exact range a result covers."""

    name: str
    first_day: str
    last_day: str = Field(description="Inclusive.")
    timezone: str
    start_utc: str
    end_utc: str = Field(description="Exclusive.")


class SpendRow(Result):
    """One group of spend. ``group`` has one entry per group_by dimension (null: not known for
    this data, e.g. the agent of a billed amount)."""

    group: dict[str, str | None]
    basis: Basis
    cost_usd: USD | None = Field(description="Of the priced calls; null when none of the group's calls is.")
    requests: int | None = Field(description="Calls, where known (billing APIs report only money).")
    tokens: TokenTotals | None
    unpriced_requests: int = Field(0, description="Calls in this group with no known price (not in cost).")
    model_ids: list[str] | None = Field(
        None,
        description="By model: the logged ids of this one model the row sums (each agent spells it "
        "its own way), when not just the one shown; else null.",
    )
    folded_rows: int | None = Field(
        None, description="An '(other)' row: how many rows (groups) it sums; else null."
    )
    complete: bool = Field(
        True,
        description="False when what the answer lacks (its PARTIAL warnings: a provider's bill missing, "
        "log files that could not be opened; or logs still being read) may be in this row: its cost is "
        "then a lower bound. Rows the gap cannot reach (another provider's, billed spend beside unread "
        "logs, days outside a missing range) stay true.",
    )


class AttributionRow(SpendRow):
    """Estimated usage that explains a total without being part of it."""

    reason: str


class CoverageDay(Result):
    """A day a provider's synced report did not simply stand as the total, and the rule that applied."""

    day: str = Field(description="UTC date.")
    report: Literal["billing", "usage"]
    rule: Literal["no_rows", "reporting_lag"] = Field(
        description="'no_rows': the report listed the day with no results; 'reporting_lag': it was synced "
        "before the day ended plus the provider's reporting lag, so it may be partial."
    )
    total_from: Literal["usage report", "local estimates", "partial report"] = Field(
        description="What the day's total is: a lower layer, or this partial report when nothing else "
        "covers the day or it is at least the local estimates."
    )
    report_usd: USD | None = Field(
        None,
        description="Set when this partial report was weighed against local estimates: its amount so "
        "far. Both are lower bounds of the day's spend, so the larger is the total (the report on a tie).",
    )
    local_usd: USD | None = Field(None, description="Beside report_usd: the local estimates' amount.")


class SourceCoverage(Result):
    """Which days of the period a provider's reports are the total, and which were left to estimates."""

    reporting_lag: str = Field(description="How long after a day ends its reports count as complete.")
    billed_days: int = Field(
        0,
        description="Days the billing report is the total; one still within the reporting lag counts "
        "here and is also listed in estimated_days (total_from 'partial report'): billed so far.",
    )
    usage_days: int = Field(
        0,
        description="Days the provider's usage report (priced) is the total; as billed_days, one within "
        "the reporting lag is also listed in estimated_days.",
    )
    empty_billed_days: int = Field(0, description="Days the billing report listed with no rows.")
    estimated_days: list[CoverageDay] = Field(
        default_factory=list,
        description="Days a synced report did not simply stand as the total (CoverageDay.rule says why, "
        "total_from what counted): not to be added to billed_days and usage_days.",
    )


class SourceStatus(Result):
    """How fresh one refresh job is: a log reader, one provider's billing and usage APIs, (on a
    team server) one laptop's pushes, or what one agent sent the OTLP receiver."""

    source: str = Field(
        description="The refresh job: a log reader (claude_code, codex...), a provider's APIs (openai...), "
        "a laptop's pushes (push:<token>) or an agent's OpenTelemetry (otlp:claude-code...)."
    )
    data_sources: list[str] = Field(
        default_factory=list,
        description="The data sources it brings in, as rows, filters and group_by name them "
        "(claude_code, openai-costs, openai-usage...).",
    )
    kind: str = Field(
        description="'logs' (local files), 'billing api' / 'usage api', 'push' (on a team server: "
        "a member's laptop sending its usage; last_success is its last push), or 'telemetry' (events "
        "an agent's OpenTelemetry exporter sent to serve --http; last_success is when the last one "
        "was received, never stale: agents send only while someone works)."
    )
    status: Literal["ok", "stale", "error", "never"]
    last_success: str | None
    last_error: str | None
    last_refresh: str | None = Field(None, description="What the last refresh brought in.")
    coverage: SourceCoverage | None = Field(
        None,
        description="In spend results: the period's days this provider's reports cover, and why not others.",
    )


class SpendResult(Answer, Paged):
    """What was spent in a period, broken down, with where each number comes from."""

    period: PeriodInfo
    total_usd: USD = Field(
        description="Sum of rows: each dollar counted once, billed data first. Calls with no known price "
        "are not in it: with unpriced_requests above 0 it is the priced part, and 0 then means unknown, "
        "not $0."
    )
    unpriced_requests: int = Field(
        0, description="Calls in rows with no known price, in neither total_usd nor by_basis."
    )
    by_basis: dict[str, USD] = Field(
        description="The total split by basis: billed, estimated, subscription. Of priced calls only: "
        "a basis in unpriced_by_basis has calls not in its amount, and 0 there means unknown, not $0."
    )
    unpriced_by_basis: dict[str, int] = Field(
        default_factory=dict,
        description="Calls with no known price per basis (bases that have any): unpriced_requests split "
        "as by_basis splits the total.",
    )
    group_by: list[str]
    rows: list[SpendRow] = Field(
        description="They sum to total_usd exactly. Bounded: the largest rows, one '(other)' row per basis "
        "for the rest (see truncated)."
    )
    attribution: list[AttributionRow] = Field(
        description="Estimates NOT in the total: usage on provider-days whose billed (or provider-reported) "
        "numbers are the total, or Claude Code usage covered by a subscription. Use them to see which "
        "agent, session or project the billed spend came from."
    )
    attribution_total_rows: int = Field(0, description="How many attribution rows there are in all.")
    sources: list[SourceStatus]
    warnings: list[Line]
    alerts: list[str] = Field(
        description="Budget thresholds crossed since the last answer (each shown once)."
    )


class ModelRow(Result):
    """One model's spend in a period."""

    model: str
    provider: str | None
    requests: int | None
    input_tokens: int | None = Field(
        description="Null (as the other token counts) when part of the cost is a bill without tokens."
    )
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None = Field(description="5-minute and 1-hour cache writes together.")
    cost_usd: USD | None = Field(description="Of the priced calls; null when none of its calls is.")
    unpriced_requests: int = Field(0, description="Calls with no known price (not in cost_usd).")
    share_percent: float
    avg_tokens_per_request: float | None
    cost_per_request_usd: USD | None = Field(description="Per call with a known price; null with none.")
    previous_cost_usd: USD = Field(description="Cost in previous_period.")
    trend_percent: float | None = Field(description="Change against previous_period; null when it was 0.")
    basis: list[str]
    model_ids: list[str] | None = Field(
        None,
        description="The logged ids of this one model the row sums (each agent spells it its own "
        "way), when not just the one shown; else null.",
    )
    folded_models: int | None = Field(
        None, description="The '(other)' row: how many models it sums; else null."
    )


class ModelBreakdown(Answer, Paged):
    """Which models cost the most, and how that moved."""

    period: PeriodInfo
    previous_period: PeriodInfo
    total_usd: USD = Field(description="Of the priced calls; see unpriced_requests (as get_spend's).")
    unpriced_requests: int = Field(0, description="Calls with no known price, not in total_usd.")
    previous_total_usd: USD
    previous_unpriced_requests: int = Field(
        0, description="Calls with no known price, not in previous_total_usd."
    )
    models: list[ModelRow]
    sources: list[SourceStatus]
    warnings: list[Line]
    alerts: list[str]


# --- budgets and agents --------------------------------------------------------------------------

BudgetPeriod = Literal["day", "week", "month"]
BudgetStatusName = Literal["ok", "warning", "forecast_exceeded", "exceeded"]
MAX_USD = Decimal(1_000_000_000)

BUDGET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.:/-]*$"
BudgetName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=BUDGET_NAME_PATTERN,
        description="A name, e.g. 'daily-agents': letters, digits, space, _ . : / -.",
    ),
]
ExistingName = Annotated[str, Field(min_length=1, max_length=64, pattern=BUDGET_NAME_PATTERN)]
"""A budget or subscription to delete: no description, the tool's errors name those that exist
(the rules of a new name are :data:`BudgetName`'s)."""
AmountUSD = Annotated[
    Decimal,
    Field(gt=0, le=MAX_USD, decimal_places=9, description="US dollars, e.g. 150 or 4.99."),
]


def check_amount(amount_usd: Decimal, name: str = "amount_usd") -> Decimal:
    """``amount_usd`` when a budget or a seat fee can be that many dollars, else
    :class:`InvalidInputError` naming it ``name``, as the caller gave it (the tools' ``amount_usd``,
    the CLI's ``AMOUNT`` or ``--amount``). Kept in nano-USD: an amount that rounds to 0 there is
    refused here, not by the ledger's CHECK."""
    if not amount_usd.is_finite() or to_nanos(amount_usd) <= 0 or amount_usd > MAX_USD:
        raise InvalidInputError(
            f"{name} must be above 0 (at least 0.000000001: amounts are kept to a billionth of a "
            f"dollar) and at most {MAX_USD}, got {amount_usd}"
        )
    return amount_usd


EstimatedCostUSD = Annotated[
    Decimal | None,
    Field(ge=0, le=MAX_USD, description="The call's expected cost in USD; or give model and token counts."),
]
ScopeValue = Annotated[str, Field(min_length=1, max_length=200)]
"""One provider, model, agent, project or source a budget counts (as long as a model id may be)."""
ScopeValues = Annotated[list[ScopeValue] | None, Field(max_length=50)]
"""No description: set_budget's says once what its six scope lists do (the tool list's budget)."""
BudgetBasis = Annotated[
    list[Basis] | None,
    Field(
        max_length=3,
        description="Default billed and estimated; add 'subscription' to count seat fees.",
    ),
]
Thresholds = Annotated[
    list[Decimal] | None,
    Field(
        max_length=10,
        description="Fractions of the amount at which to alert once per period, default [0.5, 0.8, 1.0].",
    ),
]
AgentName = Annotated[
    str, Field(min_length=1, max_length=120, description="The agent making the call, e.g. 'researcher'.")
]
OptionalAgent = Annotated[
    str | None, Field(max_length=120, description="The agent making the call (budgets scoped by agent).")
]
VendorName = Annotated[
    str, Field(min_length=1, max_length=50, description="Who bills it: anthropic, cursor...")
]
OptionalMember = Annotated[str | None, Field(max_length=200, description="Whose seat it is.")]
OptionalProject = Annotated[
    str | None, Field(max_length=200, description="The project the call is for (budgets scoped by project).")
]


class BudgetScope(Result):
    """Which spend a budget counts; an empty list means any value, except ``basis``: empty means
    usage only (billed and estimated), so seat fees count only when the budget names them."""

    providers: list[ScopeValue] = Field(default=[], max_length=50)
    models: list[ScopeValue] = Field(default=[], max_length=50)
    agents: list[ScopeValue] = Field(default=[], max_length=50)
    projects: list[ScopeValue] = Field(default=[], max_length=50)
    sources: list[ScopeValue] = Field(default=[], max_length=50)
    basis: list[Basis] = []
    members: list[ScopeValue] = Field(default=[], max_length=50)
    teams: list[ScopeValue] = Field(default=[], max_length=50)


class Budget(Result):
    """A calendar-aligned spending limit."""

    name: str
    amount_usd: USD
    period: BudgetPeriod
    scope: BudgetScope
    thresholds: list[Decimal]
    hard: bool = Field(description="A hard budget makes check_budget refuse calls that would exceed it.")
    webhook: str | None = Field(None, description="The configured webhook (COST_MCP_WEBHOOKS) alerts go to.")
    webhook_url: str | None = Field(
        description="Where alerts are POSTed, as scheme and host only: the rest may hold a secret."
    )


class BudgetSet(Budget):
    """A budget as set, and what may be wrong with it."""

    warnings: list[Line] = Field(
        default_factory=list,
        description="What replacing an existing budget changed besides the amount (period, hard, webhook, "
        "scope, thresholds) and the arguments that keep it; a scope value that matches nothing recorded "
        "yet (a typo counts nothing).",
    )


class BudgetState(Result):
    """A budget in its current period."""

    budget: Budget
    period_start: str = Field(description="UTC instant of the period's local start.")
    period_end: str = Field(description="Exclusive.")
    first_day: str = Field("", description="The period's first day in the configured timezone.")
    timezone: str = Field(
        "", description="The configured timezone its days are counted in (IANA name), whatever a view asks."
    )
    spent_usd: USD
    spent_by_basis: dict[str, USD] = Field(
        default_factory=dict,
        description="spent_usd split by basis: billed (a provider's bill), estimated (tokens x list price), "
        "subscription (seat fees, when the budget counts them); the parts add up to spent_usd. Of priced "
        "calls only: a basis in unpriced_by_basis has calls not in its amount, and 0 there means unknown.",
    )
    unpriced_by_basis: dict[str, int] = Field(
        default_factory=dict,
        description="Calls in scope with no known price per basis (bases that have any): unpriced_requests "
        "split as spent_by_basis splits spent_usd.",
    )
    remaining_usd: USD
    percent: float
    projected_usd: USD = Field(
        description="Spend at the end of the period: usage so far extrapolated at its average since the "
        "period began (per hour elapsed, today included), plus seat fees to come when the budget counts "
        "them. spend_forecast's projection uses the 7 whole days before today instead, so a spike today "
        "moves this one more."
    )
    status: BudgetStatusName
    fired_thresholds: list[Decimal]
    unpriced_requests: int = Field(0, description="Calls in scope with no known price (not in spent).")
    estimates_set_aside_usd: USD = Field(
        Decimal(0),
        description="Estimated cost of calls in scope on days a provider's bill is the total: not in spent, "
        "where only the bill's rows matching the scope count (a bill by workspace matches no project).",
    )
    complete: bool = Field(
        True,
        description="False when a provider's bill this budget counts is missing, or log files of calls it "
        "counts could not be opened (a PARTIAL warning says which): spent is then at least spent_usd, and "
        "status may be too low.",
    )
    lacking: list[str] = Field(
        default=[],
        description="When not complete, what spent lacks, one short phrase each (\"a provider's bill the "
        'budget counts is missing", "claude_code log files the budget counts could not be opened").',
    )


class BudgetStatusResult(Answer):
    """Every budget (or one) in its current period."""

    budgets: list[BudgetState]
    warnings: list[Line]
    alerts: list[str]


class BudgetCheck(Result):
    """One budget that applies to a call, before and after it."""

    name: str
    hard: bool
    limit_usd: USD
    remaining_before_usd: USD
    remaining_after_usd: USD
    would_exceed: bool
    held_usd: USD = Field(
        default=Decimal(0),
        description="Held by calls check_budget allowed that are not recorded yet (counted as spent "
        "in remaining_before_usd); not spend.",
    )
    complete: bool = Field(
        True,
        description="False when the budget's spent lacks something (a provider's bill it counts is "
        "missing, log files of calls it counts could not be opened; a PARTIAL warning says which): "
        "what is left is then at most remaining_before_usd.",
    )


class CheckResult(Answer):
    """May this call go ahead?"""

    allowed: bool
    reason: str = Field(description="One line an agent can act on.")
    estimated_cost_usd: USD
    binding_budget: str | None = Field(description="The budget with the least room left after the call.")
    budgets: list[BudgetCheck]
    warnings: list[Line]
    held_usd: USD | None = Field(
        default=None,
        description="What this allowed check holds of its hard budgets until the call is recorded "
        "with record_usage (same agent and model) or hold_expires_at; null: nothing held.",
    )
    hold_expires_at: str | None = Field(default=None, description="When the hold lapses (UTC).")


class RecordResult(Answer):
    """What record_usage stored."""

    recorded: bool = Field(description="False when this request_id was already recorded (nothing added).")
    forgotten: bool = Field(
        default=False, description="True: the user forgot this request_id; not recorded, not counted."
    )
    id: str = Field(description="The request id, or the id generated when none was given.")
    cost_usd: USD | None = Field(description="Null when the model has no known price (kept unpriced).")
    priced_model: str | None
    budgets: list[BudgetCheck] = Field(description="Budgets this call counts against, after it.")
    warnings: list[Line]
    alerts: list[str]


class ReportedCall(Result):
    """One call an agent reported with record_usage, as `cost-mcp reported list` shows it."""

    id: str = Field(description="The request id it was recorded under (what `reported forget` takes).")
    time_utc: str
    agent: str
    member: str
    provider: str
    model: str
    project: str
    session: str
    total_tokens: int
    cost_usd: USD | None = Field(description="Null when the model has no known price.")
    forgotten_utc: str | None = Field(
        default=None, description="When it was forgotten (only in `reported list --forgotten`)."
    )
    forgotten_by: str | None = Field(
        default=None,
        description="Who forgot it (only in `reported list --forgotten`): empty for this ledger's "
        "user, else the member whose laptop's push carried the forget.",
    )
    counted_from: str | None = Field(
        default=None,
        description="Null when this report counts; else the source whose copy of the same request id "
        "counts instead (claude_code: Claude Code's logs; claude_code_otel: its OpenTelemetry events).",
    )


class ReportedCalls(Result):
    """Reported calls, newest first: those selected (at most ``limit``), and how many match in all."""

    calls: list[ReportedCall]
    matching: int = Field(description="Calls that match, of which ``calls`` are the newest.")
    total_usd: USD = Field(description="Cost of the calls listed (priced ones).")
    unpriced_requests: int
    warnings: list[Line]


class ForgetReportedResult(Result):
    """What `cost-mcp reported forget` removed (or, with --dry-run, would remove)."""

    dry_run: bool
    forgotten: list[ReportedCall]
    total_usd: USD = Field(description="Cost of the calls forgotten (priced ones).")
    unpriced_requests: int
    alerts_rearmed: list[str] = Field(
        description="Budget thresholds of the current period that spend no longer reaches: they fire "
        "again when spend crosses them anew."
    )
    warnings: list[Line]


class UnforgetReportedResult(Result):
    """What `cost-mcp reported unforget` lifted: calls that will be stored and counted again the next
    time their agent reports them or a laptop pushes them."""

    unforgotten: list[ReportedCall]
    total_usd: USD = Field(description="Cost the calls had when they were forgotten (priced ones).")
    unpriced_requests: int
    warnings: list[Line]


class DeleteResult(Result):
    """What a delete removed."""

    deleted: str
    warnings: list[Line] = Field(
        default_factory=list,
        description="What the deletion took from reports already made (a subscription's fees counted "
        "so far), to repeat to the user.",
    )


class Anomaly(Result):
    """A day that spent far more than its baseline."""

    day: str
    cost_usd: USD
    baseline_usd: USD = Field(description="Median daily spend of the 14 days before (days with data).")
    ratio: float | None = Field(description="cost / baseline; null when the baseline is 0.")
    top_models: list[str]
    top_agents: list[str]


class Forecast(Answer):
    """Where spend is heading."""

    period: PeriodInfo
    spent_usd: USD
    days_elapsed: int
    days_in_period: int
    burn_rate_period_usd_per_day: USD = Field(description="Spent in the period so far, per day elapsed.")
    burn_rate_7d_usd_per_day: USD = Field(
        description="Usage (seat fees aside) per day over the 7 whole days before today, whatever the period."
    )
    projected_usd: USD = Field(
        description="Spent so far, plus the trailing 7-day usage rate for the days left, plus seat fees "
        "still to come."
    )
    unpriced_requests: int = Field(
        0, description="Calls in the period with no known price: in none of the amounts above."
    )
    anomalies: list[Anomaly]
    warnings: list[Line]
    alerts: list[str]


# --- subscriptions -------------------------------------------------------------------------------

SubscriptionPeriod = Literal["monthly", "yearly"]


class Subscription(Result):
    """A fixed fee, spread evenly over the days of each billing period from its start date."""

    name: str
    vendor: str
    amount_usd: USD
    period: SubscriptionPeriod
    member: str | None
    start: str = Field(description="First day billed (YYYY-MM-DD); billing periods are counted from it.")
    end: str | None = Field(description="Last day counted, inclusive (null: still running).")


class SubscriptionSet(Subscription):
    """A subscription as set, with what setting it changed."""

    warnings: list[Line] = Field(
        default_factory=list,
        description="A replaced subscription whose new terms change fees already counted (past reports).",
    )


class SubscriptionList(Result):
    """Every registered subscription."""

    subscriptions: list[Subscription]
    monthly_equivalent_usd: USD = Field(description="What the running ones cost per month, yearly ones / 12.")


# --- provider sync -------------------------------------------------------------------------------

SyncProviderName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
"""A registered provider id (sources/registry.py); an unknown one is refused with the list."""
SyncProviders = Annotated[
    list[SyncProviderName] | None,
    Field(
        max_length=20,
        description="Provider ids (listed in the tool description). Default: every configured provider.",
    ),
]
SyncDays = Annotated[
    int | None,
    Field(
        ge=1,
        le=366,
        description="Fetch the last N UTC days again (e.g. 62 to backfill). Default: what is not synced "
        "yet plus the last 3 days; 31 on a first sync.",
    ),
]


class SourceSync(Result):
    """What syncing one source did."""

    source: str = Field(
        description="'openai', 'anthropic', 'openrouter' (billed costs and usage), 'cursor' (billed per "
        "member), 'groq' (usage from metrics, estimated), or 'anthropic-claude-code' (Claude Code use "
        "per member: attribution only, never added to a total)."
    )
    provider: str
    ok: bool
    days: int = Field(description="UTC days this sync covered (0 when it failed).")
    buckets: int = Field(description="Rows written for those days: billed amounts and usage.")
    first_day: str | None = Field(description="First UTC day covered, YYYY-MM-DD.")
    last_day: str | None = Field(description="Last UTC day covered, inclusive.")
    not_listed_yet: list[str] = Field(
        default_factory=list,
        description="UTC days between first_day and last_day the provider's report does not list yet "
        "(OpenRouter lists yesterday once processed): not covered, not in days; get_spend estimates "
        "them from local data until a later sync brings them.",
    )
    billed_usd: USD | None = Field(
        description="Billed total over the covered days; null for a source without billed amounts, "
        "or on failure."
    )
    error: str | None = Field(description="Why it failed; the data synced before is kept.")
    note: str | None = Field(
        None,
        description="What is not spend or was not synced: today's partial figure, a key's limit, a "
        "balance, the billing cycle's team spend, a degraded mode (e.g. an OpenRouter key that is "
        "not a management key).",
    )
    seconds: float


class SyncResult(Result):
    """What a provider sync fetched, per source."""

    sources: list[SourceSync]
    warnings: list[Line]


# --- dashboard -----------------------------------------------------------------------------------


class HourCost(Result):
    """What the calls of one local hour of the day cost, over a period."""

    hour: int = Field(ge=0, le=23, description="Local hour of the day, 0-23.")
    cost_usd: USD | None = Field(description="Of the priced calls; null when none of its calls is.")
    requests: int
    unpriced_requests: int = Field(description="Calls with no known price (not in cost_usd).")


class HourlyCost(Result):
    """Cost by hour of the day: only calls recorded locally carry a time of day."""

    period: PeriodInfo
    basis: Literal["estimated"] = Field(
        description="Always estimated, as the totals estimate: the calls recorded one by one (agents' "
        "logs, OpenTelemetry events, record_usage). Billed amounts are per day and have no hour."
    )
    total_usd: USD = Field(description="Sum of the hours (the locally recorded calls only).")
    hours: list[HourCost] = Field(description="24 entries, hour 0 to 23.")
    warnings: list[Line]
    complete: bool = Field(
        True,
        description="False when calls recorded one by one may be missing from these hours (in a "
        "dashboard: log files the last read could not open; a PARTIAL warning says which): the total "
        "is a lower bound. A provider's missing bill leaves it true: billed amounts are not in the hours.",
    )


class Breakdown(SpendResult):
    """A dashboard breakdown: get_spend by one dimension, and the names its '(other)' rows sum."""

    folded_names: list[str] = Field(
        default_factory=list,
        description="Every name the '(other)' rows sum, alphabetically: each is a filter to pick, though "
        "no row shows it. Empty by session.",
    )
    rounding_note: str | None = Field(
        None,
        description="Set when the rows, each shown rounded to the cent, do not add up as shown to total_usd "
        "as shown: says what they add up to and that the total is their exact sum. The page shows it "
        "under the table.",
    )


class Dashboard(Answer):
    """Everything the dashboard shows, each part the result of the tool that answers it."""

    generated_at: str = Field(description="When these figures were read (UTC).")
    period: str
    filters: dict[str, list[str]] = Field(
        description="The filters applied (to all but budgets and forecast)."
    )
    today: SpendResult = Field(
        description="get_spend(period='today') (daily_by_provider when that is the period asked for)."
    )
    this_week: SpendResult
    this_month: SpendResult
    daily_by_provider: SpendResult = Field(
        description="get_spend(group_by=['day', 'provider']); each row has its basis, so the same rows "
        "stack by basis too."
    )
    breakdowns: dict[str, Breakdown] = Field(
        description="get_spend(group_by=[dim]) for model, agent, project, member and session (those "
        "asked for); the largest rows, the others summed in '(other)' rows (see truncated)."
    )
    hourly: HourlyCost
    budgets: BudgetStatusResult
    forecast: Forecast = Field(description="spend_forecast of the period (not filtered).")
    daily_rounding_note: str | None = Field(
        None,
        description="As Breakdown.rounding_note, for daily_by_provider's rows: set when, each shown "
        "rounded to the cent, they do not add up as shown to its total as shown.",
    )
    hourly_rounding_note: str | None = Field(
        None, description="As daily_rounding_note, for the hours of hourly and its total."
    )
    budgets_left_usd: dict[str, USD] = Field(
        default_factory=dict,
        description="Each budget's 'left' as shown beside its limit and spent, by name: the shown limit "
        "less the shown spent, so the three add up as `cost-mcp budget status` shows them "
        "(remaining_usd is the exact amount).",
    )
    nothing_connected: str | None = Field(
        None,
        description="Set while the ledger holds nothing and no source is set up: what to connect (the "
        "'no data source is connected yet' warning), which the page shows above its figures.",
    )
    partial_reports: dict[str, list[str]] = Field(
        default_factory=dict,
        description="By figure ('today', 'this_week', 'this_month', 'period': daily_by_provider's), the "
        "providers' reports it counts on a day they may still grow (synced before the day ended plus "
        "the reporting lag), one line per provider and report, as `cost-mcp report` lists them under "
        "'partial:'; a figure with none is left out.",
    )
    warnings: list[Line] = Field(
        default_factory=list,
        description="About the dashboard as a whole (e.g. a setting that could not be used); each part "
        "carries its own warnings too.",
    )


# --- savings and comparisons ---------------------------------------------------------------------

SavingsDimension = Literal["provider", "model", "agent", "project", "session", "source"]
SavingsGroupBy = Annotated[
    list[SavingsDimension] | None,
    Field(
        max_length=4,
        description="Default: model mix per agent, project and model; caching per agent and project.",
    ),
]
CompareGroupBy = Annotated[
    list[SavingsDimension] | None,
    Field(max_length=4, description="Dimensions of the rows; default model."),
]
PeriodSpec = Annotated[
    str | None,
    Field(
        max_length=40,
        description="A period name, YYYY-MM, YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD (both included).",
    ),
]
"""compare_periods' sides: the forms a ``period`` takes (PERIOD_SCHEMA), read by the same parser; in
words, not the enum and pattern, which two more copies of would overrun the tool list's size."""


class SessionSaving(Result):
    """A session (or, for calls without one, agent and project) and what a finding saves in it."""

    session: str = Field(description="Session id; '(no session)' groups calls that carry none.")
    agent: str
    project: str
    calls: int
    saving_usd: USD


class CandidateSaving(Result):
    """A model's calls repriced on another model."""

    model: str
    origin: Literal["same provider", "substitute"] = Field(
        description="'same provider': a cheaper model of the provider; 'substitute': listed in "
        "COST_MCP_SUBSTITUTES."
    )
    cost_usd: USD = Field(description="What every call of the model would have cost on this one.")
    saving_usd: USD = Field(description="Saving over every call.")
    short_answer_saving_usd: USD = Field(description="Saving over the short-answer calls only.")


class ModelMixModel(Result):
    """One model used in the period and what its calls cost on the alternatives."""

    provider: str
    model: str
    calls: int
    short_answer_calls: int
    cost_usd: USD
    target: str | None = Field(description="The model the headline saving moves short-answer calls to.")
    candidates: list[CandidateSaving] = Field(description="Cheapest first, at most 6.")


class ModelMixRow(Result):
    """Model-mix saving of one group."""

    group: dict[str, str]
    calls: int
    short_answer_calls: int
    cost_usd: USD
    target: str | None = Field(description="Target model; null when the group's models have several.")
    short_answer_saving_usd: USD = Field(description="Moving this group's short-answer calls to the target.")
    all_calls_saving_usd: USD = Field(description="Moving every call of this group to the target.")


class ModelMixFinding(Result):
    """What the period's calls would have cost on cheaper models (price only, quality not measured)."""

    saving_usd: USD = Field(description="Short-answer calls moved to each model's target.")
    all_calls_saving_usd: USD = Field(description="Every call moved to its model's target.")
    calls: int
    short_answer_calls: int
    assumptions: list[str]
    models: list[ModelMixModel] = Field(description="Most expensive first, bounded; see more_models.")
    more_models: int
    rows: list[ModelMixRow] = Field(description="Largest saving first, bounded; see more_rows.")
    more_rows: int
    more_rows_saving_usd: USD
    top_sessions: list[SessionSaving]
    more_sessions: int


class CachingRow(Result):
    """Prompt caching of one group."""

    group: dict[str, str]
    calls: int
    input_tokens_total: int = Field(description="All input: uncached, cache reads and cache writes.")
    cache_read_tokens: int
    cache_share_percent: float = Field(description="Share of all input served from the cache.")
    cache_write_premium_usd: USD = Field(description="Paid for cache writes above the plain input price.")
    cache_read_saved_usd: USD = Field(description="Saved by cache reads against the plain input price.")
    net_cache_saving_usd: USD = Field(
        description="Reads saved minus writes' premium; negative: caching lost."
    )
    prefix_candidate_calls: int = Field(description="Calls that re-sent a large uncached prefix.")
    prefix_tokens: int = Field(description="Uncached prefix tokens those calls re-sent.")
    prefix_saving_usd: USD = Field(description="Had the prefix been cached (5-minute writes), net.")
    unneeded_1h_writes: int = Field(
        description="Calls whose 1-hour cache writes a 5-minute write would have served."
    )
    unneeded_1h_tokens: int
    unneeded_1h_saving_usd: USD = Field(description="1-hour minus 5-minute write price of those tokens.")
    saving_usd: USD = Field(description="prefix_saving_usd + unneeded_1h_saving_usd.")


class CachingFinding(Result):
    """How well prompt caching is used, and what using it better would save."""

    saving_usd: USD = Field(
        description="Caching repeated prefixes plus 5-minute instead of needless 1-hour writes."
    )
    prefix_saving_usd: USD
    unneeded_1h_saving_usd: USD
    cache_share_percent: float = Field(description="Share of all input served from the cache, all calls.")
    cache_write_premium_usd: USD
    cache_read_saved_usd: USD
    assumptions: list[str]
    rows: list[CachingRow] = Field(description="Largest saving first (then largest spend), bounded.")
    more_rows: int
    more_rows_saving_usd: USD
    top_sessions: list[SessionSaving]
    more_sessions: int


class BatchRow(Result):
    """An agent whose calls look non-interactive, priced at its provider's batch rate."""

    agent: str
    providers: list[str]
    calls: int
    sessions: int = Field(description="Distinct session ids its calls carry (0: none).")
    night_share_percent: float = Field(description="Share of calls between 22:00 and 06:00 local time.")
    median_gap_minutes: float | None = Field(description="Median time between consecutive calls.")
    reasons: list[str] = Field(description="Which rules made it a candidate: night, no session, long gaps.")
    cost_usd: USD
    batch_cost_usd: USD = Field(description="The same calls at the batch rate (providers with one).")
    saving_usd: USD


class BatchFinding(Result):
    """Agents that need no immediate answer, priced at the provider's batch discount."""

    saving_usd: USD
    agents_checked: int
    assumptions: list[str]
    rows: list[BatchRow] = Field(description="Largest saving first, bounded.")
    more_rows: int
    more_rows_saving_usd: USD
    top_sessions: list[SessionSaving]
    more_sessions: int


class SavingsReport(Answer):
    """Where the period's recorded calls could have cost less: model mix, caching, batch."""

    period: PeriodInfo
    calls: int = Field(description="Priced calls analysed (Claude Code logs and record_usage).")
    cost_usd: USD = Field(description="Their cost at list price (tokens x price, as the ledger priced them).")
    unpriced_calls: int = Field(description="Calls with no known price, left out.")
    model_mix: ModelMixFinding
    caching: CachingFinding
    batch: BatchFinding
    notes: list[str] = Field(
        description="How to read the findings; they overlap (a call moved to batch and to a cheaper model "
        "saves less than both), so do not add them up."
    )
    warnings: list[Line]


class ModelShare(Result):
    """A model's part of a period's calls and spend."""

    provider: str
    model: str
    calls: int
    cost_usd: USD
    call_share_percent: float
    cost_share_percent: float


class PeriodFigures(Result):
    """One side of a comparison."""

    period: PeriodInfo
    cost_usd: USD = Field(
        description="Of the priced calls; 0 with unpriced_calls above 0 is unknown, not $0."
    )
    calls: int = Field(description="Priced calls, which every figure here is of.")
    unpriced_calls: int = Field(0, description="Calls with no known price, in none of these figures.")
    tokens: int = Field(description="All input (uncached, cache reads, cache writes) plus output.")
    cost_per_call_usd: USD | None = Field(description="Rounded to 1e-9 USD; null without calls.")
    cost_per_million_tokens_usd: USD | None = Field(description="Rounded to 1e-9 USD; null without tokens.")
    cache_share_percent: float = Field(description="Share of all input served from the cache.")
    models: list[ModelShare] = Field(description="Most expensive first, bounded; see more_models.")
    more_models: int


class ChangePart(Result):
    """One part of the change between two periods; the parts sum exactly to the change."""

    part: Literal["volume", "mix", "tokens_per_call", "caching", "price"]
    usd: USD
    meaning: str


class CompareRow(Result):
    """One group side by side."""

    group: dict[str, str]
    before_cost_usd: USD | None = Field(description="Of the priced calls; null when none of its calls is.")
    after_cost_usd: USD | None = Field(description="Of the priced calls; null when none of its calls is.")
    before_calls: int = Field(description="Calls, unpriced ones included.")
    after_calls: int = Field(description="Calls, unpriced ones included.")
    before_unpriced_calls: int = Field(description="Calls with no known price (not in before_cost_usd).")
    after_unpriced_calls: int = Field(description="Calls with no known price (not in after_cost_usd).")
    change_usd: USD | None = Field(description="after - before, of priced calls; null when a side is null.")
    model_ids: list[str] | None = Field(
        None,
        description="By model: the logged ids of this one model the row sums, on either side (each "
        "agent spells it its own way), when not just the one shown; else null.",
    )


class Comparison(Answer):
    """Two periods side by side, and the change explained by its parts."""

    before: PeriodFigures
    after: PeriodFigures
    change_usd: USD = Field(description="after - before.")
    change_percent: float | None = Field(description="Null when before is 0.")
    parts: list[ChangePart] = Field(
        description="volume + mix + tokens_per_call + caching + price = change_usd."
    )
    method: str
    group_by: list[str]
    rows: list[CompareRow] = Field(description="Largest absolute change first, bounded; see more_rows.")
    more_rows: int
    warnings: list[Line]


class PlanLimitReading(Result):
    """One recorded plan-limit reading."""

    at: str
    used_percent: float
    resets_at: str | None


class PlanLimitWindow(Result):
    """One plan-limit window (``five_hour`` or ``seven_day``) of one agent, and its pace."""

    agent: str
    window: str
    used_percent: float = Field(description="The latest reading, as the plan reports it (0-100).")
    read_at: str
    resets_at: str | None
    percent_per_hour: float | None = Field(
        description="Percentage points per hour since this window's current period began; "
        "null with one reading."
    )
    reaches_100_at: str | None = Field(
        description="When 100% is reached at this pace, if before the reset; null once the reset has "
        "passed with no reading since (the window started again: `warnings` says so)."
    )
    readings: list[PlanLimitReading] = Field(description="Oldest first; the newest ones when truncated.")


class PlanLimits(Paged):
    """How fast the plan limits are approached, from readings the status line recorded.

    Bounded: each window lists its newest readings (``total_rows`` counts them all, every window)."""

    windows: list[PlanLimitWindow]
    warnings: list[Line]


def build_all() -> None:
    """Build every result model's validator and serializer now (:class:`Result` defers them to
    first use). For a server, before it answers: its first answers are not each slowed by the
    builds they need, and the HTTP server's models are built before its start-up heap is frozen.
    (pydantic 2.14, the floor in pyproject, locks a build two threads start at once; releases
    before it could give one of them the parent model's validator: pydantic/pydantic#11849.)"""
    pending: list[type[BaseModel]] = [Result]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        model.model_rebuild()
