"""Budget alerts POSTed as JSON to a configured webhook: reliably, and only where the user said.

Where an alert may go is the user's decision, never a model's: budgets name one of the webhooks in
``COST_MCP_WEBHOOKS`` (a person at the CLI may also give a URL, with an explicit confirmation flag: it
is kept in the env file's COST_MCP_WEBHOOKS under a name, and the ledger keeps the name only).
Whatever the source, link-local and cloud-metadata addresses are refused, before and after DNS
resolution, and the POST connects to the very addresses that were checked (never a second answer
of a name pointed elsewhere between check and connection; an HTTP_PROXY the environment names
resolves the name itself), so an alert can never read or poke a metadata service.

Delivery is a queue in the ledger (``budget_alerts.delivery``): an alert that fires with a
destination is ``pending`` until a POST is answered 2xx (``delivered``); a failure is retried with
exponential backoff from :data:`RETRY_BASE_SECONDS` and, after :data:`MAX_ATTEMPTS`, kept as
``failed`` with its error, which ``budget_status`` shows. Any process sharing the ledger may make the
next attempt (a row is claimed in a write transaction first, so two never POST the same attempt), so
an alert fired by a short-lived CLI run that could not be delivered is retried by the next one.

A webhook URL often carries its secret in its userinfo, query or path (Slack, Discord): logs, errors
and results name a destination by :func:`display_url` only, never the URL itself.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cost_mcp import __version__
from cost_mcp.config import Settings
from cost_mcp.errors import InvalidInputError
from cost_mcp.store import deliveries
from cost_mcp.store.connection import Conn

if TYPE_CHECKING:
    import httpx2

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 8
RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 3600.0
DRAIN_SECONDS = 15.0
"""How long a CLI command waits at exit for the alerts it fired to be POSTed."""

METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_METADATA_IPS = (
    ipaddress.ip_network("169.254.0.0/16"),  # link-local: AWS, GCP, Azure, OpenStack metadata
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS IMDS over IPv6
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud metadata
)


# --- where an alert may go ------------------------------------------------------------------------


def display_url(url: str) -> str:
    """How a destination is shown and logged: scheme and host (with port), never the userinfo,
    query or path, any of which may be the secret (Slack and Discord keep theirs in the path)."""
    # Without "://", "cost.example.com:4318" parses as scheme "cost.example.com" (shown as
    # "cost.example.com://?/…"): read as the host it is, and shown without a scheme.
    schemeless = "://" not in url
    try:
        parts = urlsplit("//" + url.strip() if schemeless else url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}{port}/…" if schemeless else f"{parts.scheme}://{host}{port}/…"


_EMBEDDING_V4 = (
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated, still routed by some stacks)
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64's well-known prefix
    ipaddress.ip_network("64:ff9b:1::/48"),  # NAT64 for local use
)
"""IPv6 prefixes whose last 32 bits are an IPv4 address a gateway or the stack may reach."""


def _forbidden_ip(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    seen: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        # Only the mapped form was read as the IPv4 address inside it: [::169.254.169.254],
        # [64:ff9b::169.254.169.254] (NAT64) and 6to4's [2002:a9fe:a9fe::] passed as IPv6.
        seen += [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour) if v4 is not None]
        if any(ip in net for net in _EMBEDDING_V4):
            seen.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return any(one in net for one in seen for net in _METADATA_IPS if net.version == one.version)


def check_url(url: str) -> str:
    """``url`` if it may receive alerts; InvalidInputError otherwise. Checks the text only (no DNS):
    http(s), a host, and not a link-local or cloud-metadata address."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        _ = parts.port  # raises on a malformed port
    except ValueError:
        raise InvalidInputError("a webhook must be an http:// or https:// URL with a host") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInputError("a webhook must be an http:// or https:// URL with a host")
    if host in METADATA_HOSTS or _forbidden_ip(host):
        raise InvalidInputError(
            f"webhook {display_url(url)} is a link-local or cloud-metadata address; alerts are never "
            "sent there"
        )
    return url


def _resolve_vetted(url: str) -> list[str]:
    """The addresses ``url``'s host resolves to now, in the resolver's order; InvalidInputError if
    any of them is link-local or a metadata address (checked at each delivery: a name can be pointed
    somewhere else after it was configured). The POST connects to these and nothing else."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise InvalidInputError(f"cannot resolve {host}: {exc.strerror or type(exc).__name__}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses or any(_forbidden_ip(address) for address in addresses):
        raise InvalidInputError(
            f"webhook {display_url(url)} resolves to a link-local or cloud-metadata address; not sent"
        )
    return addresses


def configured(settings: Settings, name: str) -> str:
    """The URL of the configured webhook ``name``; InvalidInputError naming the configured ones."""
    urls = settings.webhook_urls()
    if name not in urls:
        known = (
            f"configured webhooks: {', '.join(sorted(urls))}"
            if urls
            else 'no webhook is configured; the user can add one with COST_MCP_WEBHOOKS=\'{"ops": '
            '"https://hooks.example.com/x"}\' in the environment or the cost-mcp env file'
        )
        if "/" in name or "@" in name:
            # A URL given where a name goes (its scheme left off, or a model's): its path or
            # credentials may be the secret, so it is named by its host only.
            raise InvalidInputError(
                f"no webhook named so: {display_url(name)!r} looks like a URL, and webhooks are picked "
                f"by name ({known})"
            )
        raise InvalidInputError(f"no webhook named {name!r} ({known})")
    return check_url(urls[name])


@dataclass(frozen=True)
class Destination:
    """Where a budget's alerts go: a webhook configured in COST_MCP_WEBHOOKS, by name (a URL a person
    typed at the CLI is kept there first: the ledger never holds a URL, whose path may be its secret)."""

    name: str

    def encode(self) -> str:
        """As stored with a fired alert."""
        return f"name:{self.name}"

    @staticmethod
    def decode(text: str) -> Destination:
        """The inverse of :meth:`encode`."""
        return Destination(text.removeprefix("name:"))

    def resolve(self, settings: Settings) -> str:
        """The URL to POST to now (the name looked up in today's settings)."""
        return configured(settings, self.name)

    def label(self, settings: Settings) -> str:
        """A secret-free name for messages."""
        url = settings.webhook_urls().get(self.name) if _parses(settings) else None
        return f"webhook '{self.name}'" + (f" ({display_url(url)})" if url else "")


def _parses(settings: Settings) -> bool:
    try:
        settings.webhook_urls()
    except InvalidInputError:
        return False
    return True


# --- delivering -----------------------------------------------------------------------------------


_in_flight: set[str] = set()


class _HideWebhookUrls(logging.Filter):
    """httpx2 logs every request's full URL at INFO: for a webhook, log where it went, not its secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and _in_flight:
            record.args = tuple(display_url(str(a)) if str(a) in _in_flight else a for a in record.args)
        return True


logging.getLogger("httpx2").addFilter(_HideWebhookUrls())


CHAT_FIELDS = {
    "hooks.slack.com": "text",
    "discord.com": "content",
    "discordapp.com": "content",
    "chat.googleapis.com": "text",
}
"""Chat services whose incoming webhooks post a message and nothing else, by host, with the field
the message goes in. Slack answers 400 ``no_text`` to a body without ``text``, Discord refuses an
empty message without ``content``, and Google Chat refuses a field it does not know: each gets the
alert's message alone."""


def webhook_body(url: str, payload: Mapping[str, object]) -> dict[str, object]:
    """What one alert's POST to ``url`` carries: for a chat service of :data:`CHAT_FIELDS`, the
    alert's message in its field; for any other receiver, the alert's JSON with the message also as
    ``text`` (which Mattermost's and Rocket.Chat's incoming webhooks post, the rest ignore)."""
    message = f"cost-mcp: {payload.get('message', '')}"
    host = (urlsplit(url).hostname or "").lower()
    field = CHAT_FIELDS.get(host)
    if field is not None:
        return {field: message}
    return {**payload, "text": message}


def post_json(url: str, payload: Mapping[str, object]) -> str | None:
    """POST one alert; None when the receiver answered 2xx, else a secret-free reason."""
    # Here, not at the top: budgets import this module for every spend answer (a warm `cost-mcp
    # report` among them), and the HTTP client is ~60 ms of imports that only a POST needs.
    import httpx2

    try:
        check_url(url)
        addresses = _resolve_vetted(url)
    except InvalidInputError as exc:
        return str(exc)
    target = httpx2.URL(url)
    headers = {"user-agent": f"cost-mcp/{__version__}"}
    if _through_proxy(target):
        # The proxy the environment names resolves the name itself: sent to it as before.
        targets, client = [target], httpx2.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
    else:
        # Connect to the very addresses just vetted: were the client to resolve the name again, a
        # name answering a public address first and a metadata one second (DNS rebinding) would
        # pass. The URL names the address; the Host header and the TLS server name (certificate
        # check included) stay the name's. No environment proxy then (the URL no longer names the
        # host NO_PROXY may list); SSL_CERT_FILE and SSL_CERT_DIR still count.
        targets = [target.copy_with(host=address) for address in addresses]
        headers["host"] = target.netloc.decode("ascii")
        client = httpx2.Client(
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
            trust_env=False,
            verify=httpx2.create_ssl_context(),
        )
    # a redirect could point anywhere, metadata included: never followed (follow_redirects=False)
    forms = {url, str(target), *(str(t) for t in targets)}
    _in_flight.update(forms)
    try:
        with client:
            for number, address in enumerate(targets, start=1):
                request = client.build_request(
                    "POST",
                    address,
                    json=webhook_body(url, payload),
                    headers=headers,
                    extensions={"sni_hostname": target.host},
                )
                try:
                    response = client.send(request)
                except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
                    # as a client resolving the name itself would: the next address the name gave
                    if number < len(targets):
                        continue
                    return f"{type(exc).__name__} (no answer)"
                break
    except httpx2.HTTPError as exc:
        return f"{type(exc).__name__} (no answer)"
    finally:
        _in_flight.difference_update(forms)
    if response.is_success:
        return None
    return f"HTTP {response.status_code}"


def _through_proxy(url: httpx2.URL) -> bool:
    """Whether the environment sends ``url`` through a proxy (HTTP_PROXY, HTTPS_PROXY or ALL_PROXY
    for its scheme, its host not in NO_PROXY), as the HTTP client reads them."""
    import urllib.request

    proxies = urllib.request.getproxies()
    return bool(proxies.get(url.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(url.host)


def retry_delay(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from RETRY_BASE_SECONDS, capped."""
    return float(min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS))


def deliver_due(conn: Conn, settings: Settings) -> int:
    """Make every delivery attempt that is due now; returns how many were delivered.

    Each due alert is claimed in a write transaction (so another process does not POST it at the
    same time), POSTed without holding the ledger, and its outcome recorded.
    """
    with _claims_lock:
        _passing.add(threading.get_ident())
    try:
        now_ms = int(time.time() * 1000)
        claimed = deliveries.claim_due(conn, now_ms, lease_ms=int((TIMEOUT_SECONDS + 30) * 1000))
        return sum(_attempt(conn, settings, alert) for alert in claimed)
    finally:
        with _claims_lock:
            _passing.discard(threading.get_ident())


def _attempt(conn: Conn, settings: Settings, alert: deliveries.Delivery) -> int:
    """One claimed attempt, POSTed and its outcome recorded; 1 when it was delivered."""
    destination = Destination.decode(alert.destination)
    try:
        url = destination.resolve(settings)
    except InvalidInputError as exc:
        error: str | None = str(exc)
    else:
        error = post_json(url, json.loads(alert.payload))
    label = destination.label(settings)
    if error is None:
        deliveries.mark_delivered(conn, alert)
        return 1
    give_up = alert.attempts >= MAX_ATTEMPTS
    logger.warning(
        "budget alert for '%s' not delivered to %s (attempt %d): %s%s",
        alert.budget,
        label,
        alert.attempts,
        error,
        "; giving up" if give_up else "",
    )
    next_ms = None if give_up else int((time.time() + retry_delay(alert.attempts)) * 1000)
    deliveries.mark_failed(conn, alert, f"{label}: {error}", next_ms)
    return 0


_claims_lock = threading.Lock()
_passing: set[int] = set()
"""The threads of this process making a delivery pass now (claiming, then POSTing what was claimed)."""
_worker_lock = threading.Lock()
_workers: list[threading.Thread] = []
_stop = threading.Event()


def start(settings: Settings) -> threading.Thread | None:
    """Deliver the due alerts on a background thread with its own connection to the ledger, then
    keep retrying pending ones as they come due, until none is left or :func:`drain` is called.

    Returns the thread (tests join it), or None when one is already running in this process.
    """
    with _worker_lock:
        if _workers and _workers[-1].is_alive():
            return None
        _stop.clear()
        worker = threading.Thread(target=_work, args=(settings,), name="cost-mcp-webhooks", daemon=True)
        _workers[:] = [worker]
        worker.start()
        return worker


def _work(settings: Settings) -> None:
    from cost_mcp.store.connection import connect

    try:
        conn = connect(settings.db, migrate_schema=False)
    except Exception:
        logger.exception("cannot open the ledger to deliver budget alerts")
        return
    try:
        while True:
            deliver_due(conn, settings)
            wait = deliveries.seconds_to_next(conn, int(time.time() * 1000))
            if wait is None or _stop.wait(max(wait, 1.0)):
                return
    except Exception:
        logger.exception("delivering budget alerts failed; the next query retries")
    finally:
        conn.close()


def settle(conn: Conn, timeout: float = TIMEOUT_SECONDS + 1.0) -> None:
    """Wait (up to ``timeout``) until this process is not delivering anything: no attempt in
    flight, and no due alert its worker is about to claim. Retries stay scheduled (unlike
    :func:`drain`), so a long-running server calls it before saying whether an alert is delivered:
    without it, an alert the worker was POSTing at that moment read "not delivered yet"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _claims_lock:
            busy = bool(_passing)
        with _worker_lock:
            working = bool(_workers) and _workers[-1].is_alive()
        if not busy and not (working and deliveries.any_due(conn, int(time.time() * 1000))):
            return
        time.sleep(0.05)


def drain(timeout: float = DRAIN_SECONDS) -> None:
    """Let the attempt in flight finish (up to ``timeout``) and stop retrying in this process: a
    short-lived CLI command calls it before exiting, so what it fired is POSTed, and what failed is
    left pending in the ledger for the next process to retry."""
    _stop.set()
    for worker in list(_workers):
        worker.join(timeout)
