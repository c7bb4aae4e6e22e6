"""What a user installs: the sdist and the wheel built from it (`pip install cost-mcp`, `uvx`, `pipx`).

Everything else runs from the checkout, where a file the wheel leaves out is still on disk. Here the
sdist is built from the checkout's tracked files (plus the strays a developer's checkout may hold: a
ledger, an env file of keys), the wheel from that sdist, as pip builds one, both with the build backend
(hatchling, in the test extra: no network). The wheel must hold exactly the package's files (so every
file it reads at run time: the dashboard's page, script and stylesheets, loaded through
importlib.resources; pricing.py's siblings, read by path) and run from where it is unpacked.
"""

from __future__ import annotations

import email.parser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

import cost_mcp

ROOT = Path(__file__).parents[1]
PACKAGE = "cost_mcp"
# Files a developer may leave in a checkout, none of which may be published: a ledger, an env file of
# provider keys (cost-mcp's own is named `env`), and the same inside the package's folder.
STRAYS = [".env", "cost.db", "src/cost_mcp/cost.db", "src/cost_mcp/env", "tests/.env"]
STRAY_KEY = "OPENAI_ADMIN_KEY=sk-admin-stray-0123456789abcdef"
# The sdist carries what builds the wheel and what tests it, and nothing else of the checkout.
SDIST_TOP = {"src", "tests", "bench", "docs", ".ci", ".gitignore", "README.md", "pyproject.toml", "PKG-INFO"}
SDIST_TOP |= {"claude_desktop_config.example.json", "LICENSE", "hatch_build.py"}
# The package is code and the dashboard's files; anything else in the wheel is a mistake.
WHEEL_SUFFIXES = {".py", ".typed", ".html", ".js", ".css"}
LARGEST = 256 * 1024


@dataclass(frozen=True)
class Built:
    tracked: list[str]
    sdist: list[str]
    wheel: list[str]
    metadata: Message
    entry_points: str
    site: Path


def _hatchling(target: str, suffix: str, cwd: Path, out: Path) -> Path:
    run = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", target, "-d", str(out)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    (built,) = out.glob(f"*{suffix}")
    return built


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist of the checkout's tracked files and the strays, and the wheel built from it, unpacked."""
    if importlib.util.find_spec("hatchling") is None:
        message = "hatchling (the build backend) is not installed: pip install -e '.[test]' again"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    tracked = sorted(name for name in listed.decode().split("\0") if name and (ROOT / name).is_file())
    base = tmp_path_factory.mktemp("packaging")
    tree, out, site = base / "tree", base / "dist", base / "site"
    for name in tracked:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    for name in STRAYS:
        (tree / name).write_text(STRAY_KEY + "\n")
    sdist = _hatchling("sdist", ".tar.gz", cwd=tree, out=out)
    with tarfile.open(sdist) as archive:
        members = [m.name for m in archive.getmembers() if m.isfile()]
        # The archive is the one just built; Debian 12's Python 3.11.2 has no extraction filters.
        if hasattr(tarfile, "data_filter"):
            archive.extractall(base / "unpacked", filter="data")
        else:
            archive.extractall(base / "unpacked")  # pragma: no cover
    (top,) = (base / "unpacked").iterdir()
    wheel = _hatchling("wheel", ".whl", cwd=top, out=out)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    (info,) = site.glob("*.dist-info")
    return Built(
        tracked=tracked,
        sdist=sorted(name.split("/", 1)[1] for name in members),
        wheel=sorted(names),
        metadata=email.parser.Parser().parsestr((info / "METADATA").read_text(encoding="utf-8")),
        entry_points=(info / "entry_points.txt").read_text(encoding="utf-8"),
        site=site,
    )


def test_the_wheel_holds_exactly_the_package(built: Built) -> None:
    """Every file of src/cost_mcp (so every one the code reads at run time, py.typed too) and no
    stray, test, benchmark or oversized file."""
    package = {name.removeprefix("src/") for name in built.tracked if name.startswith(f"src/{PACKAGE}/")}
    ours = {name for name in built.wheel if name.startswith(f"{PACKAGE}/")}
    assert ours == package
    info = {name for name in built.wheel if name not in ours}
    dist_info = rf"{PACKAGE}-[^/]+\.dist-info/(licenses/)?[A-Za-z_.]+"
    assert all(re.fullmatch(dist_info, name) for name in info), info
    # The MIT licence's text travels with the code, as its notice asks.
    assert [name for name in info if name.endswith("/licenses/LICENSE")], info
    assert {Path(name).suffix for name in ours} <= WHEEL_SUFFIXES
    assert f"{PACKAGE}/py.typed" in ours
    sizes = {name: (built.site / name).stat().st_size for name in built.wheel}
    assert max(sizes.values()) < LARGEST, max(sizes.items(), key=lambda item: item[1])
    assert not [name for name in built.wheel if STRAY_KEY in (built.site / name).read_text(errors="replace")]


def test_the_sdist_holds_what_builds_and_tests_the_wheel_and_no_stray(built: Built) -> None:
    """The sdist has every tracked file it needs (the wheel above is built from it) and none of the
    ledger or keys a checkout may hold (hatchling took every file .gitignore does not name)."""
    assert {name.split("/", 1)[0] for name in built.sdist} <= SDIST_TOP
    assert not set(built.sdist) & set(STRAYS)
    wanted = {name for name in built.tracked if name.split("/", 1)[0] in SDIST_TOP}
    assert wanted <= set(built.sdist)


def test_the_metadata_says_what_readme_and_the_code_say(built: Built) -> None:
    """Python 3.11 or later; the version `cost-mcp --version` prints; the `cost-mcp` command; every
    extra README tells users to install; "Typing :: Typed" with the py.typed marker that means it."""
    meta = built.metadata
    assert meta["Name"] == "cost-mcp" and meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "MIT" and meta["License-File"] == "LICENSE"
    assert meta["Version"] == cost_mcp.__version__
    assert "[console_scripts]\ncost-mcp = cost_mcp.launcher:main" in built.entry_points
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"cost-mcp\[([a-z0-9_-]+)\]", readme))
    assert named and named <= set(meta.get_all("Provides-Extra") or [])
    assert "Typing :: Typed" in (meta.get_all("Classifier") or [])


# A Markdown link or image whose target has no scheme (https:, mailto:) and is no heading (#...).
RELATIVE = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|#)([^)\s]+)\)")


def test_the_long_description_has_no_link_pypi_would_break(built: Built) -> None:
    """pypi.org shows the long description and resolves no relative link: README's links into the
    source tree (docs/architecture.md, the example config, the dashboard's screenshot) led to missing
    pages and a broken image. Each is text naming a path the sdist carries; the rest is README's."""
    meta = built.metadata
    assert meta["Description-Content-Type"] == "text/markdown"
    shown = str(meta.get_payload())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = RELATIVE.findall(readme)
    assert linked and RELATIVE.findall(shown) == []
    assert all(
        f"`{path}` in the source distribution" in shown or f"`{path}` (in the source" in shown
        for path in linked
    )
    assert set(linked) <= set(built.sdist)
    # Links elsewhere and to README's own headings are kept, and so is every heading.
    assert "[genai-prices](https://github.com/pydantic/genai-prices)" in shown
    assert "[Team mode](#team-mode)" in shown
    headings = [line for line in readme.splitlines() if line.startswith("#")]
    assert headings == [line for line in shown.splitlines() if line.startswith("#")]
    # A visitor installing from the index reads how, in plain commands.
    commands = set(re.findall(r"(?:pipx|uv tool|pip) install cost-mcp", shown))
    assert commands == {"pipx install cost-mcp", "uv tool install cost-mcp", "pip install cost-mcp"}
    # No address is published that the project has not got: no public repository is known yet.
    assert meta.get_all("Project-URL") is None


RUN_FROM_THE_WHEEL = """
import json, re, sys
from pathlib import Path
import cost_mcp
from cost_mcp import launcher, pricing
PLAN_FILES = ("pricing.py", "pricing_corrections.py", "tokens.py")
from cost_mcp.web.app import STATIC
from cost_mcp.web.page import page_html, sign_in_html

web = page_html("web")
linked = re.findall(r'(?:href|src)="static/([^"]+)"', web)
print(json.dumps({
    "file": cost_mcp.__file__,
    "main": callable(launcher.main),
    "linked": {name: (STATIC / name).is_file() for name in linked},
    "static": sorted(p.name for p in STATIC.iterdir()),
    "app": len(page_html("app")),
    "sign_in": "<style>" in sign_in_html(action="signin"),
    "plan_files": [n for n in PLAN_FILES if Path(pricing.__file__).with_name(n).is_file()],
}))
"""


def test_the_unpacked_wheel_serves_its_pages_and_prints_its_version(built: Built) -> None:
    """Run from the unpacked wheel (not the checkout): the dashboard's web page and the files it
    links, the MCP App's self-contained page, the sign-in page, the files the price plans' key reads,
    and `python -m cost_mcp --version`, which is the metadata's version."""
    env = {**os.environ, "PYTHONPATH": str(built.site)}
    run = subprocess.run(
        [sys.executable, "-c", RUN_FROM_THE_WHEEL], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert Path(seen["file"]).is_relative_to(built.site)
    assert seen["main"] and seen["sign_in"] and seen["app"] > 10_000
    assert seen["linked"] == {"app.css": True, "app.js": True}
    assert seen["static"] == sorted(Path(n).name for n in built.wheel if "/web/static/" in n)
    assert seen["plan_files"] == ["pricing.py", "pricing_corrections.py", "tokens.py"]
    version = subprocess.run(
        [sys.executable, "-m", "cost_mcp", "--version"], env=env, capture_output=True, text=True, check=False
    )
    assert version.stdout.strip() == f"cost-mcp {built.metadata['Version']}", version
