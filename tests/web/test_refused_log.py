"""The server's log of requests whose token it refused (:class:`RefusedTokenLog`): once a minute
per client address, path and reason, in a map of bounded size."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from starlette.types import Scope

from cost_mcp.web import http
from cost_mcp.web.http import REFUSED_TOKEN, RefusedTokenLog


def _scope(address: str) -> Scope:
    return {"type": "http", "client": (address, 40000), "path": "/v1/logs"}


def test_a_flood_of_addresses_does_not_put_every_client_back_in_the_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """QA: at 1,024 remembered refusals the whole map was cleared, so a flood of new addresses (a
    scan, a fleet's NAT rotating) made every client retrying a revoked token log again at once. The
    oldest go now: those logged over a minute ago first, then the oldest beyond the bound."""
    clock = SimpleNamespace(monotonic=lambda: 0.0)
    monkeypatch.setattr(http, "time", clock)
    log = RefusedTokenLog(every=60.0, keep=3)

    def note(address: str, at: float) -> None:
        clock.monotonic = lambda: at
        log.note(_scope(address), REFUSED_TOKEN)

    def logged() -> list[str]:
        found = [r.getMessage().split(" from ")[1].split(":")[0] for r in caplog.records]
        caplog.clear()
        return found

    caplog.set_level(logging.WARNING, logger="cost_mcp.http")
    note("10.0.0.1", 0.0)  # logged over a minute before the flood: the first to go
    note("10.0.0.2", 61.0)
    note("10.0.0.3", 62.0)
    assert logged() == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    note("10.0.0.4", 63.0)  # the map is full: the expired one makes room
    for address in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):  # retrying within their minute: quiet
        note(address, 64.0)
    assert logged() == ["10.0.0.4"]
    note("10.0.0.5", 65.0)  # full, none expired: the oldest (10.0.0.2) goes, the others stay quiet
    for address in ("10.0.0.3", "10.0.0.4", "10.0.0.5"):
        note(address, 66.0)
    assert logged() == ["10.0.0.5"]
    note("10.0.0.2", 67.0)  # forgotten to keep the map bounded: logged again, once
    note("10.0.0.2", 68.0)
    assert logged() == ["10.0.0.2"]
    note("10.0.0.3", 200.0)  # a minute on: logged again, as always
    assert logged() == ["10.0.0.3"]
