"""The MCP App: found through tools/list, read as a ui:// resource, rendered in Chromium inside a test
host that speaks the MCP Apps postMessage protocol and hands it the tool's result."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from cost_mcp.analytics import spend
from cost_mcp.config import Settings
from cost_mcp.money import format_usd
from cost_mcp.store import connect

APP_MIME = "text/html;profile=mcp-app"

HOST = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>test host</title></head>
<body><iframe id="view" sandbox="allow-scripts" style="width:1100px;height:2400px;border:0"></iframe>
<script>
  // A minimal MCP Apps host: answers ui/initialize, then sends the tool input and result; proxies
  // tools/call from the view to the MCP server (here: a Python function exposed by the test).
  // A test can make it slow, as a real host and server can be: ``window.resultLater`` keeps the
  // opening call's result until ``sendResult()``, ``window.holding`` the next answers to tools/call
  // until ``release()``; ``roundTrip()`` resolves once the view has read every message sent before.
  window.seen = [];
  window.resultLater = false;
  window.holding = 0;
  window.held = [];
  const view = document.getElementById("view");
  const send = (m) => view.contentWindow.postMessage(m, "*");
  const pings = {};
  window.sendResult = () =>
    send({jsonrpc: "2.0", method: "ui/notifications/tool-result", params: window.toolResult});
  window.release = () => { window.held.splice(0).forEach(send); };
  window.roundTrip = () => new Promise((resolve) => {
    const id = "ping-" + Math.random();
    pings[id] = resolve;
    send({jsonrpc: "2.0", id: id, method: "ping"});
  });
  window.addEventListener("message", async (e) => {
    if (e.source !== view.contentWindow) return;
    const m = e.data;
    if (m.method === undefined && pings[m.id]) { pings[m.id](); delete pings[m.id]; return; }
    window.seen.push(m.method || "response");
    if (m.method === "ui/initialize") {
      send({jsonrpc: "2.0", id: m.id, result: {protocolVersion: "2026-01-26",
        hostInfo: {name: "test-host", version: "1"}, hostCapabilities: {serverTools: {}},
        hostContext: {theme: "light", displayMode: "inline"}}});
    } else if (m.method === "ui/notifications/initialized") {
      send({jsonrpc: "2.0", method: "ui/notifications/tool-input", params: {arguments: {}}});
      if (!window.resultLater) window.sendResult();
    } else if (m.method === "tools/call") {
      const hold = window.holding > 0;
      if (hold) window.holding--;
      const result = await window.callTool(JSON.stringify(m.params));
      const answer = {jsonrpc: "2.0", id: m.id, result: JSON.parse(result)};
      if (hold) window.held.push(answer); else send(answer);
    }
  });
</script></body></html>"""


async def _over_mcp(call: dict[str, Any] | None = None) -> dict[str, Any]:
    from cost_mcp.server import mcp

    async with Client(mcp, raise_exceptions=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        apps = {name: t.meta["ui"]["resourceUri"] for name, t in tools.items() if t.meta and "ui" in t.meta}
        name, uri = next(iter(apps.items()))
        resource = (await client.read_resource(uri)).contents[0]
        result = await client.call_tool(name, (call or {}).get("arguments", {}))
        return {
            "apps": apps,
            "annotations": tools[name].annotations,
            "mime": resource.mime_type,
            "html": getattr(resource, "text", ""),
            "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
        }


def over_mcp(call: dict[str, Any] | None = None) -> dict[str, Any]:
    """Talk to the real server over the in-memory MCP client, from any thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, _over_mcp, call).result()


def test_the_app_tool_points_at_a_ui_resource_that_renders_its_result(
    browser: Any, seeded: Settings, artifacts: Path
) -> None:
    got = over_mcp()
    assert got["apps"] == {"show_dashboard": "ui://cost-mcp/dashboard.html"}
    assert got["annotations"].read_only_hint is True
    assert got["mime"] == APP_MIME
    html, result = got["html"], got["result"]
    structured = result["structuredContent"]
    conn = connect(seeded.db)
    try:
        p = spend.resolve(seeded, "this_month", None, None, None)
        month = spend.get_spend(conn, seeded, p).total_usd
        anthropic = spend.get_spend(conn, seeded, p, (), spend.Filters(providers=["anthropic"])).total_usd
    finally:
        conn.close()
    assert Decimal(str(structured["this_month"]["total_usd"])) == month
    # a host without apps gets the same facts as text
    assert f"this month: {format_usd(month)}" in result["content"][0]["text"]

    context = browser.new_context(viewport={"width": 1150, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.expose_function("callTool", _call)
    page.set_content(HOST)
    page.evaluate("r => { window.toolResult = r; }", result)
    page.evaluate("html => { document.getElementById('view').srcdoc = html; }", html)
    view = page.frame_locator("#view")
    view.locator("body[data-ready]").wait_for()
    assert Decimal(view.locator("#total-month").get_attribute("data-usd")) == month
    assert view.locator("#total-month").inner_text() == format_usd(month)
    # The seeded call with no known price is left out of each section's total, and each says so.
    for where in ("#period-unpriced", "#breakdown-unpriced", "#hourly-unpriced"):
        assert view.locator(where).inner_text().strip() == "+ 1 unpriced call not in the total", where
    assert view.locator('[data-budget="daily-cap"]').get_attribute("data-status") == "exceeded"
    # The view is the page's app.js: each gauge names its days, each projection its rate.
    today = spend.resolve(seeded, "today", None, None, None)
    assert view.locator('[data-budget="daily-cap"] .budget-days').inner_text() == f"counts {today.first_day}"
    assert "at the last 7 whole days' rate" in view.locator("#forecast").inner_text()
    assert "average per hour so far, today included" in view.locator('[data-budget="monthly"]').inner_text()
    assert page.evaluate("window.seen.slice(0, 2)") == ["ui/initialize", "ui/notifications/initialized"]
    page.screenshot(path=str(artifacts / "mcp-app.png"), full_page=True)

    # The controls ask the host to call the tool again, with the filter as its arguments.
    view.locator('select[name="providers"]').select_option("anthropic")
    view.locator("body[data-renders='2']").wait_for()
    assert Decimal(view.locator("#total-month").get_attribute("data-usd")) == anthropic != month
    assert errors == []
    assert [u for u in requests if not u.startswith(("about:", "data:"))] == []
    context.close()


def _call(params: str) -> str:
    import json

    request = json.loads(params)
    assert request["name"] == "show_dashboard"
    return json.dumps(over_mcp({"arguments": request["arguments"]})["result"])


@contextmanager
def hosted(browser: Any, *, result_later: bool = False) -> Iterator[tuple[Any, Any]]:
    """The app opened in the test host, initialized: the host page and the view's frame.
    ``result_later``: the host keeps the opening tool call's result until ``sendResult()``."""
    got = over_mcp()
    context = browser.new_context(viewport={"width": 1150, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.expose_function("callTool", _call)
        page.set_content(HOST)
        page.evaluate(
            "([r, later]) => { window.toolResult = r; window.resultLater = later; }",
            [got["result"], result_later],
        )
        page.evaluate("html => { document.getElementById('view').srcdoc = html; }", got["html"])
        page.wait_for_function("() => window.seen.includes('ui/notifications/initialized')")
        yield page, page.frame_locator("#view")
        assert errors == []
    finally:
        context.close()


def on_show(view: Any) -> tuple[str, str, str]:
    """The period the view's select shows, the period its daily figures are of, and how many times
    it has drawn figures."""
    return (
        view.locator('select[name="period"]').input_value(),
        view.locator("#daily p").first.inner_text().split(":")[0].split(" (")[0],
        view.locator("body").get_attribute("data-renders"),
    )


def test_a_late_answer_for_an_earlier_choice_is_not_drawn_over_the_latest(
    browser: Any, seeded: Settings
) -> None:
    # Last month's figures, slow to come, arrived after the person had chosen today and today's
    # were drawn: the view drew last month's, and "Today" was no longer what it showed.
    with hosted(browser) as (page, view):
        view.locator("body[data-renders='1']").wait_for(state="attached")
        page.evaluate("window.holding = 1")
        view.locator('select[name="period"]').select_option("last_month")
        page.wait_for_function("() => window.held.length === 1")
        view.locator('select[name="period"]').select_option("today")
        view.locator("body[data-renders='2']").wait_for(state="attached")
        assert on_show(view) == ("today", "Total today", "2")
        page.evaluate("window.release()")
        page.evaluate("window.roundTrip()")  # the view has read the late answer
        assert on_show(view) == ("today", "Total today", "2")


def test_the_opening_calls_late_result_is_not_drawn_over_a_newer_answer(
    browser: Any, seeded: Settings
) -> None:
    # The host's result of the tool call that opened the view (this month) came after the person
    # had already chosen today and today's figures were drawn: it drew this month's over them.
    with hosted(browser, result_later=True) as (page, view):
        view.locator('select[name="period"]').select_option("today")
        view.locator("body[data-renders='1']").wait_for(state="attached")
        assert on_show(view) == ("today", "Total today", "1")
        page.evaluate("window.sendResult()")
        page.evaluate("window.roundTrip()")
        assert on_show(view) == ("today", "Total today", "1")


def test_the_opening_calls_result_is_drawn_while_a_choice_is_on_its_way(
    browser: Any, seeded: Settings
) -> None:
    # No answer drawn yet: the figures the view was opened with are better than none, and the
    # answer to the choice, when it comes, is drawn over them.
    with hosted(browser, result_later=True) as (page, view):
        page.evaluate("window.holding = 1")
        view.locator('select[name="period"]').select_option("today")
        page.wait_for_function("() => window.held.length === 1")
        page.evaluate("window.sendResult()")
        view.locator("body[data-renders='1']").wait_for(state="attached")
        assert on_show(view) == ("this_month", "Total this month", "1")
        page.evaluate("window.release()")
        view.locator("body[data-renders='2']").wait_for(state="attached")
        assert on_show(view) == ("today", "Total today", "2")
