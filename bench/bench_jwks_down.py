"""A team server whose identity provider does not answer: how long its requests wait.

Starts ``cost-mcp serve --http`` with a team token of its own and JWTs configured, their JWKS URL
on a loopback socket that accepts connections and never answers (an identity provider that hangs).
Then sends, all at once, ``--jwts`` requests bearing a JWT and ``--team`` requests bearing the team
token (each to ``/api/budgets``), and reports per kind: the answers' statuses, median and slowest
wall time, how many the client gave up on after ``--client-timeout`` seconds, and how many
connections the server opened to the JWKS URL.

``--src`` runs the server on another ``src/`` (PYTHONPATH), to compare before and after:

    python bench/bench_jwks_down.py --src /tmp/before/src
    python bench/bench_jwks_down.py
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tests.idp
from tests.idp import AUDIENCE, ISSUER, Idp, SilentIdp

from benchlib import http_server, save, server_env, table
from cost_mcp.store import connect
from cost_mcp.store import team as team_store


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jwts", type=int, default=45)
    parser.add_argument("--team", type=int, default=5)
    parser.add_argument("--client-timeout", type=float, default=90.0)
    parser.add_argument("--src", help="the src/ the server runs (default: this checkout's)")
    args = parser.parse_args()

    idp, signer = SilentIdp(), Idp()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "server.db"
        conn = connect(db)
        team_token = team_store.create_token(conn, "ops", "ops@example.com", "admin")
        conn.close()
        extra = {"PYTHONPATH": args.src} if args.src else {}
        env = server_env(
            tmp,
            db,
            COST_MCP_JWT_ISSUER=ISSUER,
            COST_MCP_JWT_AUDIENCE=AUDIENCE,
            COST_MCP_JWT_JWKS_URL=idp.jwks_url,
            **extra,
        )
        started: list[subprocess.Popen[bytes]] = []
        try:
            with http_server(env, "--host", "127.0.0.1") as server:
                started.append(server.process)
                results = _measure(server.base, team_token, signer, args)
        except subprocess.TimeoutExpired:
            # A server whose threads still wait on the JWKS does not stop within 30 s when asked.
            print("the server did not stop within 30 s of SIGTERM; killed", file=sys.stderr)
            started[0].kill()
            started[0].wait()
        fetches = len(idp.accepted)
    idp.close()
    signer.close()
    _report(results, fetches, args)


def _measure(
    base: str, team_token: str, signer: Idp, args: argparse.Namespace
) -> list[tuple[str, str, float]]:
    """Every request sent at once (JWTs first); (bearer kind, answer, wall seconds) of each."""

    def ask(kind: str) -> tuple[str, str, float]:
        bearer = signer.token("ana@example.com") if kind == "jwt" else team_token
        started = time.monotonic()
        try:
            answer = httpx2.get(
                f"{base}/api/budgets",
                headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"},
                timeout=args.client_timeout,
            )
            status = str(answer.status_code)
        except httpx2.TimeoutException:
            status = "client timeout"
        return kind, status, time.monotonic() - started

    kinds = ["jwt"] * args.jwts
    # The team's requests go after the JWTs, as a member's would while the provider hangs.
    kinds += ["team"] * args.team
    with ThreadPoolExecutor(len(kinds)) as pool:
        futures = []
        for kind in kinds:
            futures.append(pool.submit(ask, kind))
            if kind == "jwt" and len(futures) == args.jwts:
                time.sleep(0.5)  # let the JWT requests reach the server first
        return [f.result() for f in futures]


def _report(results: list[tuple[str, str, float]], fetches: int, args: argparse.Namespace) -> None:
    rows = []
    for kind in ("jwt", "team"):
        walls = [w for k, _, w in results if k == kind]
        statuses = Counter(s for k, s, _ in results if k == kind)
        rows.append(
            [
                kind,
                len(walls),
                ", ".join(f"{s} x{n}" for s, n in sorted(statuses.items())),
                f"{statistics.median(walls):.2f}",
                f"{max(walls):.2f}",
            ]
        )
    print(table(["bearer", "requests", "answers", "median s", "slowest s"], rows))
    print(f"connections to the JWKS URL: {fetches}")
    save(
        "jwks_down",
        {
            "src": args.src,
            "results": results,
            "jwks_connections": fetches,
            "client_timeout": args.client_timeout,
        },
    )


if __name__ == "__main__":
    main()
