"""The package's long description (what pypi.org shows): README.md with its links into the source tree
made into plain text. README links its files by relative path, which a checkout resolves, but pypi.org
resolves nothing relative: "docs/architecture.md" led to a missing page and the dashboard's screenshot
was a broken image. No public repository address is known to make them absolute, so each names its
path in the source distribution (which carries docs/ and the example config); links to other sites
and to the README's own headings are kept. Run by hatchling (``[tool.hatch.metadata.hooks.custom]``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface

_EXTERNAL = r"(?![a-z][a-z0-9+.-]*:|#)"
"""A link target that is neither an address with a scheme (https:, mailto:) nor a heading (#...)."""
IMAGE = re.compile(rf"!\[([^\]]*)\]\({_EXTERNAL}([^)\s]+)\)")
LINK = re.compile(rf"(?<!!)\[([^\]]+)\]\({_EXTERNAL}([^)\s]+)\)")


def long_description(readme: str) -> str:
    """``readme`` with each relative image and link as text naming its path in the source distribution."""
    text = IMAGE.sub(lambda m: f"*{m[1]} (`{m[2]}` in the source distribution)*", readme)

    def link(m: re.Match[str]) -> str:
        said, path = m[1], m[2]
        return f"`{path}` (in the source distribution)" if said.strip("`") == path else f"{said} (`{path}`)"

    return LINK.sub(link, text)


class ReadmeHook(MetadataHookInterface):
    """Sets ``readme`` (dynamic in pyproject.toml) to :func:`long_description` of README.md."""

    def update(self, metadata: dict[str, Any]) -> None:
        """Hatchling's hook: fills in the readme from the file beside this one."""
        readme = Path(self.root, "README.md").read_text(encoding="utf-8")
        metadata["readme"] = {"content-type": "text/markdown", "text": long_description(readme)}
