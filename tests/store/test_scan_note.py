"""A log check that read nothing does not queue for the write lock just to note the time (issue 14)."""

from __future__ import annotations

from pathlib import Path

from cost_mcp.store import connect
from cost_mcp.store.source_state import all_states, record_scan


def test_a_note_of_nothing_read_is_left_out_while_another_writer_holds_the_ledger(tmp_path: Path) -> None:
    db = tmp_path / "cost.db"
    reader, pusher = connect(db), connect(db)
    try:
        pusher.execute("BEGIN IMMEDIATE")  # a push's transaction, in another process or thread
        record_scan(reader, "claude_code", error=None, detail="no new lines", wait=False)
        assert not reader.in_transaction
        pusher.execute("COMMIT")
        assert all_states(reader) == []  # left out: the next check writes it
        record_scan(reader, "claude_code", error=None, detail="no new lines", wait=False)
        assert [(s.source, s.detail) for s in all_states(reader)] == [("claude_code", "no new lines")]
    finally:
        reader.close()
        pusher.close()
