"""Tide as a component of `foredeck serve`: its loop follows the config's `sync_period`, and
without a `tide:` section it syncs nothing and records no pool."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from foredeck.config import JobConfig, load_config
from foredeck.db import session_factory
from foredeck.db.models import TidePool
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import Settings
from foredeck.tide import Tide
from foredeck.tide.tide import IDLE_INTERVAL
from tests.db.fixtures import Database


def make(db: Database, tmp_path: Path, jobs: JobConfig, started: threading.Event) -> Tide:
    settings = Settings.model_validate(
        {"database_url": db.url, "scm": {"provider": "local", "local_root": str(tmp_path)}}
    )
    provider = provider_from_settings(settings, db.engine)
    return Tide(db.engine, lambda: jobs, provider, on_started=started.set)


def test_without_a_tide_section_nothing_is_synced(sqlite_db: Database, tmp_path: Path) -> None:
    tide = make(sqlite_db, tmp_path, JobConfig(), threading.Event())
    assert tide._interval() == IDLE_INTERVAL
    tide.start()
    tide.notify()
    tide.stop(timeout=10)
    assert tide.last is not None and tide.last.pools == []
    with session_factory(sqlite_db.engine)() as s:
        assert s.execute(select(func.count()).select_from(TidePool)).scalar_one() == 0


def test_the_loop_follows_sync_period(sqlite_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text("tide: {sync_period: 90s, queries: [{repos: [acme/widget]}]}\n")
    jobs = load_config([path]).jobs
    (tmp_path / "acme").mkdir()
    tide = make(sqlite_db, tmp_path, jobs, threading.Event())
    assert tide._interval() == 90
    result = tide.sync_once()  # acme/widget is not there: skipped, not fatal
    assert result.pools == [] and result.merged == []
