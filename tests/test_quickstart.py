"""README's Quick start, run as written on a machine with `python3` but no `python` and no venv of ours."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What pip needs to reach an index from this machine (proxies, certificates, a local wheel folder).
PASS_THROUGH = (
    "PIP_",
    "SSL_",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
)


def _quick_start() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- quick-start -->\s*```bash\n(.*?)```\s*<!-- /quick-start -->", text, re.S)
    assert match, "README.md lost its <!-- quick-start --> block"
    return match.group(1).strip()


@pytest.mark.slow
def test_quick_start_works_without_a_python_alias(tmp_path: Path) -> None:
    command = _quick_start()
    assert "python " not in command.replace("python3 ", ""), "a stock Debian has no `python`"

    # A bare PATH: only python3 (the real interpreter, not this test's venv) and a shell.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real_python = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    (bin_dir / "python3").symlink_to(real_python)
    for tool in ("bash", "sh"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    assert shutil.which("python", path=str(bin_dir)) is None

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k.startswith(PASS_THROUGH)}
    env |= {"HOME": str(home), "PATH": str(bin_dir), "LANG": "C.UTF-8", "COST_MCP_TIMEZONE": "UTC"}

    done = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # With nothing configured the report says so and names what to connect, on a fresh ledger in HOME.
    assert "no data source is connected yet" in done.stdout
    assert (home / ".local" / "share" / "cost-mcp-venv" / "bin" / "cost-mcp").exists()
    assert (home / ".local" / "share" / "cost-mcp" / "cost.db").exists()
