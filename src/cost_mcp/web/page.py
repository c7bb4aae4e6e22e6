"""The dashboard page, in its two forms: served with its files (web) or self-contained (MCP App).

One template, one stylesheet and one script serve both. The web page links the files (so its
Content-Security-Policy can forbid inline code); the MCP App is a single HTML document, as a host
renders a ``ui://`` resource without any server behind it, so the files are inlined.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Literal

Mode = Literal["web", "app"]
_HEAD = "<!-- assets -->"


def _static(name: str) -> str:
    return (files("cost_mcp.web") / "static" / name).read_text(encoding="utf-8")


@cache
def page_html(mode: Mode) -> str:
    """The page: ``web`` links static/app.css and static/app.js, ``app`` inlines them."""
    template = _static("index.html")
    if mode == "web":
        assets = '<link rel="stylesheet" href="static/app.css">\n<script src="static/app.js" defer></script>'
    else:
        # "</" cannot occur inside the inlined script or style: it could close the element early.
        css, js = _static("app.css"), _static("app.js")
        if "</" in css or "</" in js:
            raise ValueError("app.css and app.js must not contain '</' (they are inlined in the MCP App)")
        assets = f"<style>\n{css}</style>\n<script>\n{js}</script>"
    return template.replace(_HEAD, assets).replace('data-mode="web"', f'data-mode="{mode}"')
