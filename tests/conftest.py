"""Shared fixtures. Component fixtures live beside their tests."""

from __future__ import annotations

import os

from hypothesis import settings

# PostgreSQL tests read their URL from this variable; the default is this machine's server.
PG_URL = os.environ.get("FOREDECK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Property tests are bounded and repeatable: the same examples on every run and machine, and no
# example database carried from one run to the next (CI must not depend on an earlier failure).
settings.register_profile("foredeck", derandomize=True, database=None, deadline=None)
settings.load_profile("foredeck")
