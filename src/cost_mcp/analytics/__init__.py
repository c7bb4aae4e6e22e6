"""Answers to questions about spend: pure functions over the ledger and the pricer, no MCP."""
