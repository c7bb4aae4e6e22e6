"""Budget alerts POSTed as JSON to a budget's webhook: in the background, never blocking a call.

A webhook URL often carries its secret in its path, so logs name only its host.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import httpx2

from cost_mcp import __version__

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5.0


def _host(url: str) -> str:
    return urlsplit(url).netloc or "?"


def post_json(url: str, payload: Mapping[str, object]) -> bool:
    """POST one alert; True when the receiver answered 2xx. Failures are logged, never raised."""
    try:
        response = httpx2.post(
            url,
            json=dict(payload),
            timeout=TIMEOUT_SECONDS,
            headers={"user-agent": f"cost-mcp/{__version__}"},
        )
    except httpx2.HTTPError as exc:
        logger.warning("budget webhook to %s failed: %s", _host(url), type(exc).__name__)
        return False
    if response.is_success:
        return True
    logger.warning("budget webhook to %s answered HTTP %d", _host(url), response.status_code)
    return False


def deliver(alerts: Sequence[tuple[str, Mapping[str, object]]]) -> threading.Thread | None:
    """POST each (url, payload) on a background thread; returns it (tests join it), or None."""
    if not alerts:
        return None

    def run() -> None:
        for url, payload in alerts:
            post_json(url, payload)

    thread = threading.Thread(target=run, name="cost-mcp-webhooks", daemon=True)
    thread.start()
    return thread
