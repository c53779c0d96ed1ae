from collections.abc import AsyncIterator

import pytest

from foredeck.report import Reporter
from tests.db.fixtures import Database, db, pg_db, pg_schema_url, sqlite_db
from tests.doubles.github_api import GitHubDouble, github_double
from tests.report.jobs import DASH, HEAD, ORG, PR, REPO

__all__ = ["db", "github_double", "pg_db", "pg_schema_url", "sqlite_db"]


@pytest.fixture
def gh(github_double: GitHubDouble) -> GitHubDouble:
    """The double with the pull request every reporter test is about."""
    github_double.add_repo(ORG, REPO)
    github_double.add_pull(ORG, REPO, PR, author="alice", head_sha=HEAD)
    return github_double


@pytest.fixture
async def reporter(gh: GitHubDouble, db: Database) -> AsyncIterator[Reporter]:
    rep = Reporter(db.engine, gh.client, dashboard_url=DASH, retry_backoff=0)
    yield rep
    await rep.aclose()
