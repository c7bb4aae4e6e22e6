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
    """An identity provider's signing key, its JWKS served on 127.0.0.1, and tokens it signs."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
        self.fetches: list[float] = []
        """When the JWKS was fetched (monotonic seconds)."""
        fetches = self.fetches

        class Jwks(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fetches.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.http.server_address[1]}/jwks.json"

    def token(self, email: str, **claims: Any) -> str:
        """A JWT for ``email`` from :data:`ISSUER` to :data:`AUDIENCE`, valid for ten minutes;
        ``claims`` add to or replace those."""
        base = {"iss": ISSUER, "aud": AUDIENCE, "email": email, "sub": "u1", "exp": int(time.time()) + 600}
        return jwt.encode({**base, **claims}, self.key, algorithm="RS256", headers={"kid": "k1"})

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
