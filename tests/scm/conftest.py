"""Fixtures for the GitHub client tests: the contract-checked double and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from foredeck.scm.github import GitHubClient
from tests.doubles import github_api
from tests.doubles.github_api import GitHubDouble

github_double = github_api.github_double  # the contract-checked double, as a fixture here

NOW = 1_700_000_000.0


class FakeSleep:
    """Records the waits the client asks for instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def fake_clock(github_double: GitHubDouble) -> FakeClock:
    """One fake time shared by the client and the double."""
    fake = FakeClock()
    github_double.clock = fake
    return fake


@pytest.fixture
async def github_client(
    github_double: GitHubDouble, fake_sleep: FakeSleep, fake_clock: FakeClock
) -> AsyncIterator[GitHubClient]:
    async with GitHubClient(
        github_double.token,
        base_url=github_double.url,
        sleep=fake_sleep,
        clock=fake_clock,
        jitter=lambda: 0.5,
    ) as gh:
        yield gh
