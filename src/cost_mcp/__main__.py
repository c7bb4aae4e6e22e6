"""`python -m cost_mcp` behaves exactly like the `cost-mcp` command."""

from cost_mcp.launcher import main

if __name__ == "__main__":
    raise SystemExit(main())
