"""Real virtual environments for tests of how cost-mcp behaves where it is installed."""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path

import cost_mcp

CACHE_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n"
"""The first line of a CACHEDIR.TAG (the Cache Directory Tagging spec), as uv and pipx write it."""


def environment(folder: Path) -> Path:
    """A virtual environment at ``folder`` whose python imports this cost_mcp and its dependencies
    (from the running one's site-packages), as an installed cost-mcp would; its python's path."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    paths = [str(Path(cost_mcp.__file__).parents[1]), *site.getsitepackages()]
    (next((folder / "lib").glob("python3*")) / "site-packages" / "outer.pth").write_text("\n".join(paths))
    return folder / "bin" / "python"


def temporary_environment(cache: Path) -> Path:
    """An environment as `uvx` makes one: ``<cache>/archive-v0/<id>``, in a cache folder tagged with
    a CACHEDIR.TAG; its python's path."""
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "CACHEDIR.TAG").write_text(CACHE_TAG)
    return environment(cache / "archive-v0" / "abc123")
