"""Local stand-ins of external services, for development and tests; not part of the installed
product (pyproject's package list leaves them out) and never imported by clinic, visits or
rooms. Each runs with `python -m standins.<name>`."""
