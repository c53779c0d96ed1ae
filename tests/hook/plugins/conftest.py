"""The GitHub doubles for the plugin tests (the database fixtures come from tests/hook)."""

from collections.abc import Iterator

import pytest

from tests.doubles import github_api
from tests.hook.plugins.stalling import StallingGitHub

github_double = github_api.github_double


@pytest.fixture
def stalling_github() -> Iterator[StallingGitHub]:
    double = StallingGitHub()
    with double:
        yield double
    github_api.assert_no_violations(double)
