"""The dashboard page, in its two forms: served with its files (web) or self-contained (MCP App).

One template, one stylesheet and one script serve both. The web page links the files (so its
Content-Security-Policy can forbid inline code); the MCP App is a single HTML document, as a host
renders a ``ui://`` resource without any server behind it, so the files are inlined.
"""

from __future__ import annotations

import base64
import hashlib
import html
from functools import cache
from importlib.resources import files
from typing import Literal

Mode = Literal["web", "app"]
_HEAD = "<!-- assets -->"
_SIGN_OUT = "<!-- sign-out -->"
SIGN_OUT_FORM = (
    '<form method="post" action="signout" class="signout" id="signout">'
    '<button type="submit">Sign out</button></form>'
)


def _static(name: str) -> str:
    return (files("cost_mcp.web") / "static" / name).read_text(encoding="utf-8")


@cache
def page_html(mode: Mode, *, sign_out: bool = False) -> str:
    """The page: ``web`` links static/app.css and static/app.js, ``app`` inlines them. ``sign_out``
    (a team server's page, opened by signing in) adds the sign-out button."""
    template = _static("index.html")
    if mode == "web":
        assets = '<link rel="stylesheet" href="static/app.css">\n<script src="static/app.js" defer></script>'
    else:
        # "</" cannot occur inside the inlined script or style: it could close the element early.
        css, js = _static("app.css"), _static("app.js")
        if "</" in css or "</" in js:
            raise ValueError("app.css and app.js must not contain '</' (they are inlined in the MCP App)")
        assets = f"<style>\n{css}</style>\n<script>\n{js}</script>"
    page = template.replace(_HEAD, assets).replace('data-mode="web"', f'data-mode="{mode}"')
    return page.replace(_SIGN_OUT, SIGN_OUT_FORM if sign_out else "")


@cache
def sign_in_style() -> tuple[str, str]:
    """The sign-in page's stylesheet (the dashboard's, and signin.css) and the CSP source
    that allows exactly it inline: the page must look like the dashboard without loading its files,
    which only a signed-in browser may fetch."""
    css = _static("app.css") + _static("signin.css")
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return css, f"'sha256-{digest}'"


def sign_in_html(*, action: str, message: str | None = None, query: str = "") -> str:
    """The team dashboard's sign-in page: a form that POSTs a pasted token to ``action``, with
    ``message`` (why the last try failed) above it and ``query`` (the dashboard's period and filters
    asked for, to return to) in a hidden field. No script; the only input echoed is ``query``, and
    everything shown is escaped."""
    css, _ = sign_in_style()
    said = f'<p class="status error" role="alert">{html.escape(message)}</p>\n' if message else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>cost-mcp: sign in</title>
<link rel="icon" href="data:,">
<style>{css}</style>
</head>
<body>
<header class="top"><h1>AI spend</h1></header>
<main class="signin">
<form method="post" action="{html.escape(action)}" id="signin">
<h2>Sign in to the team's dashboard</h2>
<p class="muted">Paste an admin token: a <code>cmt_</code> token from <code>cost-mcp token create NAME
--member EMAIL --role admin</code>, or your identity provider's access token.</p>
{said}<label>Token <input type="password" name="token" required autofocus autocomplete="off"
spellcheck="false"></label>
<input type="hidden" name="next" value="{html.escape(query)}">
<button type="submit">Sign in</button>
<p class="muted">The token is checked once and not kept: this browser gets a session for up to 12 hours,
which ends when you sign out or the token is revoked.</p>
</form>
</main>
<footer><p>cost-mcp · the team server's dashboard</p></footer>
</body>
</html>
"""
