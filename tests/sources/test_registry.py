"""The provider registry: what is derived from it, and adding a provider as one module plus one entry."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import click
import pytest

from cost_mcp import sync
from cost_mcp.cli.data import sync as sync_command
from cost_mcp.config import load_settings
from cost_mcp.doctor import diagnose
from cost_mcp.pricing import Pricer
from cost_mcp.server import _with_providers, sync_providers
from cost_mcp.sources import registry
from cost_mcp.sources.billing import Feed, Window
from cost_mcp.sources.http import ProviderClient
from cost_mcp.sources.provider import Provider, Setting, SourceFetch

README = Path(__file__).resolve().parents[2] / "README.md"


def _block() -> str:
    match = re.search(
        r"<!-- providers -->\n(.*?)\n<!-- /providers -->", README.read_text(encoding="utf-8"), re.S
    )
    assert match, "README.md lost its <!-- providers --> block"
    return match.group(1)


def test_readme_provider_table_is_the_generated_one() -> None:
    assert _block() == registry.readme_table()


async def _tiny_fetch(client: ProviderClient, _pricer: Pricer, window: Window) -> list[Feed]:
    body = await client.get_json("/v1/spend")
    assert body == {"ok": True}
    return [Feed("tiny", "cost", window.start_ms, window.end_ms, ())]


TINY = Provider(
    id="tiny",
    name="Tiny AI",
    key_env="TINY_API_KEY",
    default_base_url="https://api.tiny.example",
    auth=lambda key: {"X-Tiny-Key": key},
    key_hint="a Tiny key from tiny.example/keys",
    sources=(SourceFetch("tiny", _tiny_fetch),),
    basis="billed",
    fetches="spend per day",
    settings=(Setting("TINY_ORG", "the organisation id"),),
    reporting_lag=timedelta(hours=2),
)


@pytest.fixture
def tiny(home: Path, monkeypatch: pytest.MonkeyPatch) -> Provider:
    """A provider defined here, registered by one line: nothing else in the package knows it."""
    monkeypatch.setattr(registry, "PROVIDERS", (*registry.PROVIDERS, TINY))
    return TINY


def test_a_provider_defined_in_a_test_reaches_doctor_sync_cli_tool_and_readme(
    tiny: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINY_API_KEY", "tiny-secret-key-0123456789")
    monkeypatch.setenv("COST_MCP_TINY_BASE_URL", "http://127.0.0.1:9/")
    settings = load_settings()

    [status] = [p for p in diagnose(settings).providers if p.provider == "tiny"]
    assert (status.env_var, status.needs, status.base_url) == (
        "TINY_API_KEY",
        ["TINY_ORG"],
        "http://127.0.0.1:9",
    )
    assert status.configured is False  # TINY_ORG is still missing

    monkeypatch.setenv("TINY_ORG", "org-1")
    settings = load_settings()
    [status] = [p for p in diagnose(settings).providers if p.provider == "tiny"]
    assert status.configured and status.needs == [] and status.masked == "tin…6789 (26 chars)"

    assert "tiny" in sync.syncable()
    assert [s.id for s in sync.sources() if s.provider == "tiny"] == ["tiny"]
    assert sync_command.make_context("sync", ["--provider", "tiny"]).params["providers"] == ["tiny"]
    with pytest.raises(click.BadParameter, match="unknown provider 'nope'"):
        sync_command.make_context("sync", ["--provider", "nope"])
    assert "| Tiny AI (`tiny`) | `TINY_API_KEY`, `TINY_ORG` | key header | spend per day | billed |" in (
        registry.readme_table()
    )
    assert "Tiny AI" in _with_providers(sync_providers.__doc__)
    assert "TINY_API_KEY" in _with_providers(sync_providers.__doc__)

    from cost_mcp.analytics import coverage

    assert coverage.lag("tiny") == timedelta(hours=2)


def test_the_tiny_provider_syncs_through_the_shared_client(
    tiny: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx2

    from cost_mcp.store import connect

    monkeypatch.setenv("TINY_API_KEY", "tiny-secret-key-0123456789")
    monkeypatch.setenv("TINY_ORG", "org-1")
    settings = load_settings()
    seen: list[httpx2.Request] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"ok": True})

    conn = connect(settings.db)
    try:
        result = sync.sync_providers(
            conn, settings, Pricer(), ["tiny"], days=2, transport=httpx2.MockTransport(handle)
        )
    finally:
        conn.close()
    [row] = result.sources
    assert row.ok and row.days == 2
    assert seen[0].headers["x-tiny-key"] == "tiny-secret-key-0123456789"
    assert str(seen[0].url) == "https://api.tiny.example/v1/spend"


def test_the_sync_tool_description_lists_every_registered_provider() -> None:
    text = _with_providers(sync_providers.__doc__)
    for p in registry.providers():
        assert p.name in text and p.key_env in text
