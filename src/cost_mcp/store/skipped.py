"""Log lines skipped while reading, per file and reason (table ``skipped_lines``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from cost_mcp.output import counted
from cost_mcp.store import bulk
from cost_mcp.store.connection import Conn, dialect
from cost_mcp.store.connection import marks as placeholders

NOT_A_PROBLEM = frozenset({"synthetic"})
"""Reasons that are expected in healthy logs (Claude Code's own placeholder messages)."""


COLUMNS = ("path", "reason", "lines")
"""The columns of ``skipped_lines``, in the order :func:`record` writes them."""


def record(conn: Conn, restarted: Iterable[str], counts: Mapping[tuple[str, str], int]) -> None:
    """Add skipped-line counts per (path, reason), after forgetting those of files read again from
    the start. Runs inside the caller's write transaction."""
    forget(conn, restarted)
    bulk.upsert_many(
        conn,
        "skipped_lines",
        COLUMNS,
        [(path, reason, n) for (path, reason), n in counts.items() if n],
        on_conflict="ON CONFLICT (path, reason) DO UPDATE SET lines = skipped_lines.lines + excluded.lines",
        key=("path", "reason"),
    )


def forget(conn: Conn, paths: Iterable[str]) -> None:
    """Forget the skipped-line counts of these files (read no more, or read under another path).
    Inside the caller's write transaction."""
    if dialect(conn) == "postgresql":
        # One statement, not one per file: a first load restarts every file it reads (~550).
        paths = list(paths)
        if paths:
            conn.execute("DELETE FROM skipped_lines WHERE path = ANY(?)", (paths,))
        return
    conn.executemany("DELETE FROM skipped_lines WHERE path = ?", ((p,) for p in paths))


CLAUDE_CODE = "claude_code"
"""The source of a path no other agent's scanner keeps in ``agent_files``: Claude Code's logs."""
_SOURCE_OF_PATH = f"COALESCE((SELECT a.source FROM agent_files a WHERE a.path = s.path), '{CLAUDE_CODE}')"
"""Whose log a skipped line came from: the agent scanner that saved the file, else Claude Code's
reader (they keep their files apart, in ``agent_files`` and ``scanned_files``)."""


def by_file(conn: Conn, limit: int = 20) -> list[tuple[str, str, dict[str, int]]]:
    """The files with the most skipped lines (problems only): path, source (whose log it is, see
    :data:`CLAUDE_CODE`) and counts by reason."""
    skip = tuple(NOT_A_PROBLEM)
    marks = placeholders(skip)
    rows = conn.execute(
        f"""
        SELECT s.path, {_SOURCE_OF_PATH}, s.reason, s.lines FROM skipped_lines s
        WHERE s.reason NOT IN ({marks}) AND s.path IN (
            SELECT path FROM skipped_lines WHERE reason NOT IN ({marks})
            GROUP BY path ORDER BY SUM(lines) DESC, path LIMIT ?)
        ORDER BY s.path, s.reason
        """,
        (*skip, *skip, limit),
    ).fetchall()
    files: dict[str, tuple[str, dict[str, int]]] = {}
    for path, source, reason, lines in rows:
        files.setdefault(str(path), (str(source), {}))[1][str(reason)] = int(lines)
    return sorted(
        ((path, source, reasons) for path, (source, reasons) in files.items()),
        key=lambda f: (-sum(f[2].values()), f[0]),
    )


def warnings(conn: Conn, labels: Mapping[str, str]) -> list[str]:
    """One line per agent for results: how many of its log lines were skipped, in how many files,
    and why. ``labels`` names each source as people write it (``claude_code``: "Claude Code")."""
    skip = tuple(NOT_A_PROBLEM)
    marks = placeholders(skip)
    rows = conn.execute(
        f"""
        SELECT source, reason, SUM(lines) FROM (
            SELECT {_SOURCE_OF_PATH} AS source, s.path AS path, s.reason AS reason, s.lines AS lines
            FROM skipped_lines s WHERE s.reason NOT IN ({marks})
        ) AS bad GROUP BY source, reason ORDER BY source, reason
        """,
        skip,
    ).fetchall()
    if not rows:
        return []
    files = dict(
        conn.execute(
            f"""
            SELECT source, COUNT(DISTINCT path) FROM (
                SELECT {_SOURCE_OF_PATH} AS source, s.path AS path
                FROM skipped_lines s WHERE s.reason NOT IN ({marks})
            ) AS bad GROUP BY source
            """,
            skip,
        ).fetchall()
    )
    reasons: dict[str, Counter[str]] = {}
    for source, reason, n in rows:
        reasons.setdefault(str(source), Counter())[str(reason)] = int(n)
    # Claude Code first (the logs most answers rest on), then the other agents by name.
    order = sorted(reasons, key=lambda source: (source != CLAUDE_CODE, labels.get(source, source)))
    found: list[str] = []
    for source in order:
        counts = reasons[source]
        detail = ", ".join(f"{reason} {n:,}" for reason, n in sorted(counts.items()))
        lines = sum(counts.values())
        were = "was skipped and is" if lines == 1 else "were skipped and are"
        found.append(
            f"{counted(lines, labels.get(source, source) + ' log line')} in "
            f"{counted(int(files[source]), 'file')} {were} not counted ({detail}); "
            "`cost-mcp doctor` lists the files"
        )
    return found
