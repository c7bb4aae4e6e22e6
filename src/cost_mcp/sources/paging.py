"""What a fetcher needs of :mod:`cost_mcp.sources.http` without its HTTP client: the JSON type and
the one pagination loop (the module's docstring says the rules it keeps).

Apart from http.py because every provider module imports these at its top, and the registry
imports every provider module: through them, any answer that lists the providers (a warm `cost-mcp
report` with none configured included) imported httpx2 and stamina, ~60-100 ms, for no request.
The client itself (:class:`~cost_mcp.sources.http.ProviderClient`) is imported where a fetch runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, TypeVar

from cost_mcp.errors import ProviderResponseError

MAX_PAGES = 200
"""Far above any real range (a year of daily buckets is 12 pages of 31); only a loop gets here."""

Json = dict[str, Any]

Position = TypeVar("Position", bound=Hashable)
Page = TypeVar("Page")


async def follow_pages(
    get: Callable[[Position], Awaitable[Page]],
    after: Callable[[Page, Position], Position | None],
    first: Position,
    *,
    what: str,
    position: str = "page",
    max_pages: int = MAX_PAGES,
    hint: str = "",
) -> AsyncIterator[Page]:
    """Every page of a listing, in order: the one pagination loop every fetcher uses.

    ``get(first)`` is the first page; ``after(page, where)`` says where the next one is (a cursor,
    an offset, a page number, a link), or None when ``page`` was the last. Whatever the scheme,
    a position seen before (the API would send the same pages forever) and more than
    ``max_pages`` pages stop with a ProviderResponseError naming ``what`` (the path), rather than
    loop on an API that always says "more"; ``hint`` says what the user can do about it.
    """
    seen: set[Position] = set()
    where = first
    for _ in range(max_pages):
        page = await get(where)
        yield page
        following = after(page, where)
        if following is None:
            return
        seen.add(where)
        if following in seen:
            shown = following[:40] if isinstance(following, str) else following
            raise ProviderResponseError(
                f"{what} returned the {position} {shown!r} twice; stopped rather than fetch the same "
                "pages forever"
            )
        where = following
    raise ProviderResponseError(
        f"{what} still had more after {max_pages} pages; stopped" + (f" ({hint})" if hint else "")
    )
