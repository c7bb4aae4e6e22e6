"""Fake identity providers on 127.0.0.1, for a team server that takes their JWTs.

One place for the tests (``tests/web/test_jwt_identity.py``, ``tests/web/test_team.py``) and the
benchmark of a provider that hangs (``bench/bench_jwks_down.py``, which imports this module as it
imports ``tests.pg_cluster``): :class:`Idp` serves its signing key's JWKS and signs tokens,
:class:`SilentIdp` takes connections on its JWKS URL and never answers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://idp.example.com/"
AUDIENCE = "cost-mcp"


class Idp:
    """An identity provider's signing keys (``k1`` and any more ``kids``), its JWKS served on
    127.0.0.1, and tokens it signs. ``published`` names the key ids the JWKS lists; while ``down``
    is set, the JWKS URL answers 503 (the provider in an outage); while ``garbage`` is set, it answers
    200 with those bytes as its JSON (a provider answering with a broken page)."""

    def __init__(self, kids: tuple[str, ...] = ("k1",)) -> None:
        self.keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in kids}
        self.key = self.keys["k1"]
        self.published = set(kids)
        self.down = threading.Event()
        self.garbage: bytes | None = None
        self.fetches: list[float] = []
        """When the JWKS was fetched (monotonic seconds)."""
        idp = self

        class Jwks(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                idp.fetches.append(time.monotonic())
                if idp.down.is_set():
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(idp.jwks() if idp.garbage is None else idp.garbage)

            def log_message(self, *_args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.http.server_address[1]}/jwks.json"

    def jwks(self) -> bytes:
        """The JWKS document: the public half of each published key."""
        keys = []
        for kid in sorted(self.published):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return json.dumps({"keys": keys}).encode()

    def token(self, email: str, kid: str = "k1", **claims: Any) -> str:
        """A JWT for ``email`` from :data:`ISSUER` to :data:`AUDIENCE` signed with ``kid``, valid
        for ten minutes; ``claims`` add to or replace those."""
        base = {"iss": ISSUER, "aud": AUDIENCE, "email": email, "sub": "u1", "exp": int(time.time()) + 600}
        return jwt.encode({**base, **claims}, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        """Stop serving the JWKS."""
        self.http.shutdown()
        self.http.server_close()


class SilentIdp:
    """An identity provider that hangs: its JWKS URL on 127.0.0.1 takes connections and never
    answers until :meth:`close`. ``accepted`` holds the connections (the server's fetches)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/jwks.json"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        """Stop listening and close the connections held."""
        self.sock.close()
        for conn in self.accepted:
            conn.close()
