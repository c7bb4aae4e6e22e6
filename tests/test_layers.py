"""The store layer owns every SQL statement: no module outside ``store/`` builds or runs SQL.

The layer contracts between packages are import-linter's ([tool.importlinter] in pyproject.toml,
`lint-imports` in .ci/run); this test covers what imports cannot show: SQL text and ``execute``
calls in modules above the store.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import cost_mcp

PACKAGE = Path(cost_mcp.__file__).parent
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\s|\.execute(many)?\(")

NOT_OUR_LEDGER = {
    "sources/agents/opencode.py": "reads OpenCode's own SQLite database, not the ledger",
    "sources/agents/goose.py": "reads Goose's own SQLite database, not the ledger",
    "sources/agents/hermes.py": "reads Hermes Agent's own SQLite database, not the ledger",
    "sources/agents/scanner.py": "whether an agent's own SQLite database is empty (OpenCode's, Goose's...)",
    "sources/agents/crush.py": "reads Crush's own SQLite databases, not the ledger",
    "sources/google.py": "the BigQuery query text sent to Google for the billing export",
}
BEING_MOVED: dict[str, str] = {
    # Engineers moving these into store/ this session; delete each line once its file is clean.
}


def _offenders() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("store/"):
            continue
        lines = [
            f"{rel}:{n}: {line.strip()}"
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if SQL.search(line)
        ]
        if lines:
            found[rel] = lines
    return found


def test_no_sql_outside_the_store() -> None:
    offenders = {f: lines for f, lines in _offenders().items() if f not in NOT_OUR_LEDGER | BEING_MOVED}
    assert not offenders, (
        "SQL outside src/cost_mcp/store/: move it into a typed repository function there\n"
        + "\n".join(line for lines in offenders.values() for line in lines)
    )


def test_the_allowlist_names_only_files_that_still_need_it() -> None:
    found = _offenders()
    stale = [f for f in (*NOT_OUR_LEDGER, *BEING_MOVED) if f not in found]
    assert not stale, f"no SQL left in {stale}: remove them from the allowlist in {Path(__file__).name}"


SHELLS = {"server", "cli", "web", "__main__", "launcher", "__init__"}
"""Modules that may import mcp (or start what does): the MCP and HTTP shells and the entry points."""


def test_every_module_below_the_shells_is_held_to_the_no_mcp_contract() -> None:
    pyproject = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = pyproject["tool"]["importlinter"]["contracts"]
    [no_mcp] = [c for c in contracts if c["forbidden_modules"] == ["mcp"]]
    listed = {m.removeprefix("cost_mcp.") for m in no_mcp["source_modules"]}
    modules = {p.stem for p in PACKAGE.glob("*.py")} | {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    missing = sorted(modules - SHELLS - listed)
    assert not missing, f"add {missing} to the no-mcp contract's source_modules in pyproject.toml"
