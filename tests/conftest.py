"""Shared fixtures: every test gets its own ledger, config folder and Claude folder on disk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import stamina
from mcp import Client

from cost_mcp.config import Settings, load_settings, provider_env_names


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_retry_waits() -> Iterator[None]:
    """Retries happen (up to 5 attempts) but never sleep; a test that needs real waits turns this off."""
    with stamina.set_testing(True, attempts=5):
        yield


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated environment: ledger, env file, prices file and Claude folder under tmp_path."""
    for name in provider_env_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COST_MCP_DB", str(tmp_path / "data" / "cost.db"))
    monkeypatch.setenv("COST_MCP_ENV_FILE", str(tmp_path / "config" / "env"))
    monkeypatch.setenv("COST_MCP_PRICES_FILE", str(tmp_path / "config" / "prices.toml"))
    monkeypatch.setenv("COST_MCP_TIMEZONE", "UTC")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    # Other agents' folders: never the real ones of whoever runs the tests.
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    monkeypatch.setenv("GEMINI_DIR", str(tmp_path / "gemini"))
    monkeypatch.setenv("OPENCODE_DATA_DIR", str(tmp_path / "opencode"))
    monkeypatch.setenv("AMP_DATA_DIR", str(tmp_path / "amp"))
    monkeypatch.setenv("COST_MCP_COPILOT_OTEL_DIR", str(tmp_path / "copilot-otel"))
    monkeypatch.delenv("COPILOT_OTEL_FILE_EXPORTER_PATH", raising=False)
    return tmp_path


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings()


@pytest.fixture
async def client(home: Path) -> AsyncIterator[Client]:
    """An in-memory MCP client on the real server, with the real lifespan and a fresh ledger."""
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as c:
        yield c
