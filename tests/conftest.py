"""Shared fixtures. Component fixtures live beside their tests."""

from __future__ import annotations

import os

# PostgreSQL tests read their URL from this variable; the default is this machine's server.
PG_URL = os.environ.get("FOREDECK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
