"""Who may call which tool in team mode, and how a member's questions are scoped to them.

No MCP import: ``server.py`` finds the caller (from the bearer token the HTTP app checked) and asks
here. A caller of None is the local, personal server (stdio, or loopback HTTP with no tokens): it
sees everything, as before team mode.

- An admin sees everything and manages budgets, subscriptions, syncs and tokens.
- A member sees their own usage (``get_spend`` is narrowed to ``members=[them]``) and the team's
  total beside it, the budgets and whether a call fits them, and prices, and records their own
  agents' calls (``record_usage``, stored under their name). Every other tool reads
  per-member detail (sessions, models, projects of everyone) or changes shared state: refused with
  a message that says what to use instead.
- An ingest token only sends usage over OTLP, each event under its own ``user.email``: the one
  token a fleet's managed settings put on every laptop, so it must read nothing and change nothing.
  It is refused everywhere else (:attr:`Caller.sends_only`, :func:`send_only_refusal`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cost_mcp.errors import CostMcpError


class AccessDeniedError(CostMcpError):
    """The caller's token does not allow this (a member asking for an admin tool or another
    member's usage)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity a request was made with: always the token's (or the identity provider's), never
    anything the request itself says."""

    member: str
    role: str
    token_name: str

    @property
    def is_admin(self) -> bool:
        """Whether the caller may see and manage everything."""
        return self.role == "admin"

    @property
    def sends_only(self) -> bool:
        """Whether the caller may only send usage over OTLP (an ``ingest`` token) and nothing else.

        Such a token sits in managed settings on every laptop of a fleet: anyone on any of them can
        read it, so it must not read spend, manage anything, or push one laptop's rows (a push is
        one member's, and a shared token would put everyone's under one name)."""
        return self.role == "ingest"

    @property
    def keeps_event_members(self) -> bool:
        """Whether OTLP events this caller sends keep each event's own ``user.email`` as the member.

        A member's token sends that member's usage, whatever the events say (a member cannot put
        their usage on someone else). An admin's (an organisation-wide collector) and an ingest
        token (a fleet's, shared by every laptop) carry many people's events, each its own."""
        return self.is_admin or self.sends_only


MEMBER_TOOLS = frozenset({"get_spend", "budget_status", "check_budget", "estimate_cost", "record_usage"})
"""What a member's token may call; everything else needs an admin token."""


SEND_ONLY_USE = (
    "only sends usage over OpenTelemetry (POST /v1/logs, /v1/metrics, /v1/traces), for a fleet's "
    "managed settings, and reads nothing"
)
"""What an ingest token is for, said in every refusal it gets."""


def send_only_refusal(caller: Caller, what: str, instead: str) -> str:
    """Why ``caller``'s ingest token cannot do ``what``, and ``instead``: what to use. Names the
    token and who answers for it, never the token itself."""
    return (
        f"{what}: the token {caller.token_name!r} ({caller.member}) is an ingest token, which "
        f"{SEND_ONLY_USE}; {instead}"
    )


def may_call(tool: str, caller: Caller | None) -> bool:
    """Whether ``caller`` may call ``tool`` at all (what tools/list offers them)."""
    if caller is None or caller.is_admin:
        return True
    return not caller.sends_only and tool in MEMBER_TOOLS


def prompt_refusal(prompt: str, calls: Iterable[str], caller: Caller | None) -> str | None:
    """Why ``caller`` may not use ``prompt``, which tells the model to call the tools ``calls``;
    None when it may call every one of them (what prompts/list offers them). A prompt that sends a
    member's model to tools that each refuse it is a dead end, as such a tool in tools/list was."""
    refused = sorted(t for t in calls if not may_call(t, caller))
    if caller is None or not refused:
        return None
    if caller.sends_only:
        return send_only_refusal(caller, f"the {prompt} prompt calls tools", "use it with an admin token")
    return (
        f"the {prompt} prompt calls {', '.join(refused)}, which need an admin token; {caller.member}: "
        "use get_spend for your own usage"
    )


def dashboard_refusal(caller: Caller) -> str | None:
    """Why ``caller`` may not open a team server's dashboard, which shows everyone's spend; None
    for an admin. The one decision for a bearer token and for a browser's sign-in alike."""
    if caller.is_admin:
        return None
    if caller.sends_only:
        return send_only_refusal(
            caller, "the dashboard shows everyone's spend", "open it with an admin token"
        )
    return (
        f"the dashboard shows everyone's spend and needs an admin token; {caller.member}: use get_spend "
        "for your own usage"
    )


def scope_arguments(tool: str, arguments: Mapping[str, Any], caller: Caller | None) -> dict[str, Any]:
    """The arguments ``tool`` runs with for ``caller``: unchanged for the local server and admins,
    narrowed to the member's own usage for a member; an ingest token may call none. Raises
    AccessDeniedError when not allowed."""
    args = dict(arguments)
    if caller is None or caller.is_admin:
        return args
    if caller.sends_only:
        raise AccessDeniedError(
            send_only_refusal(
                caller,
                f"{tool} needs a member's or an admin's token",
                "call tools with your own token (`cost-mcp token create NAME --member EMAIL` on the server)",
            )
        )
    if tool not in MEMBER_TOOLS:
        raise AccessDeniedError(
            f"{tool} needs an admin token: a member's token ({caller.member}) may call "
            f"{', '.join(sorted(MEMBER_TOOLS))}. Your own usage: get_spend (grouped as you like)."
        )
    if tool == "get_spend":
        asked = args.get("members")
        if asked and any(str(m).strip().lower() != caller.member for m in asked):
            raise AccessDeniedError(
                f"a member sees only their own usage: members={list(asked)!r} names someone other than "
                f"{caller.member}; leave `members` out (your usage) — the team's total is in the warnings"
            )
        args["members"] = [caller.member]
    return args
