"""MCP registration: tools, resources and prompts. No logic lives here.

Each tool is a thin async function: it validates arguments through its type hints, runs the matching
plain function from ``analytics`` (or ``sources``) on a worker thread, and returns its pydantic
result. Anticipated failures (:class:`~cost_mcp.errors.CostMcpError`) become a ``ToolError`` whose
text the model can read and act on.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Concatenate, Literal, ParamSpec, Self, TypeVar

import anyio.from_thread
import anyio.to_thread
import pydantic_core
from mcp.server import MCPServer
from mcp.server.apps import Apps
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_REQUEST,
    CallToolResult,
    GetPromptResult,
    InputRequiredResult,
    TextContent,
    ToolAnnotations,
)
from mcp.types import Prompt as MCPPrompt
from mcp.types import Resource as MCPResource
from mcp.types import Tool as MCPTool
from pydantic import BaseModel, Field, ValidationError, create_model
from pydantic.config import ExtraValues

from cost_mcp import __version__, access, catchup, logwatch, push, sync
from cost_mcp.analytics import agents as agents_api
from cost_mcp.analytics import (
    alerts,
    breakdown,
    budgets,
    estimate,
    forecast,
    rows,
    savings,
    spend,
    subscriptions,
)
from cost_mcp.analytics import claude_code as cc_views
from cost_mcp.analytics import dashboard as dashboard_views
from cost_mcp.config import Settings, StartedSettings
from cost_mcp.errors import CostMcpError, NotFoundError
from cost_mcp.models import (
    DAY_FORMAT,
    MAX_TOKENS,
    AgentName,
    AmountUSD,
    Answer,
    BudgetBasis,
    BudgetName,
    BudgetPeriod,
    BudgetScope,
    BudgetSet,
    BudgetStatusResult,
    CacheReadTokens,
    CacheWrite1hTokens,
    CacheWriteTokens,
    CheckResult,
    CompareGroupBy,
    Comparison,
    Dashboard,
    DeleteResult,
    EndDate,
    Estimate,
    EstimatedCostUSD,
    ExistingName,
    FilterValues,
    Forecast,
    ForgetPaths,
    GroupBy,
    InferenceGeoParam,
    IngestResult,
    InputTokens,
    LogPaths,
    ModelBreakdown,
    ModelName,
    NewestLimit,
    OptionalAgent,
    OptionalMember,
    OptionalProject,
    OutputTokens,
    PeriodName,
    PeriodSpec,
    PlanLimits,
    ProviderName,
    RecordResult,
    Requests,
    RowCursor,
    RowLimit,
    SavingsGroupBy,
    SavingsReport,
    ScopeValues,
    ServiceTierParam,
    SessionId,
    SessionUsage,
    SpeedParam,
    SpendResult,
    StartDate,
    SubscriptionPeriod,
    SubscriptionSet,
    SyncDays,
    SyncProviders,
    SyncResult,
    Thresholds,
    TimezoneName,
    UsageBlocks,
    VendorName,
    build_all,
)
from cost_mcp.periods import parse_zone, periods_to_compare
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.sources import claude_code, registry
from cost_mcp.store import Ledger, connect
from cost_mcp.store.connection import Conn, shown
from cost_mcp.tool_text import argument_error, clean_description, compact_schema
from cost_mcp.web.auth import current_caller
from cost_mcp.web.page import page_html

logger = logging.getLogger("cost_mcp")

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A", bound=Answer)

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
LOCAL_WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
PROVIDER_SYNC = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)


@dataclass
class AppState:
    """What every tool shares for the life of the server process."""

    settings: Settings
    ledger: Ledger
    pricer: Pricer
    problems: list[str]
    reader: catchup.LogReader
    watcher: logwatch.LogWatcher
    started: StartedSettings
    refreshed: sync.RecentRefresh = field(default_factory=sync.RecentRefresh)


_live: list[AppState] = []
"""The running lifespan state, for static resources (the SDK gives them no Context)."""


class _KnownArgumentsOnly(ArgModelBase):
    """Mixed into every tool's argument model: an argument the tool does not take is an error, and
    so is an argument of the wrong JSON type.

    The SDK builds each tool's argument model from its signature (``func_metadata``, on
    ``ArgModelBase``) and silently ignores extra keys, so a misspelt ``perod`` would quietly mean
    the default period. This names the arguments the tool does take instead.

    It validates them as Python values in pydantic's lax mode, so ``true`` became 1 token and
    ``"12"`` 12, and ``"true"`` or 1 a hard budget: a model's wrong type went unnoticed. They are
    validated strictly here, as the JSON they arrived as, which keeps what JSON itself spells (a
    number or a numeric string for money, an ISO string for a date or time, ``12.0`` for an integer
    as JSON Schema allows) and refuses the rest, naming the argument (:class:`CostServer`). The
    published schemas are unchanged.
    """

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: ExtraValues | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """The arguments in ``obj`` validated strictly as JSON (anything but a dict as pydantic would)."""
        if from_attributes or not isinstance(obj, dict):
            return super().model_validate(
                obj,
                strict=strict,
                extra=extra,
                from_attributes=from_attributes,
                context=context,
                by_alias=by_alias,
                by_name=by_name,
            )
        cls._known_only(obj)
        return cls.model_validate_json(
            pydantic_core.to_json(_whole_numbers(obj)),
            strict=True if strict is None else strict,
            extra=extra,
            context=context,
            by_alias=by_alias,
            by_name=by_name,
        )

    @classmethod
    def _known_only(cls, data: dict[Any, Any]) -> None:
        # Not a model validator: a "before" one hands the fields Python values, which strict mode
        # then takes as Python's (money only as a Decimal instance, a time only as a datetime).
        known = sorted(f.alias or name for name, f in cls.model_fields.items())
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            close = [m for k in unknown for m in difflib.get_close_matches(k, known, n=1)]
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            why = (
                f"unknown argument(s) {', '.join(repr(k) for k in unknown)}{hint}; "
                f"valid arguments: {', '.join(known) or 'none'}"
            )
            raise ValidationError.from_exception_data(
                cls.__name__,
                [{"type": "value_error", "loc": (), "input": data, "ctx": {"error": ValueError(why)}}],
            )


def _whole_numbers(value: Any) -> Any:
    """``value`` with each whole float (``12.0``) an int: JSON Schema counts it an integer, and so
    may a client, while pydantic's strict mode would refuse it for one."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def reject_unknown_arguments(server: MCPServer[Any]) -> None:
    """Make every registered tool refuse arguments it does not take, in one place.

    Idempotent; runs when the server starts, so tools registered anywhere at import time are covered.
    The input schemas then say ``additionalProperties: false`` too.
    """
    for tool in server._tool_manager.list_tools():  # the SDK offers no public way to reach the Tool
        model = tool.fn_metadata.arg_model
        if issubclass(model, _KnownArgumentsOnly):
            continue
        tool.fn_metadata.arg_model = create_model(model.__name__, __base__=(model, _KnownArgumentsOnly))
        tool.parameters["additionalProperties"] = False


class _CompactResults(FuncMetadata):
    """Tool metadata whose results carry their JSON once at full size: the SDK would add a copy
    indented by 2 as text (larger than the structured content itself); here the text is the same
    JSON without whitespace, and our own pydantic result is dumped without being validated again."""

    def convert_result(self, result: Any) -> Any:
        """The result as structured content plus the same JSON, compact, as its text."""
        if isinstance(result, BaseModel) and not self.wrap_output and isinstance(result, self.output_model):
            structured = result.model_dump(mode="json", by_alias=True)
            text = pydantic_core.to_json(structured).decode()
            return CallToolResult(
                content=[TextContent(type="text", text=text)], structured_content=structured
            )
        return super().convert_result(result)


def compact_results(server: MCPServer[Any]) -> None:
    """Make every registered tool send its result's text as compact JSON, in one place.

    Idempotent; runs when the server starts, beside :func:`reject_unknown_arguments`. Tools that
    build their own CallToolResult (show_dashboard's text summary) are left as they are.
    """
    for tool in server._tool_manager.list_tools():  # the SDK offers no public way to reach the Tool
        meta = tool.fn_metadata
        if isinstance(meta, _CompactResults) or not isinstance(meta.output_model, type):
            continue
        tool.fn_metadata = _CompactResults(
            arg_model=meta.arg_model,
            output_schema=meta.output_schema,
            output_model=meta.output_model,
            wrap_output=meta.wrap_output,
        )


PUBLISHED_OUTPUT_SCHEMA: dict[str, Any] = {"type": "object"}
"""What tools/list says of every result. The full result schemas came to about 100,000 characters
that hosts send along with every conversation while the model never calls with them; each result's
structured content is still validated against its pydantic model before it is sent, and the
models (``cost_mcp.models``) and docs/architecture.md describe the fields."""


def tidy_tool_list(server: MCPServer[Any]) -> None:
    """What tools/list sends, made compact in one place: descriptions without docstring
    indentation, input schemas without titles or ``anyOf [X, null]`` (see
    :func:`cost_mcp.tool_text.compact_schema`), and a minimal output schema.

    Idempotent; runs when the server starts, after :func:`reject_unknown_arguments`.
    """
    for tool in server._tool_manager.list_tools():  # the SDK offers no public way to reach the Tool
        tool.description = clean_description(tool.description)
        compact = compact_schema(tool.parameters)
        tool.parameters.clear()
        tool.parameters.update(compact)
        if tool.fn_metadata.output_schema is not None:
            tool.fn_metadata.output_schema = PUBLISHED_OUTPUT_SCHEMA
            tool.__dict__.pop("output_schema", None)  # a cached_property on the SDK's Tool


class CostServer(MCPServer[AppState]):
    """The SDK's server, with arguments that fail validation explained in one line.

    The SDK passes pydantic's own report to the model ("1 validation error for
    set_budgetArguments ... https://errors.pydantic.dev/..."); this names the argument, what was
    given and what the tool's schema allows (:func:`cost_mcp.tool_text.argument_error`).
    """

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Call a tool; a ToolError caused by invalid arguments gets a one-line message.

        In team mode the caller's token decides what the tool may see (:mod:`cost_mcp.access`)."""
        try:
            arguments = access.scope_arguments(name, arguments, current_caller())
        except access.AccessDeniedError as exc:
            raise ToolError(str(exc)) from None
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            tool = self._tool_manager.get_tool(name)
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError) or tool is None:
                raise
            raise ToolError(f"{name}: {argument_error(cause, tool.parameters)}") from cause

    async def list_tools(self) -> list[MCPTool]:
        """Every tool; in team mode only those the caller's token may call, so that a member's model
        is not offered fourteen tools that each refuse it."""
        caller = current_caller()
        return [t for t in await super().list_tools() if access.may_call(t.name, caller)]

    async def list_resources(self) -> list[MCPResource]:
        """Every resource; none in team mode for a member's or an ingest token, whose every read
        :meth:`read_resource` refuses (as :meth:`list_tools` offers only the tools they may call)."""
        caller = current_caller()
        if caller is not None and not caller.is_admin:
            return []
        return await super().list_resources()

    async def list_prompts(self) -> list[MCPPrompt]:
        """Every prompt; in team mode only those whose every tool the caller's token may call (a
        member's model was offered weekly_cost_review, which sends it to three admin tools)."""
        caller = current_caller()
        return [
            p
            for p in await super().list_prompts()
            if access.prompt_refusal(p.name, PROMPT_CALLS[p.name], caller) is None
        ]

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        context: Context[AppState, Any] | None = None,
    ) -> GetPromptResult | InputRequiredResult:
        """Get a prompt; refused, with the reason, when it calls tools the caller's token may not."""
        why = access.prompt_refusal(name, PROMPT_CALLS.get(name, ()), current_caller())
        if why is not None:
            # An MCPError reaches the client as it is; anything else reached it as a bare error.
            raise MCPError(code=INVALID_REQUEST, message=why)
        return await super().get_prompt(name, arguments, context)

    async def read_resource(self, uri: Any, context: Context[AppState, Any] | None = None) -> Any:
        """Read a resource; ``cost://summary`` shows everyone's spend, so a member's or an ingest
        token is refused."""
        caller = current_caller()
        if caller is not None and not caller.is_admin:
            if caller.sends_only:
                why = access.send_only_refusal(
                    caller, "resources show everyone's spend", "read them with an admin token"
                )
            else:
                why = (
                    f"resources show everyone's spend and need an admin token; {caller.member}: use get_spend"
                )
            # A ResourceError's message reaches the client; any other exception reached it as
            # "Internal server error" (and logged a traceback), the reason lost.
            raise ResourceError(why)
        return await super().read_resource(uri, context)


@asynccontextmanager
async def lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
    """Open the ledger and load prices once per process."""
    reject_unknown_arguments(server)
    compact_results(server)
    tidy_tool_list(server)
    started = StartedSettings()
    settings, problems = started.settings, started.problems
    try:
        pricer = Pricer.from_file(settings.prices_file)
    except CostMcpError as exc:
        # A broken override file must not take the server down; results carry the problem instead,
        # until the file is mended (every refresh reads it again).
        logger.error("%s", exc)
        pricer = Pricer()
        pricer.file_problem = str(exc)
    # A ledger it cannot use yet does not stop the server: Claude Code showed only "failed" for a
    # ledger a newer release had migrated (a downgrade), the reason in a log nobody reads; every
    # tool now answers it, and the ledger is tried again at each question.
    ledger = await anyio.to_thread.run_sync(functools.partial(Ledger, settings.db, unusable_at_start=True))
    logger.info("cost-mcp %s serving, ledger %s", __version__, shown(settings.db))
    if ledger.unusable_at_start is not None:
        logger.error("%s", ledger.unusable_at_start)
    # Logs are read in the background from the start, so the first question need not wait for a
    # large history; answers say they are incomplete until it is read.
    reader = catchup.LogReader(settings, pricer, functools.partial(connect, settings.db))
    # Questions skip the walk of an unchanged log tree while the watcher vouches for it.
    watcher = logwatch.LogWatcher(
        functools.partial(logwatch.log_roots, settings), enabled=settings.watch_logs
    )
    state = AppState(
        settings=settings,
        ledger=ledger,
        pricer=pricer,
        problems=problems,
        reader=reader,
        watcher=watcher,
        started=started,
    )
    reader.start()
    watcher.start()
    if not ledger.read_only:
        await anyio.to_thread.run_sync(_resume_deliveries, ledger, settings)
    # A laptop in a team pushes its usage to the team server on its own (cost_mcp.push).
    pusher = push.PushLoop(settings, functools.partial(connect, settings.db), reader.wait)
    pusher.start()
    _live.append(state)
    try:
        yield state
    finally:
        _live.remove(state)
        await anyio.to_thread.run_sync(pusher.stop)
        await anyio.to_thread.run_sync(reader.stop)
        await anyio.to_thread.run_sync(watcher.stop)
        ledger.close()


def _resume_deliveries(ledger: Ledger, settings: Settings) -> None:
    try:
        with ledger.use() as conn:
            alerts.resume_deliveries(conn, settings)
    except CostMcpError as exc:
        # A start-up must not fail on alerts: the next evaluation delivers what is due.
        logger.error("cannot resume budget alert deliveries: %s", exc)


DASHBOARD_URI = "ui://cost-mcp/dashboard.html"
apps = Apps()
"""The MCP Apps extension (io.modelcontextprotocol/ui): its tools are registered here, before the
server that takes it is built; their bodies use the helpers defined further down."""


@apps.tool(resource_uri=DASHBOARD_URI, title="Show the spend dashboard", annotations=READ_ONLY)
async def show_dashboard(
    ctx: Context[AppState],
    period: PeriodName = None,
    start: StartDate = None,
    end: EndDate = None,
    timezone: TimezoneName = None,
    providers: FilterValues = None,
    models: FilterValues = None,
    projects: FilterValues = None,
    agents: FilterValues = None,
    members: FilterValues = None,
    basis: FilterValues = None,
) -> Annotated[CallToolResult, Dashboard]:
    """Show the spend dashboard in the conversation: totals, budgets, forecast, charts, sources.

    Hosts that render MCP Apps show charts with period and filter controls; others get the same
    facts as text. Figures are those of get_spend, budget_status and spend_forecast: call those for
    one exact number. Filters keep exact matches. Defaults: this_month, no filter (budgets and
    forecast are never filtered).

    Example: show_dashboard(period="last_30_days", providers=["anthropic"])
    """
    filters = spend.Filters(
        providers=providers, models=models, projects=projects, agents=agents, members=members, basis=basis
    )

    def answer(conn: Conn, settings: Settings) -> Dashboard:
        return dashboard_views.build_dashboard(conn, settings, period, start, end, timezone, filters)

    result = await _query(ctx, answer)
    return CallToolResult(
        content=[TextContent(type="text", text=dashboard_views.dashboard_text(result))],
        structured_content=result.model_dump(mode="json"),
    )


apps.add_html_resource(
    DASHBOARD_URI,
    page_html("app"),
    name="dashboard",
    title="AI spend dashboard",
    description="The cost-mcp dashboard: renders the result of show_dashboard; self-contained, no network.",
    prefers_border=True,
)

mcp: MCPServer[AppState] = CostServer(
    "cost-mcp",
    title="AI cost tracker",
    version=__version__,
    instructions=(
        "Answers what AI use costs, to the cent: billed numbers from provider APIs where they exist, "
        "token x price estimates where not, always labelled. Use estimate_cost before an expensive call."
    ),
    lifespan=lifespan,
    extensions=[apps],
)


async def _run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a plain (blocking) function on a worker thread, turning anticipated errors into ToolErrors."""
    try:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
    except CostMcpError as exc:
        raise ToolError(str(exc)) from None


def _state(ctx: Context[AppState]) -> AppState:
    return ctx.request_context.lifespan_context


async def _catch_up(state: AppState, *, full_budget: bool = False) -> None:
    """Give a background log reading time to finish before answering: until the refresh budget
    has passed since it started, or (``full_budget``) the whole budget from now."""
    if state.reader.running:
        budget = state.settings.refresh_budget_seconds
        wait = state.reader.wait if full_budget else state.reader.settle
        await anyio.to_thread.run_sync(wait, budget)


def _labelled(conn: Conn, settings: Settings, result: T, progress: catchup.ReadProgress) -> T:
    """Every query result goes out through here: complete, or saying what it lacks."""
    if isinstance(result, Answer):
        # A member is not shown the server's log paths (an admin fixes those), as _with_problems
        # hides its price file.
        caller = current_caller()
        member = caller is not None and not caller.is_admin
        return catchup.envelope(conn, settings, result, progress, paths=not member)
    return result


HTTP_REFRESH_EVERY_SECONDS = 1.0
"""Over HTTP, a question refreshes first only when this process's last whole refresh started
longer ago, and one arriving while a refresh runs waits for that one (``sync.RecentRefresh``):
a team server's clients asking back to back each paid a log check, a provider plan, the budget
alerts' evaluation and a write transaction for the log check's note, queued for the write lock
behind the pushes. Pushed rows need no refresh (they are in the ledger, and the
rollup is brought up to date by every query); a log line or a due provider sync waits at most
this long. Over stdio (one person, seconds between questions) every question still refreshes."""


async def _query(
    ctx: Context[AppState],
    fn: Callable[Concatenate[Conn, Settings, P], A],
    *args: P.args,
    **kwargs: P.kwargs,
) -> A:
    """Bring the ledger up to date, then answer from it, on a worker thread."""
    state = _state(ctx)
    await _catch_up(state)

    over_http = ctx.request_context.request is not None

    def refresh() -> tuple[IngestResult | None, list[str]]:
        logs: Literal["budget", "skip"] = "skip" if state.reader.running else "budget"
        with state.ledger.use() as conn:
            return sync.refresh_or_skip(conn, state.settings, state.pricer, logs=logs, watcher=state.watcher)

    # Waited for on the event loop, not in a worker thread holding a connection of the pool. Over
    # stdio every question refreshes, but one at a time: questions asked at once (a model's parallel
    # tool calls) ran their refreshes side by side on a PostgreSQL pool's connections, and one
    # holding the write lock made the others skip, saying another process was writing.
    every = HTTP_REFRESH_EVERY_SECONDS if over_http else 0.0
    read, skipped = await state.refreshed.once(every, functools.partial(_run, refresh))

    def work() -> A:
        with state.ledger.use() as conn:
            if read is not None:
                state.reader.continue_after(read)
            # Taken before answering: "complete" must mean everything was in the ledger by then.
            progress = state.reader.progress()
            try:
                found = fn(conn, state.settings, *args, **kwargs)
            except NotFoundError as exc:
                raise progress.not_found(exc) from exc
            answer = catchup.with_warnings(_with_problems(state, found), skipped)
            return _labelled(conn, state.settings, answer, progress)

    return await _run(work)


async def _local(ctx: Context[AppState], fn: Callable[[Conn, AppState], T]) -> T:
    """Answer from the ledger after reading new log lines only (no network): for agents' hot path."""
    state = _state(ctx)
    await _catch_up(state)  # only in the first seconds after start-up

    def work() -> T:
        with state.ledger.use() as conn:
            logs: Literal["budget", "skip"] = "skip" if state.reader.running else "budget"
            read, skipped = sync.refresh_or_skip(
                conn, state.settings, state.pricer, local=True, logs=logs, watcher=state.watcher
            )
            if read is not None:
                state.reader.continue_after(read)
            progress = state.reader.progress()
            answer = catchup.with_warnings(_with_problems(state, fn(conn, state)), skipped)
            return _labelled(conn, state.settings, answer, progress)

    return await _run(work)


def _with_problems(state: AppState, result: T) -> T:
    """Put the server's configuration problems first in a result's warnings, until they are fixed;
    for a team member, advice to edit the server's price file says whose that is."""
    warnings = getattr(result, "warnings", None)
    caller = current_caller()
    member = caller is not None and not caller.is_admin
    # The env file is the server's: only an admin can edit it (or restart the server).
    notice = None if member or not isinstance(warnings, list) else state.started.notice()
    problems = [
        *state.problems,
        *([state.pricer.file_problem] if state.pricer.file_problem else []),
        *([notice] if notice else []),
    ]
    if problems and isinstance(warnings, list):
        warnings[:0] = [p for p in problems if p not in warnings]
    if member and isinstance(warnings, list):
        # The paths are the server's: only an admin can edit the price file or configure its
        # log folders and keys, and a member's own usage reaches it by push or OpenTelemetry.
        path = str(state.settings.prices_file)
        advice = f"the price override file ({path})"
        # A line without the path is kept as it is: made again (str.replace gives a plain str), a
        # PARTIAL line lost the gaps it carries (analytics/gaps.py), and marked every row of spend.
        warnings[:] = [
            MEMBER_NO_SOURCE
            if w.startswith(spend.NO_SOURCE)
            else w.replace(advice, MEMBER_PRICE_FILE).replace(path, SERVER_PRICE_FILE)
            if path in w
            else w
            for w in warnings
        ]
    return result


MEMBER_PRICE_FILE = "the team server's price override file (ask a team admin)"
SERVER_PRICE_FILE = "on the team server"
MEMBER_NO_SOURCE = (
    f"{spend.NO_SOURCE}: nothing has reached the team server; send your coding agents' usage with "
    "`cost-mcp push --server URL --token TOKEN` or point Claude Code's OpenTelemetry at it "
    "(`cost-mcp otel-config --server URL`)"
)
"""The empty-ledger advice for a member: the server's log folders and provider keys are not theirs."""


@mcp.tool(title="Estimate the cost of a call", annotations=READ_ONLY)
async def estimate_cost(
    ctx: Context[AppState],
    model: ModelName,
    input_tokens: InputTokens,
    output_tokens: OutputTokens,
    provider: ProviderName = None,
    cache_read_tokens: CacheReadTokens = 0,
    cache_write_tokens: CacheWriteTokens = 0,
    cache_write_1h_tokens: CacheWrite1hTokens = 0,
    requests: Requests = None,
    speed: SpeedParam = None,
    service_tier: ServiceTierParam = None,
    inference_geo: InferenceGeoParam = None,
) -> Estimate:
    """Price a hypothetical model call, with cheaper models of the same provider beside it.

    Answers "what would this call cost?" at today's rates (your price overrides, then genai-prices).
    Not for what was spent: use get_spend. Cache writes are priced apart (5-minute, 1-hour) and
    long-context rates apply per call (see `requests`). An unknown model is an error naming the
    closest known ids.

    Example: estimate_cost(model="claude-sonnet-4-5", input_tokens=120000, output_tokens=4000)
    """
    state = _state(ctx)
    tokens = Tokens(
        input=input_tokens,
        output=output_tokens,
        cache_read=cache_read_tokens,
        cache_write_5m=cache_write_tokens,
        cache_write_1h=cache_write_1h_tokens,
    )
    return await _run(
        estimate.estimate_cost,
        state.pricer,
        tokens,
        model,
        provider,
        requests,
        speed=speed,
        service_tier=service_tier,
        inference_geo=inference_geo,
    )


@mcp.tool(title="Ingest Claude Code logs", annotations=DESTRUCTIVE)
async def ingest_claude_code_logs(
    ctx: Context[AppState],
    paths: LogPaths = None,
    full_rescan: Annotated[
        bool, Field(description="Read every file from the start again (totals do not change; slower).")
    ] = False,
    forget: ForgetPaths = None,
) -> IngestResult:
    """Read new lines of Claude Code's JSONL logs into the ledger: counts of files, calls,
    duplicates and skipped lines by reason.

    Rarely needed: every query reads new lines first. Use it for other folders inside the configured
    Claude folders (`paths`), with full_rescan=true after changing price overrides, or with `forget`
    to remove the calls read from files under those paths. Reports progress.

    Example: ingest_claude_code_logs(paths=["~/.claude"])
    Example: ingest_claude_code_logs(forget=["/home/me/old-claude-backup"])
    """
    state = _state(ctx)

    def progress(done: int, total: int, message: str) -> None:
        anyio.from_thread.run(functools.partial(ctx.report_progress, done, total, message))

    if forget and paths:
        raise ToolError("give either `paths` (to read) or `forget` (to remove), not both in one call")

    def work() -> IngestResult:
        with state.ledger.use() as conn:
            if forget:
                return IngestResult.of(
                    claude_code.forget(conn, state.settings, state.pricer, forget, confined=True)
                )
            result = claude_code.ingest(
                conn,
                state.settings,
                state.pricer,
                paths=paths,
                full=full_rescan,
                progress=progress,
                confined=True,
            )
            sync.fire_alerts(conn, state.settings)
            return IngestResult.of(result)

    return await _run(work)


AGENT_NAMES = ", ".join(
    name + (" (default)" if name == cc_views.CLAUDE_CODE else "") for name in cc_views.agent_sources()
)
"""The agents session_usage and usage_blocks answer for, as their `agent` argument takes them: listing
two of them, a Codex or OpenCode user's assistant was not told its own agent could be asked for.
Unquoted and spelled out once (usage_blocks points to it): it grows with each agent read, under
tools/list's cap."""


@mcp.tool(title="Coding-agent session usage", annotations=READ_ONLY)
async def session_usage(
    ctx: Context[AppState],
    session_id: SessionId = None,
    agent: Annotated[str | None, Field(description=f"Whose sessions: {AGENT_NAMES}.")] = None,
) -> SessionUsage:
    """What a coding agent's session has cost so far: cost, tokens by kind, per model, duration, burn rate.

    Default: Claude Code's latest session in this server's project, else anywhere; with no Claude
    Code usage, any agent's latest. Costs are estimates from the local logs (tokens x list price);
    Claude Code's output tokens are a lower bound (see warnings). For billed totals use get_spend.

    Example: session_usage()
    """
    return await _query(ctx, cc_views.session_usage, session_id, os.getcwd(), agent)


@mcp.tool(title="5-hour usage blocks", annotations=READ_ONLY)
async def usage_blocks(
    ctx: Context[AppState],
    days: Annotated[int, Field(ge=1, le=31, description="How many days back to show blocks for.")] = 3,
    token_limit: Annotated[
        int | Literal["max"] | None,
        Field(description="Tokens to compare the active block with; 'max': the largest completed block."),
    ] = None,
    agent: Annotated[
        str, Field(description="Whose usage: any agent session_usage's agent names.")
    ] = "claude-code",
    limit: NewestLimit = None,
    cursor: RowCursor = None,
) -> UsageBlocks:
    """A coding agent's 5-hour usage windows (Claude Code's by default): the active block, its burn
    rate and where it is heading.

    Answers "will I hit the limit in this 5-hour window?". A block starts at the hour of its first
    call and lasts 5 hours; the active one is projected to its end and compared with `token_limit`.
    Newest `limit` blocks (default 25); cursor=next_cursor gives older ones.

    Example: usage_blocks(days=1, token_limit="max")
    """

    def answer(conn: Conn, settings: Settings) -> UsageBlocks:
        # Not token_limit: it compares the active block, it does not choose the blocks listed.
        asked = rows.question_digest("usage_blocks", days, agent)
        window = rows.Window.of(limit, cursor, asked)
        return cc_views.usage_blocks(
            conn, settings, days=days, token_limit=token_limit, agent=agent, window=window
        )

    return await _query(ctx, answer)


@mcp.tool(title="Spend in a period", annotations=READ_ONLY)
async def get_spend(
    ctx: Context[AppState],
    period: PeriodName = None,
    start: StartDate = None,
    end: EndDate = None,
    group_by: GroupBy = [],  # noqa: B006 - pydantic copies defaults; [] reads best in the schema
    timezone: TimezoneName = None,
    providers: FilterValues = None,
    models: FilterValues = None,
    projects: FilterValues = None,
    agents: FilterValues = None,
    sessions: FilterValues = None,
    members: FilterValues = None,
    sources: FilterValues = None,
    basis: FilterValues = None,
    limit: RowLimit = None,
    cursor: RowCursor = None,
) -> SpendResult:
    """What was spent on AI in a period, in total and broken down, each dollar counted once.

    Answers "what did I spend this week?", "spend per provider last month". Each row has one basis:
    billed (provider APIs, the truth where synced), estimated (tokens x list price) or subscription
    (seats registered by hand). Rows sum to total_usd; estimates for days billed data covers are
    listed under attribution, not added. sources[] says how fresh each source is and which days it
    covers. Pass on what `warnings` say; complete=false: the numbers are partial (the first warning
    says why). Filters keep exact matches (a project also by folder name). Sources: claude_code,
    record_usage, <provider>-costs, <provider>-usage, subscription. Defaults: this_month, total
    only. Per model with trends: model_breakdown.
    At most `limit` rows (default 25, largest first), the rest in '(other)' rows; then
    truncated=true and cursor=next_cursor gives the next rows.

    Example: get_spend(period="this_week", group_by=["provider", "day"])
    Example: get_spend(period="last_30_days", group_by=["session"], limit=50)
    """
    filters = spend.Filters(
        providers=providers,
        models=models,
        projects=projects,
        agents=agents,
        sessions=sessions,
        members=members,
        sources=sources,
        basis=basis,
    )

    caller = current_caller()
    member = None if caller is None or caller.is_admin else caller.member

    asked = rows.question_digest("get_spend", period, start, end, group_by, timezone, filters)

    def answer(conn: Conn, settings: Settings) -> SpendResult:
        p = spend.resolve(settings, period, start, end, timezone)
        # Fired budget alerts are shown once, to whoever asks first: an admin, not a member.
        result = spend.get_spend(
            conn,
            settings,
            p,
            group_by,
            filters,
            window=rows.Window.of(limit, cursor, asked),
            take_alerts=member is None,
            member=member,
        )
        if member is not None:
            result.warnings.append(spend.team_total_note(conn, settings, p, member, filters))
        return result

    return await _query(ctx, answer)


@mcp.tool(title="Spend per model", annotations=READ_ONLY)
async def model_breakdown(
    ctx: Context[AppState],
    period: PeriodName = None,
    start: StartDate = None,
    end: EndDate = None,
    timezone: TimezoneName = None,
    top_n: Annotated[int, Field(ge=1, le=100, description="Models to list; the rest become '(other)'.")] = 10,
    providers: FilterValues = None,
    projects: FilterValues = None,
    agents: FilterValues = None,
    cursor: RowCursor = None,
) -> ModelBreakdown:
    """Which models cost the most in a period: requests, tokens, cost, share, cost per request, trend.

    trend_percent: against as many days before (in progress: its days so far). Counts and
    filters follow get_spend's rules; billed rows may lack token counts. Defaults: this_month, top 10.
    truncated=true: more models are in "(other)"; cursor=next_cursor lists them.

    Example: model_breakdown(period="last_30_days", top_n=5)
    """
    filters = spend.Filters(providers=providers, projects=projects, agents=agents)

    def answer(conn: Conn, settings: Settings) -> ModelBreakdown:
        p = spend.resolve(settings, period, start, end, timezone)
        asked = rows.question_digest("model_breakdown", period, start, end, timezone, filters)
        window = rows.Window.of(top_n, cursor, asked)
        return breakdown.model_breakdown(conn, settings, p, top_n, filters, window=window)

    return await _query(ctx, answer)


@mcp.tool(title="Where to save", annotations=READ_ONLY)
async def savings_report(
    ctx: Context[AppState],
    period: PeriodName = None,
    start: StartDate = None,
    end: EndDate = None,
    group_by: SavingsGroupBy = None,
    timezone: TimezoneName = None,
) -> SavingsReport:
    """Where recorded calls (Claude Code logs, record_usage) would have cost less at list price:
    model mix, prompt caching, batch. Price only: quality is not measured.

    Model mix moves short-answer calls to cheaper models of their provider (and COST_MCP_SUBSTITUTES);
    caching weighs cache writes against reads, re-sent uncached prefixes and needless 1-hour writes;
    batch finds non-interactive agents at the 50% rate. Each finding has its dollars, assumptions and
    top sessions. Findings overlap: do not add them. Default: this_month.

    Example: savings_report(period="last_week")
    """
    state = _state(ctx)

    def answer(conn: Conn, settings: Settings) -> SavingsReport:
        p = spend.resolve(settings, period, start, end, timezone)
        return savings.savings_report(conn, settings, state.pricer, p, savings.check_dims(group_by))

    return await _query(ctx, answer)


@mcp.tool(title="Compare two periods", annotations=READ_ONLY)
async def compare_periods(
    ctx: Context[AppState],
    before: PeriodSpec = None,
    after: PeriodSpec = None,
    group_by: CompareGroupBy = None,
    timezone: TimezoneName = None,
) -> Comparison:
    """Two periods side by side (spend, calls, cost per call and per million tokens, model mix,
    cache share), the change split into volume, mix, tokens per call, caching and price.

    Answers "did switching to Haiku save money?": the parts sum exactly to the change. Defaults:
    after = last_week, before = as many days just before it; rows per model unless group_by.

    Example: compare_periods(before="2026-10", after="2026-11", group_by=["agent"])
    """
    state = _state(ctx)

    def answer(conn: Conn, settings: Settings) -> Comparison:
        tz = parse_zone(timezone, settings.tz)
        earlier, later, notes = periods_to_compare(before, after, tz=tz, week_start=settings.week_start)
        dims = savings.check_dims(group_by, "a comparison")
        return savings.compare_periods(conn, settings, state.pricer, earlier, later, dims, notes)

    return await _query(ctx, answer)


def _with_providers(doc: str | None) -> str:
    """A tool docstring with the registry's providers filled in (``{billed}``, ``{estimated}``,
    ``{keys}``), so the description lists exactly the providers there are."""
    return inspect.cleandoc(doc or "").format(
        billed=registry.provider_names(basis="billed"),
        estimated=registry.provider_names(basis="estimated"),
        keys=", ".join(p.key_env for p in registry.providers()),
    )


async def sync_providers(
    ctx: Context[AppState], providers: SyncProviders = None, days: SyncDays = None
) -> SyncResult:
    """Fetch billed costs and usage from provider APIs now: {billed} (billed) and {estimated}
    (usage, estimated).

    Per source: days and rows synced, billed total, a note, the error if it failed (earlier data is
    kept). Rarely needed (queries sync sources older than 15 min): to force a refresh or, with `days`,
    to backfill. Needs one of {keys} (`cost-mcp doctor` says what else). Reports progress.

    Example: sync_providers(providers=["anthropic"], days=62)
    """
    state = _state(ctx)

    def plan() -> list[sync.Plan]:
        with state.ledger.use() as conn:
            return sync.plan_sync(conn, state.settings, providers, days)

    plans = await _run(plan)
    done = 0

    async def progress(outcome: sync.Outcome) -> None:
        nonlocal done
        done += 1
        status = "synced" if outcome.error is None else "failed"
        await ctx.report_progress(done, len(plans), f"{outcome.plan.source.id} {status}")

    # The network part runs without holding the ledger, so other tools keep answering meanwhile.
    outcomes = await sync.fetch_sources(
        plans,
        state.settings,
        state.pricer,
        budget=sync.EXPLICIT_BUDGET_SECONDS,
        on_done=progress,
        explicit=True,
    )

    def write() -> SyncResult:
        with state.ledger.use() as conn:
            result = sync.record(conn, outcomes)
            sync.fire_alerts(conn, state.settings)
            return result

    return await _run(write)


mcp.tool(
    title="Sync provider billing",
    annotations=PROVIDER_SYNC,
    description=_with_providers(sync_providers.__doc__),
)(sync_providers)


@mcp.resource("cost://summary", name="summary", title="AI spend at a glance", mime_type="text/plain")
async def cost_summary() -> str:
    """Today, this week and this month, with the top models of the month."""
    state = _live[-1]

    await _catch_up(state)

    def work() -> str:
        with state.ledger.use() as conn:
            logs: Literal["budget", "skip"] = "skip" if state.reader.running else "budget"
            read, skipped = sync.refresh_or_skip(
                conn, state.settings, state.pricer, logs=logs, watcher=state.watcher
            )
            if read is not None:
                state.reader.continue_after(read)
            progress = state.reader.progress()
            summary = breakdown.summary_text(conn, state.settings, logs_read=progress.complete)
            text = "\n".join([summary, *skipped])
            return text if progress.complete else f"{progress.warning()}\n{text}"

    return await _run(work)


PROMPT_CALLS: dict[str, frozenset[str]] = {}
"""The tools each prompt tells the model to call: prompts/list offers a token only the prompts
whose every tool it may call (:func:`cost_mcp.access.prompt_refusal`)."""


def _prompt(title: str, calls: Iterable[str]) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Register a prompt with the tools its text calls, so that it is offered as they are."""

    def register(fn: Callable[..., str]) -> Callable[..., str]:
        PROMPT_CALLS[fn.__name__] = frozenset(calls)
        return mcp.prompt(title=title)(fn)

    return register


@_prompt("Weekly cost review", calls=("get_spend", "model_breakdown", "savings_report", "compare_periods"))
def weekly_cost_review(focus: str | None = None) -> str:
    """A review of last week's AI spend: what changed, what drove it, what to do about it."""
    extra = f" Pay particular attention to: {focus}." if focus else ""
    return (
        'Review my AI spend for last week. Call get_spend(period="last_week", group_by=["provider", '
        '"basis"]) and get_spend(period="last_week", group_by=["day"]), then '
        'model_breakdown(period="last_week", top_n=5). Report the total and how much of it is billed '
        "versus estimated, the most expensive day and model, and the trend against the week before. "
        "Mention any warnings (unpriced models, stale sources). Then call "
        'savings_report(period="last_week") and compare_periods(after="last_week"): give the change '
        "against the week before split into its parts (volume, mix, tokens per call, caching, price), "
        "and each finding (model mix, caching, batch) with its dollars, the assumption it rests on and "
        "its top session; say that only price is measured, not quality. End with up to three concrete "
        f"ways to spend less, largest saving first.{extra}"
    )


@mcp.tool(title="Set a budget", annotations=LOCAL_WRITE)
async def set_budget(
    ctx: Context[AppState],
    name: BudgetName,
    amount_usd: AmountUSD,
    period: Annotated[BudgetPeriod, Field(description="Calendar day, week or month (configured timezone).")],
    providers: ScopeValues = None,
    models: ScopeValues = None,
    agents: ScopeValues = None,
    projects: ScopeValues = None,
    sources: ScopeValues = None,
    basis: BudgetBasis = None,
    members: ScopeValues = None,
    thresholds: Thresholds = None,
    hard: Annotated[bool, Field(description="Refuse calls in check_budget that would exceed it.")] = False,
    webhook: Annotated[
        str | None,
        Field(
            max_length=64,
            description="A webhook configured in COST_MCP_WEBHOOKS to POST alerts to, by name; a URL is "
            "refused.",
        ),
    ] = None,
) -> BudgetSet:
    """Create or replace a calendar day, week or month spending limit, optionally scoped.

    Alerts fire once per period at each threshold and come in the next result's alerts[], and to a
    webhook the user configured (by name); a hard one makes check_budget refuse calls that would go
    over. A scope counts only spend with one of its values (get_spend's names; members: emails or
    team:NAME).

    Example: set_budget(name="agents-daily", amount_usd=5, period="day", agents=["researcher"], hard=true,
    webhook="ops")
    """
    emails, teams = budgets.members_and_teams(members or [])
    scope = BudgetScope(
        providers=providers or [],
        models=models or [],
        agents=agents or [],
        projects=projects or [],
        sources=sources or [],
        basis=basis or [],
        members=emails,
        teams=teams,
    )

    def work(conn: Conn, state: AppState) -> BudgetSet:
        before = budgets.find_budget(conn, name, state.settings)
        made = budgets.set_budget(
            conn, name, amount_usd, period, scope, thresholds, hard, webhook=webhook, settings=state.settings
        )
        replaced = budgets.replaced_note(before, made, cli=False)
        warnings = ([replaced] if replaced else []) + budgets.scope_warnings(conn, made)
        return BudgetSet(**made.model_dump(), warnings=warnings)

    return await _local(ctx, work)


@mcp.tool(
    title="Delete a budget",
    annotations=DESTRUCTIVE,
)
async def delete_budget(ctx: Context[AppState], name: ExistingName) -> DeleteResult:
    """Delete a budget and its alert history. Errors name the budgets that exist.

    Example: delete_budget(name="agents-daily")
    """

    def work(conn: Conn, _state: AppState) -> DeleteResult:
        budgets.delete_budget(conn, name)
        return DeleteResult(deleted=name)

    return await _local(ctx, work)


@mcp.tool(title="Budget status", annotations=READ_ONLY)
async def budget_status(
    ctx: Context[AppState],
    name: Annotated[str | None, Field(max_length=64, description="One budget; omit for all.")] = None,
) -> BudgetStatusResult:
    """Where each budget stands in its current period: spent, remaining, percent, projection, status.

    status: ok, warning (a threshold below 100% passed), forecast_exceeded (heading over) or
    exceeded. Before one call use check_budget.

    Example: budget_status()
    """
    caller = current_caller()
    member = None if caller is None or caller.is_admin else caller.member
    return await _query(ctx, budgets.budget_status, name, member=member, take_alerts=member is None)


@mcp.tool(title="Check a call against budgets", annotations=READ_ONLY)
async def check_budget(
    ctx: Context[AppState],
    estimated_cost_usd: EstimatedCostUSD = None,
    model: Annotated[str | None, Field(max_length=200, description="Model, to price the call.")] = None,
    provider: ProviderName = None,
    input_tokens: Annotated[
        int, Field(ge=0, le=MAX_TOKENS, description="Expected uncached input tokens.")
    ] = 0,
    output_tokens: Annotated[int, Field(ge=0, le=MAX_TOKENS, description="Expected output tokens.")] = 0,
    cache_read_tokens: CacheReadTokens = 0,
    agent: OptionalAgent = None,
    project: OptionalProject = None,
) -> CheckResult:
    """Before an expensive call: may it go ahead under every budget that applies to it?

    Give estimated_cost_usd, or model and token counts to have it priced, and your agent and
    project so scoped budgets apply. allowed is false when a hard budget would be exceeded (or could
    be, while logs are still being read); reason says why in one line. No network.

    Example: check_budget(model="claude-opus-4-1", input_tokens=150000, output_tokens=8000,
    agent="researcher")
    """
    tokens = (
        Tokens(input=input_tokens, output=output_tokens, cache_read=cache_read_tokens)
        if model is not None
        else None
    )
    caller = current_caller()

    def work(conn: Conn, state: AppState) -> CheckResult:
        progress = state.reader.progress()
        return agents_api.check(
            conn,
            state.settings,
            state.pricer,
            estimated_cost_usd=estimated_cost_usd,
            model=model,
            provider=provider,
            tokens=tokens,
            agent=agent,
            project=project,
            unread=None if progress.complete else catchup.unread(progress, state.pricer),
            member=caller.member if caller else None,
            member_view=caller is not None and not caller.is_admin,
        )

    result = await _local(ctx, work)
    if not result.allowed and result.reading is not None:
        # Refused only because logs are still being read? Wait for them (the refresh budget), then
        # decide again: allowed, or refused with the reason.
        await _catch_up(_state(ctx), full_budget=True)
        result = await _local(ctx, work)
    return result


# No tool removes a reported call: a model that could erase spend could hide its own cost from the
# budget it is checked against. The user does, at the CLI (`cost-mcp reported forget`). The
# docstring does not say so: the tool list has no room left under its 30,000-character bound.
@mcp.tool(title="Record a model call", annotations=LOCAL_WRITE)
async def record_usage(
    ctx: Context[AppState],
    provider: Annotated[str, Field(min_length=1, max_length=50, description="openai, anthropic, groq...")],
    model: ModelName,
    input_tokens: InputTokens,
    output_tokens: OutputTokens,
    agent: AgentName,
    cache_read_tokens: CacheReadTokens = 0,
    cache_write_tokens: CacheWriteTokens = 0,
    cache_write_1h_tokens: CacheWrite1hTokens = 0,
    session: Annotated[str | None, Field(max_length=200, description="Your session or run id.")] = None,
    project: OptionalProject = None,
    request_id: Annotated[
        str | None,
        Field(max_length=200, description="The provider's request id; recording it twice adds nothing."),
    ] = None,
    timestamp: Annotated[
        datetime | None, Field(description="When the call was made (ISO 8601 with offset); default now.")
    ] = None,
    speed: SpeedParam = None,
    service_tier: ServiceTierParam = None,
    inference_geo: InferenceGeoParam = None,
) -> RecordResult:
    """After a call: report what it used, so spend breaks down per agent, session and project.

    Priced at list price like logged calls; idempotent on request_id, so retries are safe. An
    unknown model is stored unpriced with a warning. The result shows the budgets this call counts
    against and any alert it triggered.

    Example: record_usage(provider="anthropic", model="claude-sonnet-4-5", input_tokens=1200,
    output_tokens=350, agent="researcher", request_id="req_011CX")
    """
    tokens = Tokens(
        input=input_tokens,
        output=output_tokens,
        cache_read=cache_read_tokens,
        cache_write_5m=cache_write_tokens,
        cache_write_1h=cache_write_1h_tokens,
    )

    state = _state(ctx)
    await _catch_up(state)
    caller = current_caller()

    def work() -> RecordResult:
        with state.ledger.use() as conn:
            progress = state.reader.progress()
            return _labelled(conn, state.settings, _record(conn), progress)

    def _record(conn: Conn) -> RecordResult:
        return agents_api.record_usage(
            conn,
            state.settings,
            state.pricer,
            provider=provider,
            model=model,
            tokens=tokens,
            agent=agent,
            session=session,
            project=project,
            request_id=request_id,
            timestamp=timestamp,
            speed=speed,
            service_tier=service_tier,
            inference_geo=inference_geo,
            member=caller.member if caller else None,
            # Fired alerts are every budget's, shown once: to an admin, as get_spend's, not a member.
            take_alerts=caller is None or caller.is_admin,
        )

    return await _run(work)


@mcp.tool(title="Spend forecast", annotations=READ_ONLY)
async def spend_forecast(
    ctx: Context[AppState],
    period: PeriodName = None,
    start: StartDate = None,
    end: EndDate = None,
    timezone: TimezoneName = None,
) -> Forecast:
    """Where spend is heading: burn rate, end-of-period projection, and days that stood out.

    The projection adds the trailing 7-day rate for the days left. Anomalies are days above twice
    the median of the 14 days before (given 7 days of history and $1 spent), with their top models
    and agents. Default: this_month.

    Example: spend_forecast(period="this_month")
    """

    def answer(conn: Conn, settings: Settings) -> Forecast:
        p = spend.resolve(settings, period, start, end, timezone)
        return forecast.spend_forecast(conn, settings, p)

    return await _query(ctx, answer)


@mcp.tool(title="Register a subscription", annotations=LOCAL_WRITE)
async def set_subscription(
    ctx: Context[AppState],
    name: BudgetName,
    vendor: VendorName,
    amount_usd: AmountUSD,
    period: Annotated[SubscriptionPeriod, Field(description="How often it is billed.")],
    start: Annotated[
        str, Field(max_length=10, description="First day billed, YYYY-MM-DD.", json_schema_extra=DAY_FORMAT)
    ],
    end: Annotated[
        str | None,
        Field(
            max_length=10,
            description="Last day counted (YYYY-MM-DD); omit if still running.",
            json_schema_extra=DAY_FORMAT,
        ),
    ] = None,
    member: OptionalMember = None,
) -> SubscriptionSet:
    """Register a fixed fee with no API (Claude Max, ChatGPT Plus, Cursor Pro...).

    The fee is spread evenly over the days of each billing period from `start` and counts in
    get_spend with basis "subscription". Setting an existing name replaces it.

    Example: set_subscription(name="claude-max-ana", vendor="anthropic", amount_usd=200, period="monthly",
    start="2026-01-15", member="ana@example.com")
    """

    def work(conn: Conn, state: AppState) -> SubscriptionSet:
        today = datetime.now(state.settings.tz).date()
        return subscriptions.set_subscription(
            conn, name, vendor, amount_usd, period, start, end, member, today=today
        )

    return await _local(ctx, work)


@mcp.tool(
    title="Delete a subscription",
    annotations=DESTRUCTIVE,
)
async def delete_subscription(ctx: Context[AppState], name: ExistingName) -> DeleteResult:
    """Remove a subscription from every report, past and future (set an end date to stop it instead).

    Example: delete_subscription(name="claude-max-ana")
    """

    def work(conn: Conn, state: AppState) -> DeleteResult:
        # Today in the configured timezone, as reports count the fees it takes from them.
        today = datetime.now(state.settings.tz).date()
        warnings = subscriptions.delete_subscription(conn, name, today=today)
        return DeleteResult(deleted=name, warnings=warnings)

    return await _local(ctx, work)


@mcp.tool(title="Plan limits over time", annotations=READ_ONLY)
async def plan_limits(
    ctx: Context[AppState],
    days: Annotated[int, Field(ge=1, le=90, description="How many days of readings to show.")] = 7,
    limit: NewestLimit = None,
    cursor: RowCursor = None,
) -> PlanLimits:
    """How fast the Claude Pro/Max plan limits (5-hour and 7-day windows) are being approached.

    Per window: latest percentage, reset time, points per hour and when it would reach 100%, from
    readings of `cost-mcp statusline`. For dollars use get_spend or usage_blocks.
    Newest `limit` readings per window (the pace uses all); cursor=next_cursor gives older ones.

    Example: plan_limits(days=1)
    """

    def work(conn: Conn, _state: AppState) -> PlanLimits:
        from cost_mcp.analytics.plan_limits import plan_limits as limits

        window = rows.Window.of(limit, cursor, rows.question_digest("plan_limits", days))
        return limits(conn, days=days, window=window)

    return await _local(ctx, work)


# Every result model built while this module is imported, on one thread, before any tool answers
# (models.py leaves them to their first use, for the CLI's start); and, for the HTTP server, before
# its start-up heap is frozen.
build_all()


def run_stdio() -> None:
    """Serve MCP on stdin/stdout until the client disconnects."""
    mcp.run()
