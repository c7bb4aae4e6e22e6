"""The one exception hierarchy of cost-mcp.

Every error a caller can act on derives from :class:`CostMcpError`, and its message is written for the
person or model reading it: what went wrong and what to do. The MCP layer turns these into tool errors
that a model can read; anything else is a bug and its text never leaves the server.

Messages never contain secrets: code that raises them must not interpolate keys or auth headers.
"""

from __future__ import annotations

from collections.abc import Sequence


class CostMcpError(Exception):
    """Base class: an anticipated failure with an actionable, secret-free message."""


class InvalidInputError(CostMcpError):
    """An argument the caller can fix (bad date, negative tokens, unknown name...)."""


class UnknownModelError(InvalidInputError):
    """A model that no price source knows; carries the closest known model ids."""

    def __init__(
        self,
        model: str,
        provider: str | None,
        suggestions: Sequence[str],
        otherwise: str = "",
        elsewhere: Sequence[str] = (),
    ) -> None:
        """``otherwise``: what else the caller can do without a price (a sentence), e.g. check_budget's
        own estimate of the cost. ``elsewhere``: the providers that do price this very model id
        (:func:`cost_mcp.pricing.providers_pricing`)."""
        self.model = model
        self.provider = provider
        # The model's own id is no suggestion: 'Did you mean: llama-3.3-70b-versatile?' for that very
        # id sent a caller round in a circle, when what it lacked was the provider.
        self.suggestions = tuple(s for s in suggestions if s.lower() != model.lower())
        self.elsewhere = tuple(elsewhere)
        where = f" for provider {provider!r}" if provider else ""
        if self.elsewhere:
            others = ", ".join(repr(p) for p in self.elsewhere[1:])
            # Both spellings, as estimate_cost's note on requests: the CLI's user types an option.
            hint = (
                f" It is priced under provider {self.elsewhere[0]!r}"
                f"{f' (also {others})' if others else ''}: pass provider={self.elsewhere[0]!r}"
                f" (--provider {self.elsewhere[0]} on the command line)"
                f"{' if that is who serves it' if provider else ''}."
            )
        elif self.suggestions:
            hint = f" Did you mean: {', '.join(self.suggestions)}?"
        elif provider:
            # The provider was given already: asking for it again sends the caller round in a circle.
            hint = " Add its price to the price override file."
        else:
            hint = (
                " Pass `provider` explicitly (--provider on the command line), or add its price to "
                "the price override file."
            )
        super().__init__(
            f"No price known for model {model!r}{where}.{hint}{' ' + otherwise if otherwise else ''}"
        )


class SettingsError(InvalidInputError):
    """A setting (environment or env file) has a value that cannot be used; names the variable and fix."""


class NotFoundError(InvalidInputError):
    """A named thing (budget, session, subscription...) does not exist."""


class DatabaseError(CostMcpError):
    """The ledger cannot be opened or used (corrupt file, unwritable path, newer schema)."""


class LedgerNewerError(DatabaseError):
    """The ledger was migrated by a newer cost-mcp than this one: this code cannot use it."""


class LedgerUpgradedError(LedgerNewerError):
    """A newer cost-mcp migrated the ledger while this process ran: it reads and writes no more until
    restarted (its code does not know the new schema), and the message names the restart."""


class SourceError(CostMcpError):
    """A data source (log folder, provider API) failed; previous data is kept.

    ``status`` is the HTTP status a provider answered with, when there was one: some answers mean
    different things per provider (Groq's 403 is a plan without metrics, not a bad key).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderAuthError(SourceError):
    """A provider refused the key (HTTP 401/403): it is missing, wrong, or not an admin key.

    Never retried: asking again with the same key cannot succeed.
    """


class ProviderResponseError(SourceError):
    """A provider answered with something unusable: an error status, malformed JSON, an unexpected
    shape, or pagination that would never end."""
