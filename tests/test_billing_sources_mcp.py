"""Azure OpenAI and Google end to end: fake Entra ID, Cost Management, Google OAuth and BigQuery on
127.0.0.1, reached over real HTTP through the configured origins, synced by the sync_providers tool of
the in-memory MCP client."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from mcp import Client

from tests.sources.fake_providers import (
    AZURE_CLIENT,
    AZURE_SCOPE,
    AZURE_SECRET,
    AZURE_TENANT,
    AZURE_TOKEN,
    FakeAzure,
    Router,
    local_server,
)

pytestmark = pytest.mark.anyio
RES = f"{AZURE_SCOPE}/resourceGroups/ai/providers/Microsoft.CognitiveServices/accounts/prod-openai"


def ago(days: int) -> date:
    return datetime.now(UTC).date() - timedelta(days=days)


@pytest.fixture
def azure(clock: None, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Router]:
    """A fake Azure billing the days before today (on the ``clock`` fixture: a test reading
    ``ago(1)`` after a sync begun at 23:59:59 named the next day, not the bill's)."""
    fake = FakeAzure(
        [
            (ago(2).isoformat(), RES, "gpt-4o Input global Tokens", 1.5, "USD"),
            (ago(2).isoformat(), RES, "gpt-4o Output global Tokens", 0.25, "USD"),
            (ago(1).isoformat(), RES, "gpt-4o Input global Tokens", 2, "USD"),
            (ago(1).isoformat(), RES + "-eu", "gpt-4o Input global Tokens", 9.99, "EUR"),
        ],
        page_size=2,
    )
    router = Router(azure=fake)
    with local_server(router) as url:
        monkeypatch.setenv("AZURE_TENANT_ID", AZURE_TENANT)
        monkeypatch.setenv("AZURE_CLIENT_ID", AZURE_CLIENT)
        monkeypatch.setenv("AZURE_CLIENT_SECRET", AZURE_SECRET)
        monkeypatch.setenv("COST_MCP_AZURE_SCOPE", AZURE_SCOPE)
        monkeypatch.setenv("COST_MCP_AZURE_BASE_URL", url)
        monkeypatch.setenv("COST_MCP_AZURE_TOKEN_URL", url)
        # Whole answers even on a loaded CI machine: a first question's sync of paged fakes can pass
        # the default 5 s budget there and come back (rightly) labelled partial.
        monkeypatch.setenv("COST_MCP_REFRESH_BUDGET_SECONDS", "60")
        yield router


async def test_sync_providers_syncs_azure_and_get_spend_counts_usd_only(azure: Router) -> None:
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "Azure OpenAI" in (tools["sync_providers"].description or "")
        synced = await client.call_tool("sync_providers", {"providers": ["azure"], "days": 5})
        spend = await client.call_tool("get_spend", {"period": "last_7_days", "group_by": ["provider"]})
    data = synced.structured_content
    assert data is not None
    [row] = data["sources"]
    assert row["ok"] is True and row["source"] == "azure"
    assert row["billed_usd"] == 3.75
    day = ago(1).isoformat()
    assert azure.azure.tokens == 1
    assert len(azure.azure.calls(FakeAzure.QUERY)) == 2  # 3 rows of the window, 2 a page
    spent = spend.structured_content
    assert spent is not None
    assert {(r["group"]["provider"], r["basis"]): r["cost_usd"] for r in spent["rows"]} == {
        ("azure", "billed"): 3.75
    }
    [status] = [s for s in spent["sources"] if s["source"] == "azure"]
    assert "EUR 9.99" in status["last_refresh"]
    # The QA case (h-cover F3): the EUR amount was only in last_refresh and the answer said
    # complete: true, as if $3.75 were the whole bill. Now it says what it lacks and what to do.
    assert spent["complete"] is False
    [partial] = [w for w in spent["warnings"] if w.startswith("PARTIAL: azure: its bill has")]
    assert f"EUR 9.99 ({day} to {day}) billed in another currency" in partial
    assert "Count it from the invoice, or set COST_MCP_AZURE_SCOPE" in partial
    assert row["note"] == f"billed in EUR, not in USD totals: EUR 9.99 over 1 day(s) ({day} to {day})"
    async with Client(mcp, raise_exceptions=True) as client:
        before = await client.call_tool("get_spend", {"start": "2020-01-01", "end": "2020-01-31"})
    assert before.structured_content is not None
    assert not any("EUR" in w for w in before.structured_content["warnings"])  # not of those days
    text = str(data) + str(spent)
    assert AZURE_SECRET not in text and AZURE_TOKEN not in text


async def test_a_wrong_secret_fails_the_source_and_names_the_variables(
    azure: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-the-secret-0123456789")
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        synced = await client.call_tool("sync_providers", {"providers": ["azure"]})
    data = synced.structured_content
    assert data is not None
    [row] = data["sources"]
    assert row["ok"] is False and "AZURE_CLIENT_SECRET" in row["error"]
    assert "not-the-secret" not in str(data)


async def test_google_and_azure_sync_together_through_the_tool(
    clock: None, azure: Router, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.sources.fake_providers import GOOGLE_PROJECT, GOOGLE_TABLE, FakeGoogle

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_file = home / "sa.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": GOOGLE_PROJECT,
                "client_email": "r@x.iam.gserviceaccount.com",
                "private_key": pem,
            }
        )
    )
    day = ago(1).isoformat()
    azure.google = FakeGoogle(public, [(day, "app", "Gemini API", "input", "", "EUR", "0.8", "4", "0")])
    base = os.environ["COST_MCP_AZURE_BASE_URL"]
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("COST_MCP_GOOGLE_BILLING_TABLE", GOOGLE_TABLE)
    monkeypatch.setenv("COST_MCP_GOOGLE_BASE_URL", base)
    monkeypatch.setenv("COST_MCP_GOOGLE_TOKEN_URL", base)
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        synced = await client.call_tool("sync_providers", {"days": 3})
        spend = await client.call_tool("get_spend", {"period": "last_7_days", "group_by": ["provider"]})
    data = synced.structured_content
    assert data is not None
    rows = {r["source"]: r for r in data["sources"]}
    assert rows["google"]["ok"] is True and rows["google"]["billed_usd"] == 5.0  # EUR 4 at 0.8 per USD
    assert "billed in EUR: EUR 4" in rows["google"]["note"]
    assert rows["azure"]["ok"] is True
    spent = spend.structured_content
    assert spent is not None
    totals = {r["group"]["provider"]: r["cost_usd"] for r in spent["rows"]}
    assert totals["google"] == 5.0 and totals["azure"] == 3.75
    assert "PRIVATE KEY" not in str(data) + str(spent)
