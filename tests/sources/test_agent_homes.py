"""Where each coding agent keeps its logs when its user moved them the way the agent itself allows:
cost-mcp looks in the folder the agent writes to, so a moved folder's calls are counted."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import fields
from pathlib import Path

import pytest

from cost_mcp.agent_folders import AGENT_FOLDER_VARIABLES, AgentFolderPaths, AgentFolders, load_agent_folders
from cost_mcp.config import _env_names, load_settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources import agents
from cost_mcp.sources.agents import gemini_cli, opencode
from cost_mcp.store.connection import connect
from tests.conftest import AGENT_FOLDERS as AGENT_FOLDER_FIELDS
from tests.sources.test_agents import FIXTURES, GEMINI_CALLS, as_rows, rows


def test_gemini_cli_home_moves_the_gemini_folder(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gemini CLI keeps ``.gemini`` in ``homedir()``, which is ``GEMINI_CLI_HOME`` when set
    (google-gemini/gemini-cli ``packages/core/src/utils/paths.ts`` ``homedir`` and
    ``packages/core/src/config/storage.ts`` ``Storage.getGlobalGeminiDir``, at 5411f113), so a user
    who sets it has every chat under ``$GEMINI_CLI_HOME/.gemini/tmp``. cost-mcp read ``~/.gemini``
    only: their Gemini CLI calls were in no total."""
    gemini_home = tmp_path / "gemini-home"
    shutil.copytree(FIXTURES / "gemini_cli", gemini_home / ".gemini")
    monkeypatch.delenv("GEMINI_DIR")
    monkeypatch.setenv("GEMINI_CLI_HOME", str(gemini_home))
    settings = load_settings()
    assert settings.gemini_dir_path() == gemini_home / ".gemini"
    conn = connect(settings.db)
    scan = agents.scan(conn, gemini_cli.LOG, settings, Pricer())
    conn.close()
    assert rows(settings, gemini_cli.SOURCE) == as_rows(GEMINI_CALLS, "gemini-cli", "google")
    assert scan.events_added == len(GEMINI_CALLS)


def test_gemini_dir_still_names_the_folder_itself(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GEMINI_DIR (cost-mcp's own setting, the folder itself) keeps priority over GEMINI_CLI_HOME."""
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "elsewhere"))
    assert load_settings().gemini_dir_path() == home / "gemini"


def test_opencode_data_follows_xdg_data_home(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenCode's data folder is ``path.join(xdgData, "opencode")`` from ``xdg-basedir``:
    ``XDG_DATA_HOME`` when set, else ``~/.local/share``, on every OS (anomalyco/opencode, formerly
    sst/opencode, ``packages/opencode/src/global/index.ts`` at 29c1bde5). A user with
    ``XDG_DATA_HOME`` set keeps ``opencode.db`` there; cost-mcp read ``~/.local/share/opencode``
    only, so none of their OpenCode calls counted."""
    xdg = tmp_path / "xdg-data"
    db = xdg / "opencode" / "opencode.db"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")  # as OpenCode opens it
    conn.execute("CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, data TEXT)")
    lines = (FIXTURES / "opencode" / "messages.jsonl").read_text().splitlines()
    for text in lines:
        message = json.loads(text)
        conn.execute("INSERT INTO message VALUES (?, ?, ?)", (message["id"], message["sessionID"], text))
    conn.commit()
    conn.close()
    monkeypatch.delenv("OPENCODE_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    settings = load_settings()
    assert settings.opencode_data_path() == xdg / "opencode"
    ledger = connect(settings.db)
    agents.scan(ledger, opencode.LOG, settings, Pricer())
    ledger.close()
    got = rows(settings, opencode.SOURCE)
    # The fixture's three assistant messages (its user message has no tokens).
    assert sorted(str(r[2]) for r in got) == sorted(
        json.loads(t)["sessionID"] for t in lines if json.loads(t)["role"] == "assistant"
    )


def test_cline_dir_moves_the_cline_sessions(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cline keeps its data in ``resolveClineDataDir()``: CLINE_DATA_DIR, else ``data`` in
    ``resolveClineDir()``, which is CLINE_DIR when set (``cline --config-dir`` sets it), else ``~/.cline``
    (cline/cline ``sdk/packages/shared/src/storage/paths.ts`` at 21cb8d25). cost-mcp read
    ``~/.cline/data`` without CLINE_DATA_DIR, so a user who moved Cline with CLINE_DIR had none of
    their Cline 4.x sessions counted."""
    from tests.sources.test_cline import SESSIONS, _expected_sessions, ledger

    cline_dir = tmp_path / "cline-home"
    shutil.copytree(SESSIONS, cline_dir / "data" / "sessions")
    monkeypatch.delenv("CLINE_DATA_DIR")
    monkeypatch.setenv("CLINE_DIR", str(cline_dir))
    settings = load_settings()
    assert settings.cline_sessions_path() == cline_dir / "data" / "sessions"
    conn = connect(settings.db)
    agents.ingest_all(conn, settings, Pricer())
    conn.close()
    assert [r for r in ledger(settings, "cline") if str(r[0]).startswith("msg:")] == _expected_sessions()


def _every_folder(folders: AgentFolderPaths) -> dict[str, object]:
    """Every folder method of ``folders``, by name: what the agents' readers ask of settings."""
    return {
        name: getattr(folders, name)()
        for name, member in vars(AgentFolderPaths).items()
        if callable(member) and not name.startswith("_")
    }


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({}, id="nothing-set"),
        pytest.param(
            {name: f"~/moved/{name.lower()}" for name in AGENT_FOLDER_FIELDS}, id="every-first-name"
        ),
        pytest.param(
            {"CODEBUFF_DATA_DIR": "/cb", "DROID_SESSIONS_DIR": "/d1", "CLAWDBOT_STATE_DIR": "~/claw"},
            id="second-names",
        ),
        pytest.param(
            {"COST_MCP_CODEBUFF_DIRS": "/a, ,~/b", "CODEBUFF_DATA_DIR": "/cb", "OPENCLAW_STATE_DIR": "rel"},
            id="first-name-wins",
        ),
        pytest.param(
            {"COST_MCP_CODEBUFF_DIRS": " ", "DROID_SESSIONS_DIR": "", "CODEX_HOME": "", "HERMES_HOME": " "},
            id="blank-values",
        ),
        pytest.param({"GOOSE_PATH_ROOT": "relative", "HERMES_HOME": "/h/profiles/work"}, id="as-agents-read"),
    ],
)
def test_agent_folders_without_pydantic_are_the_settings_folders(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    """`cost-mcp ingest` reads the agents' folders with :func:`load_agent_folders`, every other
    command with Settings: both must find the same folders from the same environment and env file,
    and read a setting from the same variables."""
    assert {f.name: AGENT_FOLDER_VARIABLES[f.name] for f in fields(AgentFolders)} == {
        name: tuple(_env_names(name)) for name in AGENT_FOLDER_VARIABLES
    }
    env_file = tmp_path / "env"
    env_file.write_text("KIMI_SHARE_DIR=/from-file\nCOPILOT_OTEL_FILE_EXPORTER_PATH=' ~/otel.jsonl '\n")
    light = load_agent_folders(environ, env_file)
    assert _every_folder(light) == _every_folder(load_settings(environ, env_file))
    assert light.kimi_share_dir == environ.get("KIMI_SHARE_DIR", "/from-file")  # the environment wins
