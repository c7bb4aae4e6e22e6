"""Shared fixtures: every test gets its own ledger, config folder and Claude folder on disk.

The ledger runs on both backends: ``home`` (and so ``settings`` and ``client``) is parametrised
over ``sqlite`` (a file under tmp_path) and ``postgresql`` (a fresh database in a throwaway
cluster started once per session, see tests/pg_cluster.py). Tests about SQLite files themselves
are marked ``sqlite_only`` and run once, as are those about PostgreSQL's own sessions and locks
(``postgresql_only``), and those that take ``home`` for its folders and never open a ledger
(``no_ledger``: ``home`` fails one that does). Without PostgreSQL installed the ``postgresql``
variants skip, saying why, unless ``CI`` is set: then they fail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stamina
import time_machine
from mcp import Client

from cost_mcp import notify
from cost_mcp.config import Settings, load_settings, provider_env_names
from cost_mcp.store import connect
from cost_mcp.store.connection import Conn
from tests.pg_cluster import Cluster

BACKENDS = ["sqlite", "postgresql"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run ``sqlite_only`` tests on SQLite alone and ``postgresql_only`` ones on PostgreSQL alone
    (deselect the other variant, rather than let it pass having tested nothing); ``no_ledger`` ones
    once, in the SQLite variant's folders (a second run would test the same code again)."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("home") if callspec is not None else None
        marks = {"postgresql": ("sqlite_only", "no_ledger"), "sqlite": ("postgresql_only",)}.get(
            str(backend), ()
        )
        (dropped if any(item.get_closest_marker(m) for m in marks) else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster for the session (skips, or fails in CI, when it cannot start)."""
    try:
        cluster = Cluster()
    except Exception as exc:  # not installed, cannot run: say so once per test
        reason = f"no PostgreSQL server could be started for the postgresql backend: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_retry_waits() -> Iterator[None]:
    """Retries happen (up to 5 attempts) but never sleep; a test that needs real waits turns this off."""
    with stamina.set_testing(True, attempts=5):
        yield


@pytest.fixture(autouse=True)
def webhooks_stop_with_their_test() -> Iterator[None]:
    """The alerts a test fired in this process are sent (or given up) before the next test starts:
    notify's worker is module-level, so a retry one test set off could otherwise POST into the
    next test's receiver, or take its scripted answers. Instant when the test fired nothing."""
    yield
    notify.drain()


_LoggerState = tuple[int, bool, bool, tuple[logging.Handler, ...]]


def _logger_states() -> dict[str, _LoggerState]:
    loggers = logging.Logger.manager.loggerDict.items()
    return {
        name: (lg.level, lg.propagate, lg.disabled, tuple(lg.handlers))
        for name, lg in loggers
        if isinstance(lg, logging.Logger)
    }


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """Each test leaves the named loggers as it found them (level, propagation, handlers; a logger
    first made during the test back to a new one's). Code a test runs in this process configures
    logging for the whole process, as it should in its own: uvicorn's config (the dashboard and
    team-server tests) stops its loggers propagating to the root, where caplog listens, and puts
    uvicorn.error at WARNING; the CLI's main() puts the alert, stamina and httpx2 loggers above the
    levels later tests capture. Kept, they made a later test's caplog assertions fail (a record
    test in another order) or hold for nothing (no alert logged because none could be). The
    root logger is pytest's own to restore (caplog, its capture handlers)."""
    before = _logger_states()
    yield
    fresh: _LoggerState = (logging.NOTSET, True, False, ())
    for name, state in _logger_states().items():
        was = before.get(name, fresh)
        if state == was:
            continue
        logger = logging.getLogger(name)
        level, logger.propagate, logger.disabled, handlers = was
        logger.handlers[:] = handlers
        logger.setLevel(level)


@pytest.fixture
def hour_of_day() -> int:
    """The hour (UTC) the ``clock`` fixture reads; a test overrides it with
    ``@pytest.mark.parametrize("hour_of_day", [21])``."""
    return 12


FAKECLOCK_SITE = Path(__file__).parent / "tools" / "site"
"""The sitecustomize that sets a Python process's clock (see tests/tools/fakeclock.py)."""


@pytest.fixture
def clock(hour_of_day: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Today at ``hour_of_day`` UTC, the clock running on from there, for everything the test runs:
    the seeding, the code under test, the test's own expectations and the Python processes it
    starts (the CLI, a server), through tests/tools/site/sitecustomize.py. Calls seeded "30 s ago"
    are then today's, this week's and this month's whenever the suite runs; at 00:00:10 they were
    yesterday's, and the dashboard's "today" rightly read $0 (CI ran so once, just after midnight).
    Any test that seeds "now" and then asks about a calendar period (``today``, ``this_month``,
    ``last_7_days``...) takes it, as does one that straddles a midnight between its processes."""
    at = datetime.now(UTC).replace(hour=hour_of_day, minute=0, second=0, microsecond=0)
    # Under .ci/fakeclock this process's clock is already off the real one, by the offset it set.
    real_now = time.time() - float(os.environ.get("COST_MCP_FAKECLOCK_OFFSET") or 0)
    monkeypatch.setenv("COST_MCP_FAKECLOCK_OFFSET", repr(at.timestamp() - real_now))
    paths = [str(FAKECLOCK_SITE), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    with time_machine.travel(at, tick=True):
        yield


AGENT_FOLDERS: dict[str, str] = {
    "CODEX_HOME": "codex",
    "GEMINI_DIR": "gemini",
    "OPENCODE_DATA_DIR": "opencode",
    "AMP_DATA_DIR": "amp",
    "QWEN_RUNTIME_DIR": "qwen",
    "GOOSE_PATH_ROOT": "goose",
    "PI_CODING_AGENT_DIR": "pi",
    "KIMI_SHARE_DIR": "kimi",
    "HERMES_HOME": "hermes",
    "COST_MCP_VSCODE_USER_DIRS": "vscode/User",
    "CLINE_DATA_DIR": "cline-data",
    "COPILOT_HOME": "copilot",
    "COST_MCP_COPILOT_OTEL_DIR": "copilot-otel",
    "COST_MCP_CODEBUFF_DIRS": "codebuff",
    "CRUSH_GLOBAL_DATA": "crush",
    "COST_MCP_DROID_SESSIONS_DIRS": "droid",
    "KILO_DATA_DIR": "kilo",
    "OPENCLAW_STATE_DIR": "openclaw",
}
"""Every variable that moves another coding agent's folder, and its folder under a test's root:
the one list the tests' environments (``isolation``, the servers' and laptops' environments) take,
so that an agent added to ``sources.agents`` is isolated everywhere by one line here."""


def isolation(root: Path) -> tuple[dict[str, str], list[str]]:
    """The environment of a test's processes, apart from the ledger (``COST_MCP_DB``): the variables
    set, to folders under ``root``, and those unset, so that nothing of whoever runs the tests (their
    agents' folders, provider keys, a team server) reaches them. The ``home`` fixture's, and a
    module's server that outlives one test (tests/web/test_team.py: ``onlooked``)."""
    unset = [*provider_env_names(), "CLINE_SESSION_DATA_DIR", "COPILOT_OTEL_FILE_EXPORTER_PATH", "QWEN_HOME"]
    unset += ["CLAWDBOT_STATE_DIR", "OPENCLAW_HOME"]  # OpenClaw's other names for its folders
    unset.append("CODEBUFF_DATA_DIR")  # ccusage's name for Codebuff's folder, which cost-mcp takes too
    unset.append("DROID_SESSIONS_DIR")  # ccusage's name for Droid's folders, which cost-mcp takes too
    # A developer's shell may point at a real team server: tests never push there.
    unset += [n for n in os.environ if n.upper().startswith("COST_MCP_TEAM_")]
    values = {
        "COST_MCP_ENV_FILE": str(root / "config" / "env"),
        "COST_MCP_PRICES_FILE": str(root / "config" / "prices.toml"),
        "COST_MCP_TIMEZONE": "UTC",
        "CLAUDE_CONFIG_DIR": str(root / "claude"),
        # Other agents' folders: never the real ones of whoever runs the tests.
        **{name: str(root / folder) for name, folder in AGENT_FOLDERS.items()},
        # gcloud's application-default credentials of whoever runs the tests never configure Google.
        "CLOUDSDK_CONFIG": str(root / "gcloud"),
    }
    (root / "claude" / "projects").mkdir(parents=True)
    return values, unset


@pytest.fixture(params=BACKENDS)
def home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated environment: ledger, env file, prices file and Claude folder under tmp_path,
    the ledger on each backend in turn."""
    values, unset = isolation(tmp_path)
    for name in unset:
        monkeypatch.delenv(name, raising=False)
    cluster: Cluster | None = None
    database = ""
    if request.param == "sqlite":
        monkeypatch.setenv("COST_MCP_DB", str(tmp_path / "data" / "cost.db"))
    else:
        cluster = request.getfixturevalue("pg_cluster")
        database = cluster.new_database()
        monkeypatch.setenv("COST_MCP_DB", cluster.url(database))
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    yield tmp_path
    if cluster is not None:
        cluster.drop_database(database)
    made = (
        sorted(str(p) for p in tmp_path.rglob("*.db")) if request.node.get_closest_marker("no_ledger") else []
    )
    if made:
        pytest.fail(
            f"marked no_ledger, yet it made a ledger ({', '.join(made)}): remove the mark, "
            "so that it runs on PostgreSQL too"
        )


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite ledger, migrated once for the session (see :func:`ledger_made`)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "cost.db"
    connect(path).close()  # closing checkpoints the WAL: the one file is the whole ledger
    return path


@pytest.fixture
def ledger_made(home: Path, sqlite_template: Path) -> None:
    """The test's ledger exists, migrated and empty, before the test runs: for the fixtures that
    open it at set-up anyway (``conn``, ``client``, a module's seeded ledger). On SQLite it is a
    copy of :func:`sqlite_template`, as each PostgreSQL database is a copy of a migrated template
    (tests/pg_cluster.py): migrating a new SQLite file took some 0.2 s, a copy takes a millisecond.
    Only where nothing was put at the ledger's place yet (a fixture before may have written a
    damaged file, or pointed COST_MCP_DB elsewhere): what a test of making the ledger sees is
    unchanged, as are the ledgers the code under test makes itself."""
    db = Path(os.environ["COST_MCP_DB"])
    if db == home / "data" / "cost.db" and not db.parent.exists():
        copy_migrated(sqlite_template, db)


def copy_migrated(sqlite_template: Path, db: Path) -> None:
    """Put a copy of the session's migrated empty SQLite ledger (:func:`sqlite_template`) at ``db``,
    in a folder not made yet: for a fixture whose ledger is opened first by the test's own code
    (``ledger_made``, a team server's token fixture), never one the code under test makes."""
    db.parent.mkdir(parents=True)
    shutil.copyfile(sqlite_template, db)


@pytest.fixture
def conn(settings: Settings, ledger_made: None) -> Iterator[Conn]:
    """The test's ledger connection, closed after the test (one left open warns on PostgreSQL)."""
    with contextlib.closing(connect(settings.db)) as ledger:
        yield ledger


@pytest.fixture
async def client(home: Path, ledger_made: None) -> AsyncIterator[Client]:
    """An in-memory MCP client on the real server, with the real lifespan and a fresh ledger."""
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as c:
        yield c
