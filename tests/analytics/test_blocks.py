"""The status line's seek-based block (``last_block``) is the last block ``build_blocks`` lays out."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from hypothesis import given
from hypothesis import strategies as st

from cost_mcp.analytics.blocks import HOUR_MS, build_blocks, last_block

LENGTH = 5 * HOUR_MS

# Call times on a 29-hour window, with clusters, repeats and calls exactly one block length apart
# (the edge of "more than that after the block start").
times = st.lists(
    st.one_of(
        st.integers(0, 29 * HOUR_MS),
        st.sampled_from([0, HOUR_MS, LENGTH, LENGTH + 1, 2 * LENGTH, 2 * LENGTH + 1, 6 * HOUR_MS - 1]),
    ),
    max_size=60,
)


@given(times, st.integers(0, 3 * HOUR_MS))
def test_last_block_is_build_blocks_last_block(calls: list[int], since: int) -> None:
    ordered = sorted(calls)
    kept = [t for t in ordered if t >= since]

    def first_call_after(t: int) -> int | None:
        i = bisect_right(ordered, t)
        return ordered[i] if i < len(ordered) and ordered[i] >= since else None

    def last_call_from(t: int) -> int | None:
        return ordered[-1] if ordered and bisect_left(ordered, t) < len(ordered) else None

    laid_out = build_blocks(((t, (), 0, "") for t in kept), LENGTH)
    found = last_block(first_call_after, last_call_from, since, LENGTH)
    if not laid_out:
        assert found is None
        return
    expected = laid_out[-1]
    assert found is not None and not expected.is_gap
    assert (found.start_ms, found.end_ms, found.first_ms, found.last_ms) == (
        expected.start_ms,
        expected.end_ms,
        expected.first_ms,
        expected.last_ms,
    )
    for now in (expected.last_ms, expected.end_ms - 1, expected.end_ms, expected.last_ms + LENGTH):
        assert found.is_active(now) == expected.is_active(now)
