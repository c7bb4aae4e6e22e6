"""cost-mcp: what your AI use costs, to the cent, for people and the agents they run."""

__version__ = "0.1.0"
