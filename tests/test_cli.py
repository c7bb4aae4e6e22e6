"""The CLI as a person runs it: a real `cost-mcp` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cost_mcp import __version__


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cost_mcp", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_version() -> None:
    assert run("--version").stdout.strip() == f"cost-mcp {__version__}"


@pytest.mark.usefixtures("home")
def test_doctor_reports_paths_and_masks_keys(home: Path) -> None:
    secret = "sk-admin-CANARY1234567890-abcd"
    proc = run("doctor", "--json", env={"OPENAI_ADMIN_KEY": secret})
    assert proc.returncode == 0, proc.stderr
    assert "CANARY" not in proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["database"] == str(home / "data" / "cost.db")
    assert report["timezone"] == "UTC"
    openai = next(p for p in report["providers"] if p["provider"] == "openai")
    assert openai["configured"] is True and openai["origin"] == "environment"
    assert openai["masked"].endswith("(30 chars)")
    assert report["claude_log_roots"][0]["projects_dir_found"] is True


@pytest.mark.usefixtures("home")
def test_doctor_explains_a_corrupt_database(home: Path) -> None:
    db = home / "data" / "cost.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage" * 1000)
    proc = run("doctor")
    assert proc.returncode == 1
    assert "not a usable SQLite database" in proc.stdout


@pytest.mark.usefixtures("home")
def test_serve_refuses_a_corrupt_database_with_a_message(home: Path) -> None:
    db = home / "data" / "cost.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage" * 1000)
    proc = run("serve")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "not a valid SQLite database" in proc.stderr


@pytest.mark.usefixtures("home")
def test_estimate_json() -> None:
    proc = run("estimate", "claude-sonnet-4-5", "--input", "1000000", "--output", "1000000", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cost_usd"] == 18


@pytest.mark.usefixtures("home")
def test_estimate_unknown_model_exits_2_with_suggestions() -> None:
    proc = run("estimate", "claude-sonet-4-5", "--input", "1")
    assert proc.returncode == 2
    assert "claude-sonnet-4-5" in proc.stderr
