"""Log lines skipped while reading, per file and reason (table ``skipped_lines``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from cost_mcp.store.connection import Conn

NOT_A_PROBLEM = frozenset({"synthetic"})
"""Reasons that are expected in healthy logs (Claude Code's own placeholder messages)."""


def record(conn: Conn, restarted: Iterable[str], counts: Mapping[tuple[str, str], int]) -> None:
    """Add skipped-line counts per (path, reason), after forgetting those of files read again from
    the start. Runs inside the caller's write transaction."""
    conn.executemany("DELETE FROM skipped_lines WHERE path = ?", ((p,) for p in restarted))
    conn.executemany(
        """
        INSERT INTO skipped_lines (path, reason, lines) VALUES (?, ?, ?)
        ON CONFLICT (path, reason) DO UPDATE SET lines = skipped_lines.lines + excluded.lines
        """,
        ((path, reason, n) for (path, reason), n in counts.items() if n),
    )


def by_file(conn: Conn, limit: int = 20) -> list[tuple[str, dict[str, int]]]:
    """The files with the most skipped lines (problems only), each with its counts by reason."""
    skip = tuple(NOT_A_PROBLEM)
    rows = conn.execute(
        f"""
        SELECT path, reason, lines FROM skipped_lines
        WHERE reason NOT IN ({", ".join("?" * len(skip))}) AND path IN (
            SELECT path FROM skipped_lines WHERE reason NOT IN ({", ".join("?" * len(skip))})
            GROUP BY path ORDER BY SUM(lines) DESC, path LIMIT ?)
        ORDER BY path, reason
        """,
        (*skip, *skip, limit),
    ).fetchall()
    files: dict[str, dict[str, int]] = {}
    for path, reason, lines in rows:
        files.setdefault(str(path), {})[str(reason)] = int(lines)
    return sorted(files.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))


def warning(conn: Conn) -> str | None:
    """One line for results: how many log lines were skipped, in how many files, and why."""
    skip = tuple(NOT_A_PROBLEM)
    rows = conn.execute(
        f"""
        SELECT reason, SUM(lines), COUNT(DISTINCT path) FROM skipped_lines
        WHERE reason NOT IN ({", ".join("?" * len(skip))}) GROUP BY reason ORDER BY reason
        """,
        skip,
    ).fetchall()
    if not rows:
        return None
    reasons: Counter[str] = Counter({str(r): int(n) for r, n, _ in rows})
    files = conn.execute(
        f"SELECT COUNT(DISTINCT path) FROM skipped_lines WHERE reason NOT IN ({', '.join('?' * len(skip))})",
        skip,
    ).fetchone()[0]
    detail = ", ".join(f"{reason} {n:,}" for reason, n in sorted(reasons.items()))
    return (
        f"{sum(reasons.values()):,} Claude Code log line(s) in {files:,} file(s) were skipped and are not "
        f"counted ({detail}); `cost-mcp doctor` lists the files"
    )
