"""The SQLite ledger: connection, migrations and the queries that read and write it."""

from cost_mcp.store.connection import Ledger, connect, write_transaction
from cost_mcp.store.migrations import MIGRATIONS, migrate

__all__ = ["MIGRATIONS", "Ledger", "connect", "migrate", "write_transaction"]
