"""Team-mode commands (issue 14), kept apart so the CLI's own rewrite and these merge in one place:
``token create|list|revoke``, ``team set|list`` and ``push``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cost_mcp.config import Settings

COMMANDS = ("token", "team", "push")


def add_parsers(sub: Any) -> None:
    """Add the team commands to the CLI's subparsers."""
    tok = sub.add_parser("token", help="bearer tokens for the team server (create, list, revoke)")
    tsub = tok.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = tsub.add_parser("create", help="create a token and print it once (the ledger keeps its hash)")
    create.add_argument("name", help="a name for the token, e.g. ana-laptop")
    create.add_argument("--member", required=True, help="the member's email address")
    create.add_argument("--role", choices=("member", "admin"), default="member", help="default: member")
    tsub.add_parser("list", help="every token: name, member, role, created, revoked (never the token)")
    revoke = tsub.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("name")
    team = sub.add_parser("team", help="named groups of members, for team budgets")
    msub = team.add_subparsers(dest="team_command", metavar="ACTION", required=True)
    tset = msub.add_parser("set", help="make a team exactly these members (none: remove it)")
    tset.add_argument("name")
    tset.add_argument("members", nargs="*", metavar="EMAIL")
    msub.add_parser("list", help="every team and its members")
    psh = sub.add_parser("push", help="send usage the team server has not acknowledged yet")
    psh.add_argument("--server", default=None, help="team server URL (default COST_MCP_TEAM_SERVER)")
    psh.add_argument("--token", default=None, help="bearer token (default COST_MCP_TEAM_TOKEN)")


def run(command: str, args: argparse.Namespace, settings: Settings) -> int:
    """Run a team command; CostMcpError propagates to the CLI's handler."""
    from cost_mcp.store import connect
    from cost_mcp.store import team as team_store

    conn = connect(settings.db)
    try:
        if command == "token":
            if args.token_command == "create":
                token = team_store.create_token(conn, args.name, args.member, args.role)
                print(
                    f"token {args.name} for {args.member.strip().lower()} ({args.role}); shown once, keep it "
                    "secret:",
                    file=sys.stderr,
                )
                print(token)
            elif args.token_command == "list":
                for t in team_store.list_tokens(conn):
                    state = f"revoked {t.revoked_at[:19]}" if t.revoked_at else "live"
                    print(f"{t.name}\t{t.member}\t{t.role}\tcreated {t.created_at[:19]}\t{state}")
            else:
                team_store.revoke_token(conn, args.name)
                print(f"token {args.name} revoked", file=sys.stderr)
            return 0
        if command == "team":
            if args.team_command == "set":
                team_store.set_team(conn, args.name, args.members)
            else:
                for name, members in team_store.teams(conn).items():
                    print(f"{name}\t{', '.join(members)}")
            return 0
        from cost_mcp import push

        stats = push.push(conn, settings, server=args.server, token=args.token)
        print(
            f"pushed {stats.sent:,} usage rows in {stats.batches} batch(es), {stats.changed:,} new or grown "
            f"on the server; {stats.pending:,} left",
            file=sys.stderr,
        )
        return 0
    finally:
        conn.close()
