"""A push's rows priced per batch (push.price_rows) against Pricer.price per row (issue 14)."""

from __future__ import annotations

from cost_mcp import push
from cost_mcp.periods import ms_to_datetime
from cost_mcp.pricing import Price, Pricer, Tokens
from cost_mcp.push import WireRow
from cost_mcp.store.team import Priced

DAY_MS = 86_400_000
START_MS = 1_764_547_200_000  # 2025-12-01T00:00Z: fixed, so no test depends on today's date


def _rows() -> list[WireRow]:
    out: list[WireRow] = []
    variants = [
        ("claude-sonnet-4-5-20250929", "anthropic", "", "", ""),
        ("claude-opus-4-6", "anthropic", "fast", "", ""),
        ("claude-sonnet-4-5-20250929", "anthropic", "", "batch", ""),
        ("claude-sonnet-4-5-20250929", "anthropic", "", "priority", "us"),
        ("claude-haiku-4-5-20251001", "anthropic", "", "", "us"),
        ("gpt-4o", "openai", "", "", ""),
        ("no-such-model-anywhere", "anthropic", "", "", ""),
        ("<synthetic>", "anthropic", "", "", ""),
    ]
    for i in range(400):
        model, provider, speed, tier, geo = variants[i % len(variants)]
        # Over three UTC days, with inputs above the 200k tier of the long-context prices now and then.
        big = 250_000 if i % 7 == 0 else 0
        out.append(
            WireRow(
                source="claude_code",
                message_id=f"m{i}",
                request_id=f"r{i}",
                ts_ms=START_MS + (i * 3_600_017) % (3 * DAY_MS),
                provider=provider,
                model=model,
                input_tokens=11 * i + big,
                output_tokens=3 * i,
                cache_read_tokens=(i * 977) % 40_000,
                cache_write_5m_tokens=i % 300,
                cache_write_1h_tokens=i % 5,
                web_search_requests=i % 3,
                speed=speed,
                service_tier=tier,
                inference_geo=geo,
            )
        )
    return out


def _one_call(pricer: Pricer, r: WireRow) -> Priced:
    """The row priced alone by :meth:`Pricer.price`, as the laptop's reader priced it."""
    tokens = Tokens(
        input=r.input_tokens,
        output=r.output_tokens,
        cache_read=r.cache_read_tokens,
        cache_write_5m=r.cache_write_5m_tokens,
        cache_write_1h=r.cache_write_1h_tokens,
        web_search_requests=r.web_search_requests,
    )
    priced = pricer.price(
        tokens,
        r.model,
        r.provider,
        ms_to_datetime(r.ts_ms),
        speed=r.speed or None,
        service_tier=r.service_tier or None,
        inference_geo=r.inference_geo or None,
    )
    if isinstance(priced, Price):
        return Priced(priced.total_nanos, priced.model_id, "; ".join(priced.assumptions))
    return Priced(None, None, "")


def test_batch_prices_equal_one_call_at_a_time() -> None:
    pricer = Pricer()
    rows = _rows()
    batch = push.price_rows(pricer, rows)
    one_by_one = [_one_call(pricer, r) for r in rows]
    assert batch == one_by_one
    # The variety this is meant to cover: priced calls with notes, unpriced ones, several days.
    assert any(p.cost_nanos is None for p in batch)
    assert any(p.note for p in batch)
    assert len({r.ts_ms // DAY_MS for r in rows}) == 3
