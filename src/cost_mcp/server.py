"""MCP registration: tools, resources and prompts. No logic lives here.

Each tool is a thin async function: it validates arguments through its type hints, runs the matching
plain function from ``analytics`` (or ``sources``) on a worker thread, and returns its pydantic
result. Anticipated failures (:class:`~cost_mcp.errors.CostMcpError`) become a ``ToolError`` whose
text the model can read and act on.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from cost_mcp import __version__
from cost_mcp.analytics import estimate
from cost_mcp.config import Settings, load_settings
from cost_mcp.errors import CostMcpError
from cost_mcp.models import (
    CacheReadTokens,
    CacheWrite1hTokens,
    CacheWriteTokens,
    Estimate,
    InputTokens,
    ModelName,
    OutputTokens,
    ProviderName,
    Requests,
)
from cost_mcp.pricing import Pricer, Tokens
from cost_mcp.store import Ledger

logger = logging.getLogger("cost_mcp")

P = ParamSpec("P")
T = TypeVar("T")

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


@dataclass
class AppState:
    """What every tool shares for the life of the server process."""

    settings: Settings
    ledger: Ledger
    pricer: Pricer
    problems: list[str]


@asynccontextmanager
async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
    """Open the ledger and load prices once per process."""
    settings = load_settings()
    problems: list[str] = []
    try:
        pricer = Pricer.from_file(settings.prices_file)
    except CostMcpError as exc:
        # A broken override file must not take the server down; results carry the problem instead.
        logger.error("%s", exc)
        problems.append(str(exc))
        pricer = Pricer()
    ledger = await anyio.to_thread.run_sync(Ledger, settings.db)
    logger.info("cost-mcp %s serving, ledger %s", __version__, settings.db)
    try:
        yield AppState(settings=settings, ledger=ledger, pricer=pricer, problems=problems)
    finally:
        ledger.close()


mcp: MCPServer[AppState] = MCPServer(
    "cost-mcp",
    title="AI cost tracker",
    version=__version__,
    instructions=(
        "Answers what AI use costs, to the cent: billed numbers from provider APIs where they exist, "
        "token x price estimates where not, always labelled. Use estimate_cost before an expensive call."
    ),
    lifespan=lifespan,
)


async def _run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a plain (blocking) function on a worker thread, turning anticipated errors into ToolErrors."""
    try:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
    except CostMcpError as exc:
        raise ToolError(str(exc)) from None


def _state(ctx: Context[AppState]) -> AppState:
    return ctx.request_context.lifespan_context


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
) -> Estimate:
    """Price a hypothetical model call before making it, with cheaper models of the same provider.

    Answers "what would this call cost?" and "what would it cost on a cheaper model?". Prices come
    from your price override file, then genai-prices' bundled data, at today's rates. Not for what
    was actually spent: use get_spend for that. Cache writes are priced apart (5-minute vs 1-hour),
    and long-context rates apply per call (see `requests`). Unknown models are an error naming the
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
    return await _run(estimate.estimate_cost, state.pricer, tokens, model, provider, requests)


def run_stdio() -> None:
    """Serve MCP on stdin/stdout until the client disconnects."""
    mcp.run()
