"""The SQL of the coding agents' shared log scanner (``sources/agents/scanner.py``): their usage
events, and how far each of their files has been read (``agent_files``). Portable SQL only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cost_mcp.store.connection import Conn

# Counts inserts and upgrades alike (a changed row either way); an upgrade is rare (Gemini
# re-appends a message once its tokens are known) and still "new usage".
_UPSERT = """
INSERT INTO usage_events (
    source, message_id, request_id, is_sidechain, counted, ts_ms, provider, model, session_id, project,
    agent, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
    web_search_requests, total_tokens, cost_nanos, priced_model, origin
) VALUES (?, ?, '', 0, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (source, message_id, request_id, is_sidechain) DO UPDATE SET
    ts_ms = excluded.ts_ms, provider = excluded.provider, model = excluded.model,
    session_id = excluded.session_id, project = excluded.project, origin = excluded.origin,
    input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
    cache_read_tokens = excluded.cache_read_tokens, cache_write_5m_tokens = excluded.cache_write_5m_tokens,
    cache_write_1h_tokens = excluded.cache_write_1h_tokens,
    web_search_requests = excluded.web_search_requests, total_tokens = excluded.total_tokens,
    cost_nanos = excluded.cost_nanos, priced_model = excluded.priced_model
WHERE excluded.total_tokens > usage_events.total_tokens
   OR (excluded.total_tokens = usage_events.total_tokens
       AND usage_events.origin = 'replay' AND excluded.origin != 'replay')
"""


def upsert_events(conn: Conn, rows: Sequence[Sequence[object]]) -> int:
    """Store agent events, each keeping its best copy; returns how many rows were added or upgraded.

    A row is (source, key, ts_ms, provider, model, session id, project, agent, input, output,
    cache read, cache write 5m, cache write 1h, web search requests, total tokens, cost nanos,
    priced model, origin): the copy with the most tokens wins, then an original over a replay.
    """
    before = conn.total_changes
    conn.executemany(_UPSERT, rows)
    return min(conn.total_changes - before, len(rows))


def save_files(conn: Conn, files: Iterable[Sequence[object]]) -> None:
    """Remember how far each file was read: (path, source, device, inode, size, mtime_ns, offset,
    checkpoint (hex of sources/logfiles.checkpoint, in the ``head`` column), parser state JSON,
    scanned_at)."""
    conn.executemany(
        """
        INSERT INTO agent_files (path, source, device, inode, size, mtime_ns, "offset", head, state,
                                 scanned_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (path) DO UPDATE SET
            source = excluded.source, device = excluded.device, inode = excluded.inode,
            size = excluded.size, mtime_ns = excluded.mtime_ns, "offset" = excluded."offset",
            head = excluded.head, state = excluded.state, scanned_at = excluded.scanned_at
        """,
        files,
    )


def known_files(conn: Conn, source: str) -> dict[str, tuple[int, int, int, int, int, str, str]]:
    """Per path of ``source``: (device, inode, size, mtime_ns, offset, checkpoint hex, parser state JSON)."""
    return {
        str(p): (int(d), int(i), int(s), int(m), int(o), str(h), str(st))
        for p, d, i, s, m, o, h, st in conn.execute(
            'SELECT path, device, inode, size, mtime_ns, "offset", head, state '
            "FROM agent_files WHERE source = ?",
            (source,),
        )
    }
