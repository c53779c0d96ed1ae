"""Shared fixtures. Component fixtures live beside their tests."""

from __future__ import annotations

from hypothesis import settings

from tests.pgserver import database_url

# PostgreSQL tests use this machine's server, or a private one on a laptop (tests/pgserver.py).
PG_URL = database_url()

# Property tests are bounded and repeatable: the same examples on every run and machine, and no
# example database carried from one run to the next (CI must not depend on an earlier failure).
settings.register_profile("foredeck", derandomize=True, database=None, deadline=None)
settings.load_profile("foredeck")
