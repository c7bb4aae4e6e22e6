"""Everything that brings data in: one module per source, no MCP imports."""
