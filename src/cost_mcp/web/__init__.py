"""The web dashboard: a Starlette app over the analytics functions, and the page it serves."""
