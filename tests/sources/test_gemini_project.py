"""Gemini CLI's calls are filed under the project's path, as Gemini CLI's own files record it.

The files are laid out as google-gemini/gemini-cli writes them (see docs/agent-formats.md):
``config/projectRegistry.ts`` writes ``tmp/<short id>/.project_root`` and
``history/<short id>/.project_root`` (the normalised path, no newline) and ``projects.json``
(``JSON.stringify(data, null, 2)``); older versions used ``tmp/<sha256 of the path>/``, and
``chatRecordingService.ts`` puts ``projectHash`` (that SHA-256) in each chat's metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr

from cost_mcp import files
from cost_mcp.config import Settings
from cost_mcp.pricing import Pricer
from cost_mcp.sources import agents, logfiles
from cost_mcp.sources.agents import gemini_cli
from cost_mcp.store.connection import connect
from tests.sources.claude_logs import assistant, session_file, write
from tests.sources.pipes import without_waiting_on

TOKENS = {"input": 3000, "output": 200, "cached": 1000, "thoughts": 50, "tool": 0, "total": 3250}


def sha(path: str) -> str:
    """Gemini CLI's ``getProjectHash`` (utils/paths.ts): the SHA-256 of the project root, in hex."""
    return hashlib.sha256(path.encode()).hexdigest()


def claim(gemini: Path, project: str, slug: str) -> None:
    """What ``ProjectRegistry.getShortId`` leaves on disk for a project it gave ``slug``."""
    registry = gemini / "projects.json"
    data: dict[str, Any] = json.loads(registry.read_text()) if registry.exists() else {"projects": {}}
    data["projects"][project] = slug
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text(json.dumps(data, indent=2))
    marker(gemini, project, slug)


def marker(gemini: Path, project: str, slug: str) -> None:
    """``ensureOwnershipMarkers``: the path, without a newline, in each base folder's ``<slug>/``."""
    for base in ("tmp", "history"):
        (gemini / base / slug).mkdir(parents=True, exist_ok=True)
        (gemini / base / slug / ".project_root").write_text(project)


def chat(folder: Path, session: str, project_hash: str, message: str, *, name: str = "") -> Path:
    """A current JSONL chat: metadata line, a user message, the reply then the reply with its tokens."""
    meta = {
        "sessionId": session,
        "projectHash": project_hash,
        "startTime": "2026-11-20T10:00:00.000Z",
        "lastUpdated": "2026-11-20T10:00:00.000Z",
        "kind": "main",
    }
    reply = {
        "id": message,
        "timestamp": "2026-11-20T10:00:05.000Z",
        "type": "gemini",
        "content": [{"text": "done"}],
        "thoughts": [],
        "model": "gemini-2.5-flash",
    }
    user = {"id": f"u-{message}", "timestamp": "2026-11-20T10:00:01.000Z", "type": "user", "content": []}
    path = folder / "chats" / (name or f"session-2026-11-20T10-00-{session[:8]}.jsonl")
    return write(path, meta, user, reply, {**reply, "tokens": TOKENS})


def legacy(folder: Path, session: str, project_hash: str, message: str) -> Path:
    """An older whole-document chat (``session-*.json``)."""
    doc = {
        "sessionId": session,
        "projectHash": project_hash,
        "startTime": "2026-11-19T08:00:00.000Z",
        "lastUpdated": "2026-11-19T08:00:09.000Z",
        "messages": [
            {
                "id": message,
                "timestamp": "2026-11-19T08:00:09.000Z",
                "type": "gemini",
                "content": "ok",
                "thoughts": [],
                "tokens": TOKENS,
                "model": "gemini-2.5-flash",
            }
        ],
    }
    path = folder / "chats" / f"session-2026-11-19T08-00-{session[:8]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


def projects(settings: Settings) -> dict[str, str]:
    """Each Gemini CLI session's project as the ledger holds it."""
    conn = connect(settings.db)
    try:
        found = conn.execute(
            "SELECT session_id, project FROM usage_events WHERE source = ? AND counted = 1",
            (gemini_cli.SOURCE,),
        ).fetchall()
    finally:
        conn.close()
    return {str(s): str(p) for s, p in found}


@pytest.mark.anyio
async def test_one_folder_is_one_project_with_gemini_cli_too(home: Path, client: Client) -> None:
    """The F8 case: a folder used with Claude Code and Gemini CLI is one project, its path, found by
    its name; a sub-agent's chat (``chats/<parent session>/<id>.jsonl``) goes there too."""
    gemini = home / "gemini"
    claim(gemini, "/home/ana/shop", "shop")
    chat(gemini / "tmp" / "shop", "5f2e1a3b-6c7d", sha("/home/ana/shop"), "g-1")
    chat(gemini / "tmp" / "shop", "sub-1", sha("/home/ana/shop"), "g-2", name="5f2e1a3b-6c7d/sub-1.jsonl")
    line = assistant("msg_1", "req_1", "2026-11-20T08:00:00.000Z", session="cc-1", input=10, output=300)
    write(session_file(home / "claude", "cc-1", project="-home-ana-shop"), {**line, "cwd": "/home/ana/shop"})
    result = await client.call_tool(
        "get_spend",
        {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["project", "agent"], "projects": ["shop"]},
    )
    assert result.structured_content is not None
    groups = {
        (r["group"]["project"], r["group"]["agent"]): r["requests"] for r in result.structured_content["rows"]
    }
    assert groups == {("/home/ana/shop", "claude-code"): 1, ("/home/ana/shop", "gemini-cli"): 2}


def test_older_and_unmarked_folders_resolve_through_gemini_files(
    home: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each way Gemini CLI's files name a folder's project, and the folder's name when none does,
    through the real scanner and `cost-mcp report --group-by project`."""
    from cost_mcp.cli import main

    gemini, tmp = home / "gemini", home / "gemini" / "tmp"
    # Upgraded: the old hash folder was copied into the short-id folder and left; the copies count once.
    claim(gemini, "/home/ana/web", "web")
    old = chat(tmp / sha("/home/ana/web"), "web-old", sha("/home/ana/web"), "w-1")
    copy = tmp / "web" / old.relative_to(tmp / sha("/home/ana/web"))
    copy.parent.mkdir(parents=True)
    copy.write_bytes(old.read_bytes())
    # A legacy .json in a hash folder whose path only projects.json knows (no marker anywhere).
    (gemini / "projects.json").write_text(
        json.dumps({"projects": {"/home/ana/web": "web", "/home/ana/api": "api"}}, indent=2)
    )
    legacy(tmp / sha("/home/ana/api"), "api-old", sha("/home/ana/api"), "a-1")
    # A short-id folder whose tmp/ marker is gone: history/<id>/.project_root still says.
    (tmp / "docs").mkdir()
    (gemini / "history" / "docs").mkdir(parents=True)
    (gemini / "history" / "docs" / ".project_root").write_text("/home/ana/docs")
    chat(tmp / "docs", "docs-1", sha("/home/ana/docs"), "d-1")
    # A folder nothing names, whose chat's projectHash is a path a marker knows.
    marker(gemini, "/srv/tools", "tools")
    chat(tmp / "renamed", "tools-1", sha("/srv/tools"), "t-1")
    # Nothing says: the folder's name, as before.
    chat(tmp / sha("/home/ana/gone"), "gone-1", sha("/home/ana/gone"), "x-1")
    chat(tmp / "c0ffee1234", "short-1", "c0ffee1234", "x-2")

    conn = connect(settings.db)
    try:
        scan = agents.scan(conn, gemini_cli.LOG, settings, Pricer())
    finally:
        conn.close()
    assert scan.errors == [] and not scan.skipped
    assert projects(settings) == {
        "web-old": "/home/ana/web",
        "api-old": "/home/ana/api",
        "docs-1": "/home/ana/docs",
        "tools-1": "/srv/tools",
        "gone-1": sha("/home/ana/gone"),
        "short-1": "c0ffee1234",
    }
    period = ["--start", "2026-11-01", "--end", "2026-11-30"]
    assert main(["report", *period, "--group-by", "project", "--json"]) == 0
    rows = {r["group"]["project"]: r["requests"] for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["/home/ana/web"] == 1  # the copied chat counts once


def test_a_hostile_marker_is_not_a_project(home: Path, settings: Settings) -> None:
    """A ``.project_root`` that is not one absolute path (several lines, relative, not UTF-8) is
    ignored for the next file that says, and a marker that does not decode never stops the scan."""
    tmp = home / "gemini" / "tmp"
    for folder, content in (("multi", b"/a\n/b"), ("relative", b"shop"), ("binary", b"\xff\xfe/x")):
        (tmp / folder).mkdir(parents=True)
        (tmp / folder / ".project_root").write_bytes(content)
        chat(tmp / folder, f"{folder}-1", "nohash", f"m-{folder}")
    (tmp / "ok").mkdir()
    (tmp / "ok" / ".project_root").write_bytes("/home/ana/café\n".encode())  # trailing newline trimmed
    chat(tmp / "ok", "ok-1", "nohash", "m-ok")
    conn = connect(settings.db)
    try:
        scan = agents.scan(conn, gemini_cli.LOG, settings, Pricer())
    finally:
        conn.close()
    assert scan.errors == []
    assert projects(settings) == {
        "multi-1": "multi",
        "relative-1": "relative",
        "binary-1": "binary",
        "ok-1": "/home/ana/café",
    }


def test_calls_filed_under_a_folder_name_move_once_gemini_names_the_path(
    home: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Calls read while nothing named the path (an old ``tmp/<hash>/`` before Gemini CLI 0.29, or a
    ledger an earlier cost-mcp filled) move to the path once Gemini CLI's files say it: upgrading
    Gemini CLI writes ``projects.json`` and the markers and copies the folder. Totals stay as they
    were and the renames applied are remembered, so later scans write nothing for them."""
    from cost_mcp.cli import main

    gemini, tmp, path = home / "gemini", home / "gemini" / "tmp", "/home/ana/shop"
    old = chat(tmp / sha(path), "shop-old", sha(path), "s-1")
    period = ["--start", "2026-11-01", "--end", "2026-11-30", "--group-by", "project", "--json"]

    def by_project() -> dict[str, tuple[int, str]]:
        assert main(["report", *period]) == 0
        printed = json.loads(capsys.readouterr().out)["rows"]
        return {r["group"]["project"]: (r["requests"], r["cost_usd"]) for r in printed}

    before = by_project()
    assert list(before) == [sha(path)]
    claim(gemini, path, "shop")  # Gemini CLI 0.29 starts in /home/ana/shop
    copy = tmp / "shop" / old.relative_to(tmp / sha(path))
    copy.parent.mkdir(parents=True)
    copy.write_bytes(old.read_bytes())
    assert by_project() == {path: before[sha(path)]}
    conn = connect(settings.db)
    try:
        renames = conn.execute("SELECT value FROM meta WHERE key LIKE 'projects_renamed:%'").fetchall()
    finally:
        conn.close()
    assert [json.loads(v) for (v,) in renames] == [{sha(path): path, "shop": path}]
    assert by_project() == {path: before[sha(path)]}


def test_a_scan_reads_gemini_clis_project_files_once_whatever_its_chat_files(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chat file read (and the rename pass before them) opened ``projects.json`` again, and every
    marker under ``tmp/`` and ``history/`` again for a chat in an old hash folder: a scan of a few
    hundred chats read them thousands of times. Now a scan opens each once, and its projects are
    the same; the next scan (a new chat) reads them afresh, once."""
    gemini, tmp = home / "gemini", home / "gemini" / "tmp"
    paths = [f"/home/ana/p{i}" for i in range(4)]
    for i, path in enumerate(paths):
        claim(gemini, path, f"p{i}")
    expected: dict[str, str] = {}
    for n in range(24):
        path = paths[n % 4]
        # Half in old hash folders, whose path is found through the paths the registry and markers know.
        folder = tmp / (sha(path) if n % 2 else f"p{n % 4}")
        chat(folder, f"s{n:02d}-session", sha(path), f"g-{n}")
        expected[f"s{n:02d}-session"] = path
    opened: list[str] = []
    real_open = files.open_regular_file

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def scan() -> list[str]:
        opened.clear()
        monkeypatch.setattr(logfiles, "open_regular_file", counting_open)
        try:
            conn = connect(settings.db)
            try:
                found = agents.scan(conn, gemini_cli.LOG, settings, Pricer())
            finally:
                conn.close()
        finally:
            monkeypatch.setattr(logfiles, "open_regular_file", real_open)
        assert found.errors == [] and not found.skipped
        return [f for f in opened if Path(f).name in ("projects.json", ".project_root")]

    first = scan()
    assert first.count(str(gemini / "projects.json")) == 1, first
    assert len(set(first)) == len(first), first  # each folder's marker (or its absence) once
    assert projects(settings) == expected
    chat(tmp / "p0", "s99-session", sha(paths[0]), "g-99")
    again = scan()
    assert again.count(str(gemini / "projects.json")) == 1, again
    assert len(set(again)) == len(again), again
    assert projects(settings) == {**expected, "s99-session": paths[0]}


def test_a_project_renamed_after_a_push_is_renamed_on_the_team_server(home: Path, settings: Settings) -> None:
    """Calls pushed under an old ``tmp/<sha256>/`` folder's name, then moved to their path once
    Gemini CLI's files name it: the laptop sends them again, and the team server must file them
    under the new name too. It kept the old one (a copy with the same tokens, time and session was
    never taken), so the team's by-project view split a folder the laptop showed as one. The
    server is the home fixture's ledger (PostgreSQL in that run), the laptop a SQLite file."""
    from cost_mcp import access, push
    from cost_mcp.analytics import spend
    from cost_mcp.analytics.spend import resolve
    from tests.web.test_team import _assert_rollup_exact, _local_sender

    gemini, tmp, path = home / "gemini", home / "gemini" / "tmp", "/home/ana/shop"
    chat(tmp / sha(path), "shop-old", sha(path), "s-1")
    laptop = settings.model_copy(
        update={
            "db": home / "laptop" / "cost.db",
            "team_server": "http://team",
            "team_token": SecretStr("cmt_x"),
        }
    )
    (home / "laptop").mkdir()
    send = _local_sender(settings.db, access.Caller("ana@example.com", "member", "ana"))

    def on_server() -> dict[str, tuple[int | None, str]]:
        server = connect(settings.db)
        try:
            window = resolve(settings, None, "2026-11-01", "2026-11-30", "UTC")
            result = spend.get_spend(
                server, settings, window, ("project",), spend.Filters(), take_alerts=False
            )
            stored = server.execute("SELECT DISTINCT project FROM usage_events").fetchall()
        finally:
            server.close()
        assert {str(p) for (p,) in stored} == {str(r.group["project"]) for r in result.rows}
        return {str(r.group["project"]): (r.requests, str(r.cost_usd)) for r in result.rows}

    local = connect(laptop.db)
    try:
        agents.ingest_all(local, laptop, Pricer())
        assert push.push(local, laptop, send=send).sent == 1
        before = on_server()
        assert list(before) == [sha(path)]
        claim(gemini, path, "shop")  # Gemini CLI 0.29 names the folder
        agents.ingest_all(local, laptop, Pricer())
        stats = push.push(local, laptop, send=send)
    finally:
        local.close()
    assert (stats.sent, stats.changed) == (1, 1)  # sent again, and taken
    assert on_server() == {"shop": before[sha(path)]}  # the folder's name, as pushes send a path
    _assert_rollup_exact(settings.db)


def test_a_marker_that_is_a_pipe_is_not_waited_on(home: Path, settings: Settings) -> None:
    """A ``.project_root`` replaced by a named pipe made the scan wait for a writer forever (and
    every answer behind it); now it is not read, and the folder's name is the project."""
    tmp = home / "gemini" / "tmp"
    (tmp / "piped").mkdir(parents=True)
    os.mkfifo(tmp / "piped" / ".project_root")
    chat(tmp / "piped", "piped-1", "nohash", "m-piped")
    conn = connect(settings.db)
    try:
        scan = without_waiting_on(
            tmp / "piped" / ".project_root", lambda: agents.scan(conn, gemini_cli.LOG, settings, Pricer())
        )
    finally:
        conn.close()
    assert scan.events_added == 1 and scan.errors == []
    assert projects(settings) == {"piped-1": "piped"}


def test_project_files_leading_out_of_the_gemini_folder_are_passed_over_and_counted(
    home: Path, settings: Settings
) -> None:
    """A ``.project_root`` or ``projects.json`` that is a link to a file outside the Gemini folder
    was read wherever it led: another file's text named the chats' project. Both are now left
    alone, as the walk leaves a chat link leading out, counted among the files passed over, and the
    folder's name is the project."""
    gemini = home / "gemini"
    (gemini / "tmp" / "linked").mkdir(parents=True)
    outside = home / "elsewhere"
    outside.mkdir()
    (outside / "root").write_text("/home/someone/private\n")
    (outside / "registry.json").write_text(json.dumps({"projects": {"/home/someone/other": "listed"}}))
    (gemini / "tmp" / "linked" / ".project_root").symlink_to(outside / "root")
    (gemini / "projects.json").symlink_to(outside / "registry.json")
    chat(gemini / "tmp" / "linked", "linked-1", "nohash", "m-linked")
    (gemini / "tmp" / "listed").mkdir()
    chat(gemini / "tmp" / "listed", "listed-1", "nohash", "m-listed")
    conn = connect(settings.db)
    try:
        scan = agents.scan(conn, gemini_cli.LOG, settings, Pricer())
    finally:
        conn.close()
    assert scan.events_added == 2 and scan.errors == []
    assert projects(settings) == {"linked-1": "linked", "listed-1": "listed"}
    assert dict(scan.skipped) == {"link_outside": 2}


def test_a_marker_in_a_tmp_folder_kept_on_another_disk_is_read(home: Path, settings: Settings) -> None:
    """Gemini CLI's ``tmp/`` may be a link to another disk: the walk reads the chats there (inside
    the folder walked, as it resolves), and their ``.project_root`` markers are read by the same rule,
    not passed over as leading out of the Gemini folder."""
    gemini = home / "gemini"
    gemini.mkdir()
    elsewhere = home / "other-disk" / "gemini-tmp"
    (elsewhere / "shop").mkdir(parents=True)
    (gemini / "tmp").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "shop" / ".project_root").write_text("/home/ana/shop")
    chat(elsewhere / "shop", "shop-1", "nohash", "m-shop")
    conn = connect(settings.db)
    try:
        scan = agents.scan(conn, gemini_cli.LOG, settings, Pricer())
    finally:
        conn.close()
    assert scan.events_added == 1 and not scan.skipped
    assert projects(settings) == {"shop-1": "/home/ana/shop"}
