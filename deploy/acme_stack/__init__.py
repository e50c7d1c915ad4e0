"""Local stack orchestrator for the Acme Platform repo (stdlib only).

Run as ``python3 deploy/stack.py <command>`` or through the Makefile targets.
Heavy lifting (pip, uv, twine, pypiserver, psycopg) happens in subprocesses that run
from the tools venv, so this package itself never needs anything beyond the stdlib.
"""
