"""Budget webhooks through the real server and CLI: only configured destinations, never a metadata
address, never a URL's secret shown, and every fired alert delivered or retried and reported."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest
from mcp import Client, StdioServerParameters

from cost_mcp import notify
from cost_mcp.config import load_settings
from cost_mcp.store import connect
from cost_mcp.store.connection import write_transaction
from tests.sources.claude_logs import assistant, session_file, write
from tests.sources.fake_providers import FakeOpenAI, Router, local_server

pytestmark = pytest.mark.anyio

SECRET = "hunter2-WEBHOOK-SECRET"


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver answering the scripted statuses in turn (then 204)."""

    received: ClassVar[list[dict[str, Any]]] = []
    statuses: ClassVar[list[int]] = []
    delay: ClassVar[float] = 0.0
    """Seconds the receiver takes before it answers."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        time.sleep(Receiver.delay)
        status = Receiver.statuses.pop(0) if Receiver.statuses else 204
        if status < 300:
            Receiver.received.append(json.loads(body))
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    """A local receiver; yields its URL, with credentials and a token query a URL may carry."""
    Receiver.received.clear()
    Receiver.statuses.clear()
    Receiver.delay = 0.0
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://alice:{SECRET}@127.0.0.1:{server.server_port}/hooks/path?token={SECRET}"
    finally:
        notify.drain()  # before the receiver goes: what this test fired is answered by this receiver
        server.shutdown()
        server.server_close()
        Receiver.received.clear()
        Receiver.statuses.clear()


@pytest.fixture
def ops_webhook(receiver: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The receiver configured as the webhook named "ops", for this process and those it starts
    from here on (a server reads its webhooks at start: ask for this before the server's fixture)."""
    monkeypatch.setenv("COST_MCP_WEBHOOKS", json.dumps({"ops": receiver}))
    return receiver


@pytest.fixture
def ops(ops_webhook: str, clock: None) -> str:
    """:func:`ops_webhook` on the ``clock`` fixture: a call :func:`spend_line` stamps at 23:59:59
    was yesterday's to the CLI process that then evaluates a daily budget, which rightly alerted
    nothing."""
    return ops_webhook


def spend_line(home: Path, request: str, output_tokens: int = 200_000) -> None:
    """A Claude Code call of about $3 (Sonnet 4.5 output at $15/MTok) today."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        session_file(home / "claude", request),
        assistant(f"msg_{request}", f"req_{request}", now, output=output_tokens),
    )


async def tool_error(client: Client, name: str, args: dict[str, Any]) -> str:
    """Call a tool that must fail; its error text."""
    result = await client.call_tool(name, args)
    assert result.is_error is True, result.structured_content
    return "".join(getattr(c, "text", "") for c in result.content)


def texts(result: Any) -> str:
    return json.dumps(result.structured_content) + "".join(getattr(c, "text", "") for c in result.content)


async def test_a_tool_picks_a_configured_webhook_by_name_never_a_url(
    ops: str, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    for bad in (ops, "http://127.0.0.1:9/steal", "nope"):
        text = await tool_error(
            client, "set_budget", {"name": "d", "amount_usd": 1, "period": "day", "webhook": bad}
        )
        assert "at most 64 characters" in text or "(configured webhooks: ops)" in text
    made = await client.call_tool(
        "set_budget", {"name": "d", "amount_usd": 1, "period": "day", "webhook": "ops"}
    )
    budget = made.structured_content
    assert budget is not None
    port = ops.split("@127.0.0.1:")[1].split("/", maxsplit=1)[0]
    assert (budget["webhook"], budget["webhook_url"]) == ("ops", f"http://127.0.0.1:{port}/…")
    spend_line(Path(os.environ["CLAUDE_CONFIG_DIR"]).parent, "a")
    status = await client.call_tool("budget_status", {})
    notify.drain()
    assert [p["threshold"] for p in Receiver.received] == ["1.0"]
    everything = texts(made) + texts(status) + caplog.text
    assert SECRET not in everything and "alice" not in everything


async def test_no_webhook_configured_says_how_to_configure_one(client: Client) -> None:
    text = await tool_error(
        client, "set_budget", {"name": "d", "amount_usd": 1, "period": "day", "webhook": "ops"}
    )
    assert "no webhook is configured" in text and "COST_MCP_WEBHOOKS" in text


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/x",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::ffff:169.254.169.254]/",
        # The metadata address inside other IPv6 forms (IPv4-compatible, NAT64, 6to4): were passed.
        "http://[::169.254.169.254]/",
        "http://[64:ff9b::169.254.169.254]/",
        "http://[64:ff9b:1::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
        "ftp://hooks.example.com/x",
    ],
)
async def test_metadata_and_link_local_destinations_are_refused_even_when_configured(
    url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_MCP_WEBHOOKS", json.dumps({"meta": url}))
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        text = await tool_error(
            client, "set_budget", {"name": "d", "amount_usd": 1, "period": "day", "webhook": "meta"}
        )
    assert "link-local or cloud-metadata" in text or "http:// or https://" in text


async def test_a_name_that_resolves_to_a_metadata_address_is_not_posted_to(
    home: Path, monkeypatch: pytest.MonkeyPatch, receiver: str
) -> None:
    port = int(receiver.split("@127.0.0.1:")[1].split("/", maxsplit=1)[0])
    monkeypatch.setenv("COST_MCP_WEBHOOKS", json.dumps({"ops": f"http://rebound.example:{port}/x"}))
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebound.example":  # a DNS answer pointing at the metadata service
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        await client.call_tool(
            "set_budget", {"name": "d", "amount_usd": 1, "period": "day", "webhook": "ops"}
        )
        spend_line(home, "a")
        await client.call_tool("budget_status", {})
        notify.drain()
        status = (await client.call_tool("budget_status", {})).structured_content
    assert status is not None
    assert Receiver.received == []
    assert any("resolves to a link-local or cloud-metadata address" in w for w in status["warnings"])


async def test_a_budget_already_over_fires_when_read_without_new_usage(ops: str, client: Client) -> None:
    await client.call_tool(
        "record_usage",
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "input_tokens": 0,
            "output_tokens": 200_000,
            "agent": "bot",
        },
    )
    await client.call_tool("set_budget", {"name": "d", "amount_usd": 2, "period": "day", "webhook": "ops"})
    status = (await client.call_tool("budget_status", {})).structured_content
    notify.drain()
    assert status is not None
    # every threshold crossed at once: all fired, one alert (100%, covering 50% and 80%)
    assert len(status["alerts"]) == 1
    assert status["budgets"][0]["fired_thresholds"] == ["0.5", "0.8", "1.0"]
    assert [(p["threshold"], p["covers"]) for p in Receiver.received] == [("1.0", ["0.5", "0.8"])]
    # once per budget, period and threshold
    again = (await client.call_tool("check_budget", {"estimated_cost_usd": 1})).structured_content
    notify.drain()
    assert again is not None and again["allowed"] is True
    assert len(Receiver.received) == 1


async def test_the_ingest_tool_fires_and_delivers(ops: str, client: Client, home: Path) -> None:
    await client.call_tool("set_budget", {"name": "d", "amount_usd": 2, "period": "day", "webhook": "ops"})
    spend_line(home, "a")
    await client.call_tool("ingest_claude_code_logs", {})
    notify.drain()
    assert [p["budget"] for p in Receiver.received] == ["d"]


async def test_the_sync_tool_fires_and_delivers(
    ops: str, home: Path, monkeypatch: pytest.MonkeyPatch, clock: None
) -> None:
    today = datetime.now(UTC).date().isoformat()
    costs = {today: [{"object": "organization.costs.result", "amount": {"value": "5.00", "currency": "usd"}}]}
    r = Router(openai=FakeOpenAI({"/v1/organization/costs": costs}))
    with local_server(r) as url:
        monkeypatch.setenv("COST_MCP_OPENAI_BASE_URL", url)
        monkeypatch.setenv("OPENAI_ADMIN_KEY", r.openai.key)
        from cost_mcp.server import mcp

        async with Client(mcp, raise_exceptions=True) as client:
            await client.call_tool(
                "set_budget",
                {"name": "o", "amount_usd": 4, "period": "day", "providers": ["openai"], "webhook": "ops"},
            )
            synced = (await client.call_tool("sync_providers", {"providers": ["openai"]})).structured_content
            notify.drain()
    assert synced is not None and synced["sources"][0]["ok"]
    assert [p["threshold"] for p in Receiver.received] == ["1.0"]


async def test_a_failed_delivery_is_shown_and_retried_with_backoff(
    ops: str, client: Client, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "RETRY_BASE_SECONDS", 0.0)  # retry at the next look, not in 30 s
    await client.call_tool(
        "set_budget", {"name": "d", "amount_usd": 2, "period": "day", "thresholds": [1], "webhook": "ops"}
    )
    spend_line(home, "a")
    Receiver.statuses[:] = [500]
    first = (await client.call_tool("budget_status", {})).structured_content
    notify.drain()
    assert first is not None and first["alerts"]
    failed = (await client.call_tool("budget_status", {})).structured_content
    notify.drain()
    assert failed is not None
    # that second look retried it (no new usage needed), and the receiver now accepted it
    assert [p["threshold"] for p in Receiver.received] == ["1"]
    done = (await client.call_tool("budget_status", {})).structured_content
    assert done is not None and done["warnings"] == []


async def test_budget_status_says_what_became_of_a_retry_it_set_off(
    ops: str, client: Client, home: Path
) -> None:
    """The QA case (h-cover F2): the question's refresh starts POSTing a due retry on the server's
    delivery thread, and budget_status read the queue while that POST was in flight: it said "not
    delivered yet (1 attempt(s), retrying with backoff): HTTP 500" of an alert the receiver got a
    moment later. Now it says what became of the attempt."""
    await client.call_tool(
        "set_budget", {"name": "d", "amount_usd": 2, "period": "day", "thresholds": [1], "webhook": "ops"}
    )
    spend_line(home, "a")
    Receiver.statuses[:] = [500]
    await client.call_tool("budget_status", {})
    notify.drain()
    assert Receiver.received == [] and Receiver.statuses == []
    conn = connect(load_settings().db)
    with write_transaction(conn):
        conn.execute("UPDATE budget_alerts SET next_attempt_ms = 0 WHERE delivery = 'pending'")  # due now
    conn.close()
    Receiver.delay = 0.5  # a receiver that takes a moment to answer
    status = (await client.call_tool("budget_status", {})).structured_content
    assert status is not None
    assert status["warnings"] == []
    assert [p["threshold"] for p in Receiver.received] == ["1"]
    notify.drain()


async def test_a_delivery_that_keeps_failing_is_reported_in_budget_status(
    ops: str, client: Client, home: Path
) -> None:
    await client.call_tool(
        "set_budget", {"name": "d", "amount_usd": 2, "period": "day", "thresholds": [1], "webhook": "ops"}
    )
    spend_line(home, "a")
    Receiver.statuses[:] = [503] * 5
    await client.call_tool("budget_status", {})
    notify.drain()
    status = (await client.call_tool("budget_status", {})).structured_content
    assert status is not None
    [warning] = status["warnings"]
    assert "budget 'd' alert at 100% not delivered yet (1 attempt, retrying with backoff)" in warning
    assert "HTTP 503" in warning and SECRET not in warning and "127.0.0.1" in warning


async def test_a_restarted_server_resumes_a_pending_retry_without_being_asked(
    ops: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cost_mcp.server import mcp

    monkeypatch.setattr(notify, "RETRY_BASE_SECONDS", 1.0)
    spend_line(home, "a")
    Receiver.statuses[:] = [500]
    async with Client(mcp, raise_exceptions=True) as first:
        await first.call_tool(
            "set_budget", {"name": "d", "amount_usd": 2, "period": "day", "thresholds": [1], "webhook": "ops"}
        )
        await first.call_tool("budget_status", {})
        notify.drain()
    assert Receiver.received == [] and Receiver.statuses == []  # tried once, failed, retry due in 1 s
    # A new server process, to which nobody sends a question nor new usage.
    params = StdioServerParameters(command=sys.executable, args=["-m", "cost_mcp"], env=dict(os.environ))
    async with Client(params):
        for _ in range(100):
            if Receiver.received:
                break
            await anyio.sleep(0.1)
    assert [p["threshold"] for p in Receiver.received] == ["1"]


# --- the CLI --------------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cost_mcp", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_cli_report_delivers_the_alert_before_exiting(ops: str, home: Path) -> None:
    made = cli("budget", "set", "d", "2", "--period", "day", "--webhook", "ops")
    assert made.returncode == 0, made.stderr
    spend_line(home, "a")
    report = cli("report")
    assert report.returncode == 0, report.stderr
    assert [p["threshold"] for p in Receiver.received] == ["1.0"]
    for text in (made.stdout, made.stderr, report.stdout, report.stderr):
        assert SECRET not in text


def test_cli_budget_status_retries_a_due_delivery_before_saying_whether_it_is_delivered(
    ops: str, home: Path
) -> None:
    # The first POST fails; once its retry is due, `budget status` makes it in the same run that
    # prints the budgets: it must print what is true then, not "not delivered yet" for an alert
    # the receiver gets a moment later.
    assert cli("budget", "set", "d", "2", "--period", "day", "--webhook", "ops").returncode == 0
    spend_line(home, "a")
    Receiver.statuses[:] = [500]
    assert cli("report").returncode == 0
    assert Receiver.received == [] and Receiver.statuses == []
    conn = connect(load_settings().db)
    with write_transaction(conn):
        conn.execute("UPDATE budget_alerts SET next_attempt_ms = 0 WHERE delivery = 'pending'")  # due now
    conn.close()
    status = cli("budget", "status")
    assert status.returncode == 0, status.stderr
    assert [p["threshold"] for p in Receiver.received] == ["1.0"]
    assert "not delivered" not in status.stdout + status.stderr


def test_cli_ingest_delivers_too(ops: str, home: Path) -> None:
    assert cli("budget", "set", "d", "2", "--period", "day", "--webhook", "ops").returncode == 0
    spend_line(home, "a")
    done = cli("ingest")
    assert done.returncode == 0, done.stderr
    assert [p["threshold"] for p in Receiver.received] == ["1.0"]


def test_cli_sync_delivers_too(ops: str, home: Path, clock: None) -> None:
    today = datetime.now(UTC).date().isoformat()
    costs = {today: [{"object": "organization.costs.result", "amount": {"value": "5.00", "currency": "usd"}}]}
    r = Router(openai=FakeOpenAI({"/v1/organization/costs": costs}))
    made = cli("budget", "set", "o", "4", "--period", "day", "--provider", "openai", "--webhook", "ops")
    assert made.returncode == 0, made.stderr
    with local_server(r) as url:
        done = cli(
            "sync",
            "--provider",
            "openai",
            env={"OPENAI_ADMIN_KEY": r.openai.key, "COST_MCP_OPENAI_BASE_URL": url},
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p["threshold"] for p in Receiver.received] == ["1.0"]


def _alerts(*outputs: str) -> list[str]:
    """The "alert:" notes in a command's output, each unwrapped (the console folds long lines)."""
    return [f"alert:{a}" for a in " ".join(" ".join(outputs).split()).split("alert:")[1:]]


def _dollars(payload: dict[str, Any]) -> Decimal:
    """A payload's spend to the cent (the calls' few input tokens add a fraction of one)."""
    return Decimal(payload["spent_usd"]).quantize(Decimal("0.01"))


def test_cli_a_budget_set_past_every_threshold_sends_one_alert_naming_those_it_covers(
    ops: str, home: Path
) -> None:
    """$3 spent, then a $2 budget: 50%, 80% and 100% are all crossed at once. It sent three alerts
    and three webhooks with the same figures; now one, for 100%, saying it covers 50% and 80%, and
    all three are fired (none alerts later in this period)."""
    spend_line(home, "a")
    assert cli("budget", "set", "d", "2", "--period", "day", "--webhook", "ops").returncode == 0
    report = cli("report")
    assert report.returncode == 0, report.stderr
    [payload] = Receiver.received
    assert (payload["threshold"], payload["covers"], _dollars(payload)) == ("1.0", ["0.5", "0.8"], Decimal(3))
    assert "passed 100% of $2.00 per day" in payload["message"]
    assert "covers 50% and 80% too" in payload["message"]
    assert payload["text"] == f"cost-mcp: {payload['message']}"
    [line] = _alerts(report.stdout, report.stderr)
    assert "passed 100%" in line and "covers 50% and 80% too" in line
    status = cli("budget", "status", "--json")
    [budget] = json.loads(status.stdout)["budgets"]
    assert budget["fired_thresholds"] == ["0.5", "0.8", "1.0"] and status.stdout.count("passed") == 0
    again = cli("report")
    assert _alerts(again.stdout, again.stderr) == [] and len(Receiver.received) == 1


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("https://hooks.slack.com/services/T0/B0/XXXX", "text"),
        ("https://discord.com/api/webhooks/1/abc", "content"),
        ("https://DISCORDAPP.com/api/webhooks/1/abc", "content"),
        ("https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t", "text"),
    ],
)
def test_a_chat_services_webhook_gets_the_alerts_message_in_the_one_field_it_posts(
    url: str, field: str
) -> None:
    """Slack answers 400 ``no_text`` to the alert's JSON (it has no ``text``), Discord refuses a
    message without ``content``, Google Chat a field it does not know: README's own example, a Slack
    URL, never got an alert. Each now gets the message alone, in its field."""
    payload = {"budget": "d", "spent_usd": "3.00", "message": "budget 'd' passed 100% of $2.00 per day"}
    assert notify.webhook_body(url, payload) == {field: "cost-mcp: budget 'd' passed 100% of $2.00 per day"}


def test_cli_editing_a_budget_alerts_once_per_evaluation_for_the_thresholds_it_crosses(
    ops: str, home: Path
) -> None:
    """Raising a budget re-arms what its spend no longer reaches; spend then crossing 50% and 80% at
    once alerts 80% covering 50%; lowering it past 100% alerts 100% alone (80% already alerted)."""
    spend_line(home, "a")  # $3
    assert cli("budget", "set", "d", "2", "--period", "day", "--webhook", "ops").returncode == 0
    assert cli("report").returncode == 0
    assert cli("budget", "set", "d", "10", "--period", "day", "--webhook", "ops").returncode == 0
    spend_line(home, "b", output_tokens=400_000)  # +$6: $9 of $10
    assert cli("report").returncode == 0
    assert cli("budget", "set", "d", "8", "--period", "day", "--webhook", "ops").returncode == 0
    assert cli("report").returncode == 0
    assert [(p["threshold"], p["covers"], _dollars(p)) for p in Receiver.received] == [
        ("1.0", ["0.5", "0.8"], Decimal(3)),
        ("0.8", ["0.5"], Decimal(9)),
        ("1.0", [], Decimal(9)),
    ]
    assert "covers" not in Receiver.received[2]["message"]


def test_cli_processes_evaluating_at_once_send_the_one_alert_once(ops: str, home: Path) -> None:
    """Four processes reading a budget already past every threshold: one alert between them (the
    ledger's key decides), the thresholds it covers fired, none of them sent on its own."""
    spend_line(home, "a")
    assert cli("budget", "set", "d", "2", "--period", "day", "--webhook", "ops").returncode == 0
    env = {**os.environ}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "cost_mcp", "report"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    outputs = [r.communicate(timeout=120) for r in runs]
    assert all(r.returncode == 0 for r in runs), outputs
    assert [(p["threshold"], p["covers"]) for p in Receiver.received] == [("1.0", ["0.5", "0.8"])]
    shown = _alerts(*(out + err for out, err in outputs))
    assert len(shown) == 1 and "covers 50% and 80% too" in shown[0]
    [budget] = json.loads(cli("budget", "status", "--json").stdout)["budgets"]
    assert budget["fired_thresholds"] == ["0.5", "0.8", "1.0"]


def test_cli_webhook_url_needs_confirmation(receiver: str, home: Path) -> None:
    refused = cli("budget", "set", "d", "2", "--webhook", receiver)
    assert refused.returncode == 2
    assert "--confirm-webhook-url" in refused.stderr
    assert SECRET not in refused.stdout + refused.stderr
    meta = cli("budget", "set", "d", "2", "--webhook", "http://169.254.169.254/x", "--confirm-webhook-url")
    assert meta.returncode == 2 and "link-local or cloud-metadata" in meta.stderr
    ok = cli("budget", "set", "d", "2", "--period", "day", "--webhook", receiver, "--confirm-webhook-url")
    assert ok.returncode == 0, ok.stderr
    listed = cli("budget", "list", "--json")
    assert SECRET not in listed.stdout and "alice" not in listed.stdout
    assert json.loads(listed.stdout)["budgets"][0]["budget"]["webhook_url"].startswith("http://127.0.0.1:")


def _ledger_text(home: Path) -> str:
    """Every row of the budgets and their fired alerts, as text: what a reader of the ledger sees."""
    conn = connect(load_settings().db)
    try:
        return repr([conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("budgets", "budget_alerts")])
    finally:
        conn.close()


def test_a_webhook_url_typed_at_the_cli_is_kept_in_the_env_file_never_in_the_ledger(
    receiver: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA (h-qasec5): `budget set --webhook URL --confirm-webhook-url` stored the URL in the ledger
    (the budget's row and each fired alert's), and a Slack or Discord webhook's path is its secret:
    anyone reading the database (a backup, a team's PostgreSQL) could post to the channel. The URL
    now goes to COST_MCP_WEBHOOKS in the env file (owner-only), named after the budget, and the
    ledger keeps the name; alerts still reach it."""
    monkeypatch.delenv("COST_MCP_WEBHOOKS", raising=False)
    env_file = Path(os.environ["COST_MCP_ENV_FILE"])
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text("# mine\nCOST_MCP_TIMEZONE=UTC\n")
    made = cli("budget", "set", "d", "2", "--period", "day", "--webhook", receiver, "--confirm-webhook-url")
    assert made.returncode == 0, made.stderr
    # Without any whitespace: the console wraps a long path mid-word (a worker's tmp path is longer).
    said = "".join((made.stdout + made.stderr).split())
    assert "".join(f"kept in {env_file} as COST_MCP_WEBHOOKS 'd'".split()) in said, said
    assert SECRET not in made.stdout + made.stderr
    assert json.loads(load_settings().webhooks.get_secret_value()) == {"d": receiver}
    assert env_file.read_text().startswith("# mine\nCOST_MCP_TIMEZONE=UTC\n")  # the rest kept
    assert env_file.stat().st_mode & 0o777 == 0o600
    again = cli("budget", "set", "e", "5", "--period", "day", "--webhook", receiver, "--confirm-webhook-url")
    assert again.returncode == 0 and "COST_MCP_WEBHOOKS 'd'" in again.stdout, again.stdout + again.stderr
    spend_line(home, "a")
    assert cli("report").returncode == 0
    # About $3: past d's $2 and half of e's $5, both alerts POSTed to the one URL.
    assert sorted(p["budget"] for p in Receiver.received) == ["d", "e"], "the alerts did not reach the URL"
    ledger = _ledger_text(home)
    assert (
        "'name:d'" in ledger and "'name:e'" not in ledger and SECRET not in ledger and "alice" not in ledger
    )
    # Where the env file cannot take it (the environment's COST_MCP_WEBHOOKS hides it), refused with
    # the fix, nothing set, and no URL in the message.
    hidden = cli(
        "budget", "set", "f", "2", "--webhook", receiver + "x", "--confirm-webhook-url",
        env={"COST_MCP_WEBHOOKS": json.dumps({"ops": receiver})},
    )  # fmt: skip
    told = " ".join(hidden.stderr.split())
    assert hidden.returncode == 2 and "set in the environment, which hides the env file's" in told, told
    assert SECRET not in hidden.stdout + hidden.stderr
    assert "'f'" not in _ledger_text(home)


def test_deleting_a_budget_says_its_webhook_url_stays_and_how_to_remove_it(
    receiver: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA (h-qa2): `budget delete` left the URL that `budget set --confirm-webhook-url` kept in the
    env file (by design: other budgets use it by name) and said nothing, so a secret outlived its
    budget unseen. It says so, and how to remove it once no budget uses it."""
    monkeypatch.delenv("COST_MCP_WEBHOOKS", raising=False)
    env_file = Path(os.environ["COST_MCP_ENV_FILE"])
    for name in ("d", "e"):
        made = cli("budget", "set", name, "2", "--webhook", receiver, "--confirm-webhook-url")
        assert made.returncode == 0, made.stderr
    assert cli("budget", "set", "plain", "2").returncode == 0
    kept = f"its webhook 'd' stays in COST_MCP_WEBHOOKS ({env_file}) with its URL"

    first = cli("budget", "delete", "d", env={"COLUMNS": "500"})
    assert first.returncode == 0, first.stderr
    said = " ".join((first.stdout + first.stderr).split())
    assert f"deleted budget 'd' note: {kept}: budget e still sends to it" in said, said
    assert "no command removes it" not in said and SECRET not in said

    last = cli("budget", "delete", "e", env={"COLUMNS": "500"})
    said = " ".join((last.stdout + last.stderr).split())
    assert last.returncode == 0 and f"{kept}, for a budget to use again with --webhook d" in said, said
    assert (
        f"no other budget uses it: to remove the URL, take 'd' and its URL out of the COST_MCP_WEBHOOKS "
        f"line of {env_file} (no command removes it)"
    ) in said, said
    assert SECRET not in said and load_settings().webhook_urls() == {"d": receiver}  # said, not done

    plain = cli("budget", "delete", "plain", env={"COLUMNS": "500"})
    assert plain.returncode == 0 and "note:" not in plain.stdout + plain.stderr


def test_a_refused_budget_name_keeps_no_webhook_url_in_the_env_file(receiver: str, home: Path) -> None:
    """QA (h-qa): `budget set "it's" 5 --webhook URL --confirm-webhook-url` said "invalid budget name",
    yet the URL was already written to the env file's COST_MCP_WEBHOOKS under "it's": a secret kept
    for a budget that was never made (the name is checked only when the budget is set, after the URL
    was kept). Nothing is kept for a command that is refused."""
    env_file = Path(os.environ["COST_MCP_ENV_FILE"])
    refused = cli("budget", "set", "it's", "2", "--webhook", receiver, "--confirm-webhook-url")
    assert refused.returncode == 2 and "invalid budget name" in refused.stderr, refused.stderr
    assert not env_file.exists() or SECRET not in env_file.read_text()
    assert load_settings().webhook_urls() == {}


@pytest.mark.parametrize(
    "given", [f"hooks.slack.com/services/T0/B0/{SECRET}", f"alice:{SECRET}@hooks.example.com"]
)
async def test_a_url_given_as_a_webhook_name_is_not_echoed_back(
    given: str, ops_webhook: str, client: Client
) -> None:
    """QA (h-qa): `budget set d 2 --webhook hooks.slack.com/services/T0/B0/SECRET` (a URL without its
    scheme: taken as a name) answered "no webhook named 'hooks.slack.com/services/T0/B0/SECRET'", the
    path's secret printed to the terminal (and a CI log), as the set_budget tool echoed it to a
    model. The refusal names it by host only and says a URL is not a name."""
    done = cli("budget", "set", "d", "2", "--webhook", given)
    told = await tool_error(
        client, "set_budget", {"name": "d", "amount_usd": 1, "period": "day", "webhook": given}
    )
    for text in (done.stdout + done.stderr, told):
        assert SECRET not in text and "alice" not in text, text
        assert "looks like a URL" in " ".join(text.split()), text
    assert done.returncode == 2


def test_doctor_lists_webhooks_without_their_secrets_and_flags_bad_ones(ops: str, home: Path) -> None:
    env = {"COST_MCP_WEBHOOKS": json.dumps({"ops": ops, "meta": "http://169.254.169.254/x"})}
    done = cli("doctor", "--json", env=env)
    report = json.loads(done.stdout)
    assert report["webhooks"]["ops"].startswith("http://127.0.0.1:") and report["webhooks"]["ops"].endswith(
        "/…"
    )
    assert any("webhook 'meta'" in p and "link-local" in p for p in report["problems"])
    assert SECRET not in done.stdout + done.stderr
    broken = json.loads(cli("doctor", "--json", env={"COST_MCP_WEBHOOKS": "{not json"}).stdout)
    assert any("COST_MCP_WEBHOOKS is not a JSON object" in p for p in broken["problems"])


async def test_set_budget_says_what_a_replacement_dropped(ops: str, client: Client) -> None:
    """set_budget replaces a budget whole: a model asked to "raise my daily budget to $5" that gives
    only the name, amount and period turned a hard budget with a webhook into a soft one with none,
    with no warning. The result now names what changed and the arguments that keep it."""
    first = {
        "name": "d",
        "amount_usd": 2,
        "period": "day",
        "hard": True,
        "webhook": "ops",
        "agents": ["claude-code"],
    }
    made = (await client.call_tool("set_budget", first)).structured_content
    assert made is not None and not any("replaced" in w for w in made["warnings"])
    raised = (
        await client.call_tool("set_budget", {"name": "d", "amount_usd": 5, "period": "day"})
    ).structured_content
    assert raised is not None and (raised["hard"], raised["webhook"]) == (False, None)
    assert raised["warnings"][0] == (
        "budget 'd' replaced, not only its amount: hard -> soft: check_budget and the Claude Code hook no "
        "longer refuse calls over it; webhook 'ops' -> none: alerts go to 'ops' no more; scope "
        'agents=claude-code -> all usage; set_budget replaces a budget whole: give hard=true, webhook="ops", '
        'agents=["claude-code"] again to keep what it had'
    )
    again = (await client.call_tool("set_budget", {**first, "amount_usd": 5})).structured_content
    assert again is not None and (again["hard"], again["webhook"]) == (True, "ops")
    same = (await client.call_tool("set_budget", {**first, "amount_usd": 6})).structured_content
    assert same is not None and not any("replaced" in w for w in same["warnings"])


def test_an_alerts_body_has_the_fields_and_types_readme_documents(ops: str, home: Path) -> None:
    """Money in the body is exact decimal strings ("3.00") and ``percent`` a JSON number: README named
    the money fields' type and not ``percent``'s, so a receiver could not tell whether it would get
    150.0 or "150.0". Each field README lists is in the body, of the type README gives it."""
    spend_line(home, "a")
    assert cli("budget", "set", "d", "2", "--period", "day", "--webhook", "ops").returncode == 0
    assert cli("report").returncode == 0
    [body] = Receiver.received
    said = " ".join(README_ALERT_BODY.split())
    documented = re.findall(r"`(\w+)`", said.split("Slack")[0])
    assert sorted(documented) == sorted(body), (documented, sorted(body))
    assert "`limit_usd` and `spent_usd` (exact decimal strings" in said
    for money in ("limit_usd", "spent_usd"):
        assert isinstance(body[money], str) and Decimal(body[money]).is_finite(), body[money]
    assert "`percent` (a JSON number, not a string" in said
    assert isinstance(body["percent"], int | float) and not isinstance(body["percent"], bool), body["percent"]
    # "to one decimal and rounded down": 150.0 for the $3 of $2 spent, read from the body's own money.
    spent, limit = Decimal(body["spent_usd"]), Decimal(body["limit_usd"])
    assert Decimal(str(body["percent"])) == (spent / limit * 100).quantize(
        Decimal("0.1"), rounding=ROUND_FLOOR
    )
    assert isinstance(body["threshold"], str) and all(isinstance(c, str) for c in body["covers"])
    assert body["status"] in re.findall(r'"(\w+)"', said.split("`status` (")[1].split(")")[0])


README_ALERT_BODY = (
    (Path(__file__).resolve().parents[1] / "README.md")
    .read_text()
    .split("**What an alert POSTs.**")[1]
    .split("\n\n")[0]
)
"""README's paragraph on what an alert POSTs."""


# --- DNS rebinding: the POST goes to the address that was vetted ----------------------------------


class HostRecorder(BaseHTTPRequestHandler):
    """Records which local address each POST reached and the Host it named; answers 204."""

    hits: ClassVar[list[tuple[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        HostRecorder.hits.append((self.server.server_address[0], self.headers["host"]))  # type: ignore[index]
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def two_addresses() -> Iterator[tuple[int, list[HTTPServer]]]:
    """Receivers on 127.0.0.1 and 127.0.0.2 at one port: the address a name first resolved to (and
    was vetted) and the different one a rebinding DNS answers next. Yields the port and servers."""
    HostRecorder.hits.clear()
    for _ in range(20):
        first = HTTPServer(("127.0.0.1", 0), HostRecorder)
        try:
            second = HTTPServer(("127.0.0.2", first.server_port), HostRecorder)
        except OSError:  # that port is taken on 127.0.0.2: another pair
            first.server_close()
            continue
        break
    else:
        pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")
    servers = [first, second]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield first.server_port, servers
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def rebinding_dns(monkeypatch: pytest.MonkeyPatch, name: str, then: str = "127.0.0.2") -> list[str]:
    """Make ``name`` resolve to 127.0.0.1 once, then to ``then`` (a DNS server answering an address
    that passes first and another one after: the rebinding attack). Returns the answers given."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        answers.append("127.0.0.1" if not answers else then)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[-1], int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return answers


def test_a_webhook_is_posted_to_the_address_that_was_checked_not_a_second_dns_answer(
    two_addresses: tuple[int, list[HTTPServer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, _ = two_addresses
    rebinding_dns(monkeypatch, "rebind.test")
    for _ in range(2):  # the second delivery resolves (and vets) again: then it goes to that answer
        assert notify.post_json(f"http://rebind.test:{port}/hook/{SECRET}", {"message": "m"}) is None
    assert HostRecorder.hits == [("127.0.0.1", f"rebind.test:{port}"), ("127.0.0.2", f"rebind.test:{port}")]


def test_a_rebinding_answer_to_a_metadata_address_is_never_connected_to(
    two_addresses: tuple[int, list[HTTPServer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, _ = two_addresses
    answers = rebinding_dns(monkeypatch, "rebind.test", then="169.254.169.254")
    connected: list[tuple[Any, ...]] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        connected.append(tuple(address))
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    assert notify.post_json(f"http://rebind.test:{port}/hook", {"message": "m"}) is None
    assert answers == ["127.0.0.1"] and connected == [("127.0.0.1", port)]
    assert HostRecorder.hits == [("127.0.0.1", f"rebind.test:{port}")]
    # the next delivery is vetted again, and the metadata answer refused before any connection
    error = notify.post_json(f"http://rebind.test:{port}/hook", {"message": "m"})
    assert error is not None and "link-local or cloud-metadata" in error
    assert connected == [("127.0.0.1", port)]


def _certificate_for(name: str, directory: Path) -> tuple[Path, Path]:
    """A CA (its PEM, for SSL_CERT_FILE) and a server certificate+key PEM for ``name``, signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def issue(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: str,
        signer: ec.EllipticCurvePrivateKey,
        ca: bool,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now.replace(year=now.year - 1))
            .not_valid_after(now.replace(year=now.year + 1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = issue("cost-mcp test CA", ca_key, "cost-mcp test CA", ca_key, ca=True)
    leaf = issue(name, key, "cost-mcp test CA", ca_key, ca=False)
    ca_pem, server_pem = directory / "ca.pem", directory / "server.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_pem.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_pem, server_pem


def test_an_https_webhook_pinned_to_its_address_still_checks_the_names_certificate(
    two_addresses: tuple[int, list[HTTPServer]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import ssl

    port, servers = two_addresses
    ca_pem, server_pem = _certificate_for("rebind.test", tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_pem)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    for server in servers:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_pem))
    rebinding_dns(monkeypatch, "rebind.test")
    assert notify.post_json(f"https://rebind.test:{port}/hook", {"message": "m"}) is None
    assert HostRecorder.hits == [("127.0.0.1", f"rebind.test:{port}")] and names == ["rebind.test"]
    # a certificate for another name is refused as before: the check is the name's, not the address's
    rebinding_dns(monkeypatch, "other.test")
    error = notify.post_json(f"https://other.test:{port}/hook", {"message": "m"})
    assert error is not None and "ConnectError" in error
    assert len(HostRecorder.hits) == 1


async def test_a_typed_webhook_urls_secret_path_is_never_shown_back(
    receiver: str, home: Path, clock: None
) -> None:
    """A Slack or Discord webhook keeps its secret in the path: `budget set --webhook URL` keeps the
    URL (in the env file, to POST to it later), and every way it comes back out names scheme and
    host only, the delivery failure's log line and recorded error included."""
    port = int(receiver.split("@127.0.0.1:")[1].split("/", maxsplit=1)[0])
    url = f"http://127.0.0.1:{port}/services/T0/B0/{SECRET}"
    # Every attempt fails: a retry come due while the commands below run (under load) was delivered,
    # and left no failure to look at.
    Receiver.statuses[:] = [500] * 50
    made = cli("budget", "set", "d", "2", "--period", "day", "--webhook", url, "--confirm-webhook-url")
    assert made.returncode == 0, made.stderr
    spend_line(home, "a")
    shown = [made, cli("report")]
    assert len(Receiver.statuses) < 50, "the alert's POST was not attempted"
    shown += [
        cli("budget", *args) for args in (["status"], ["status", "--json"], ["list"], ["list", "--json"])
    ]
    assert all(done.returncode == 0 for done in shown), [done.stderr for done in shown]
    outputs = [done.stdout + done.stderr for done in shown]
    assert any(f"(http://127.0.0.1:{port}/…): HTTP 500" in out for out in outputs)  # the failure is told
    conn = connect(load_settings().db)
    try:
        rows = conn.execute("SELECT delivery_error FROM budget_alerts WHERE destination IS NOT NULL")
        errors = [str(e) for (e,) in rows.fetchall()]
    finally:
        conn.close()
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        outputs.append(texts(await client.call_tool("budget_status", {})))
        outputs.append(texts(await client.call_tool("check_budget", {"estimated_cost_usd": 1})))
    notify.drain()
    from tests.web.test_partial import dashboard

    with dashboard(load_settings()) as web:
        outputs += [web.get("/api/budgets").text]
    assert errors and all(f"http://127.0.0.1:{port}/…" in e for e in errors)
    for out in outputs + errors:
        assert SECRET not in out and "/services/" not in out


def test_a_proxy_the_environment_names_still_carries_webhooks_and_no_proxy_still_counts(
    two_addresses: tuple[int, list[HTTPServer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pinning the address must not change where a proxied environment sends an alert: with
    HTTP_PROXY set the POST goes to the proxy (which resolves the name), and a name NO_PROXY lists
    goes direct, to the vetted address (the URL then names an address NO_PROXY does not list)."""
    port, _ = two_addresses
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.2:{port}")  # the second receiver as the proxy
    rebinding_dns(monkeypatch, "proxied.test", then="127.0.0.1")
    assert notify.post_json(f"http://proxied.test:{port}/hook", {"message": "m"}) is None
    assert HostRecorder.hits == [("127.0.0.2", f"proxied.test:{port}")]
    monkeypatch.setenv("NO_PROXY", "direct.test")
    rebinding_dns(monkeypatch, "direct.test")
    assert notify.post_json(f"http://direct.test:{port}/hook", {"message": "m"}) is None
    assert HostRecorder.hits[1:] == [("127.0.0.1", f"direct.test:{port}")]
