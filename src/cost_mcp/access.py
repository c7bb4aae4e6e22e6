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
"""

from __future__ import annotations

from collections.abc import Mapping
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


MEMBER_TOOLS = frozenset({"get_spend", "budget_status", "check_budget", "estimate_cost", "record_usage"})
"""What a member's token may call; everything else needs an admin token."""


def scope_arguments(tool: str, arguments: Mapping[str, Any], caller: Caller | None) -> dict[str, Any]:
    """The arguments ``tool`` runs with for ``caller``: unchanged for the local server and admins,
    narrowed to the member's own usage for a member. Raises AccessDeniedError when not allowed."""
    args = dict(arguments)
    if caller is None or caller.is_admin:
        return args
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
