"""Pagination, retries, rate limits and conditional requests of GitHubClient."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from foredeck.scm.github import GitHubClient
from foredeck.scm.github_http import RateLimitError
from foredeck.scm.github_types import GitHubError
from tests.doubles.github_api import GitHubDouble
from tests.scm.conftest import FakeClock, FakeSleep


@pytest.fixture
def gh(github_double: GitHubDouble) -> GitHubDouble:
    github_double.add_repo("org", "repo")
    github_double.add_pull("org", "repo", 1, files=[f"f{i:03}.txt" for i in range(250)])
    return github_double


async def test_pagination_follows_next_across_three_pages(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    files = await github_client.list_pull_files("org", "repo", 1)
    assert files == [f"f{i:03}.txt" for i in range(250)]
    pages = [r.query for r in gh.requests]
    assert pages == [
        {"per_page": "100"},
        {"per_page": "100", "page": "2"},
        {"per_page": "100", "page": "3"},
    ]


async def test_retry_on_502_then_success(
    gh: GitHubDouble, github_client: GitHubClient, fake_sleep: FakeSleep
) -> None:
    gh.fail_next(2, status=502)
    pull = await github_client.get_pull("org", "repo", 1)
    assert pull.number == 1
    assert [r.status for r in gh.requests] == [502, 502, 200]
    # Backoff 1 s then 2 s, each half fixed and half jittered (jitter pinned at 0.5).
    assert fake_sleep.waits == [0.75, 1.5]


async def test_writes_are_retried_on_5xx_too(
    gh: GitHubDouble, github_client: GitHubClient, fake_sleep: FakeSleep
) -> None:
    gh.fail_next(1, status=503)
    await github_client.create_status("org", "repo", "a" * 40, "pending", "ci")
    assert [r.status for r in gh.requests] == [503, 201]
    assert len(gh.statuses("org", "repo")) == 1


async def test_retries_exhausted_raises_the_last_error(
    gh: GitHubDouble, fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    gh.fail_next(10, status=500)
    async with GitHubClient(
        gh.token, base_url=gh.url, sleep=fake_sleep, clock=fake_clock, max_retries=3
    ) as client:
        with pytest.raises(GitHubError) as err:
            await client.get_pull("org", "repo", 1)
    assert err.value.status == 500
    assert len(gh.requests) == 4 and len(fake_sleep.waits) == 3


async def test_primary_rate_limit_waits_until_reset(
    gh: GitHubDouble, github_client: GitHubClient, fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    gh.rate_limit_primary(1, reset_in=30)
    pull = await github_client.get_pull("org", "repo", 1)
    assert pull.number == 1
    assert [r.status for r in gh.requests] == [403, 200]
    assert fake_sleep.waits == [30 + 1]  # until x-ratelimit-reset, plus a second of margin


async def test_primary_rate_limit_429(
    gh: GitHubDouble, github_client: GitHubClient, fake_sleep: FakeSleep
) -> None:
    gh.rate_limit_primary(1, reset_in=12, status=429)
    await github_client.get_pull("org", "repo", 1)
    assert fake_sleep.waits == [13]


async def test_rate_limit_longer_than_max_wait_fails_without_sleeping(
    gh: GitHubDouble, fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    gh.rate_limit_primary(1, reset_in=3000)
    async with GitHubClient(
        gh.token, base_url=gh.url, sleep=fake_sleep, clock=fake_clock, max_wait=600
    ) as client:
        with pytest.raises(RateLimitError) as err:
            await client.get_pull("org", "repo", 1)
    assert err.value.status == 403 and err.value.wait == 3001
    assert "rate limit exceeded" in str(err.value)
    assert fake_sleep.waits == [] and len(gh.requests) == 1


async def test_secondary_rate_limit_honours_retry_after(
    gh: GitHubDouble, github_client: GitHubClient, fake_sleep: FakeSleep
) -> None:
    gh.rate_limit_secondary(1, retry_after=7)
    await github_client.add_labels("org", "repo", 1, ["lgtm"])
    assert [r.status for r in gh.requests] == [403, 200]
    assert fake_sleep.waits == [7]
    assert gh.issue_labels("org", "repo", 1) == ["lgtm"]


async def test_secondary_rate_limit_without_retry_after_waits_a_minute_then_backs_off(
    gh: GitHubDouble, github_client: GitHubClient, fake_sleep: FakeSleep
) -> None:
    gh.rate_limit_secondary(2, retry_after=None)
    await github_client.get_pull("org", "repo", 1)
    assert fake_sleep.waits == [60, 60]


async def test_plain_403_is_not_retried(gh: GitHubDouble, github_client: GitHubClient) -> None:
    gh.fail_next(1, status=403)
    with pytest.raises(GitHubError) as err:
        await github_client.get_pull("org", "repo", 1)
    assert err.value.status == 403 and not isinstance(err.value, RateLimitError)
    assert len(gh.requests) == 1


async def test_etag_304_served_from_cache_and_not_charged(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    first = await github_client.get_pull("org", "repo", 1)
    remaining = gh.rate_remaining
    second = await github_client.get_pull("org", "repo", 1)
    assert second == first
    sent = gh.requests[-1]
    assert sent.headers["if-none-match"].startswith('W/"') and sent.status == 304
    assert gh.rate_remaining == remaining  # 304s do not count against the rate limit

    gh.repo("org", "repo").issues[1].title = "Renamed"
    third = await github_client.get_pull("org", "repo", 1)
    assert third.title == "Renamed" and gh.requests[-1].status == 200
    assert gh.rate_remaining == remaining - 1


async def test_etag_revalidation_covers_every_page(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    await github_client.list_pull_files("org", "repo", 1)
    again = await github_client.list_pull_files("org", "repo", 1)
    assert len(again) == 250
    assert [r.status for r in gh.requests] == [200, 200, 200, 304, 304, 304]


async def test_connection_errors_are_retried_then_reported(fake_sleep: FakeSleep) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with GitHubClient(
        "t0ken", base_url=f"http://127.0.0.1:{port}", sleep=fake_sleep, max_retries=2
    ) as client:
        with pytest.raises(GitHubError) as err:
            await client.get_pull("org", "repo", 1)
    assert err.value.status == 0 and "ConnectError" in str(err.value)
    assert len(fake_sleep.waits) == 2


async def test_link_to_another_host_is_not_followed(fake_sleep: FakeSleep) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        link = '<https://evil.example/repos/o/r/pulls/1/files?page=2>; rel="next"'
        return httpx.Response(200, json=[{"filename": "a"}], headers={"link": link})

    async with GitHubClient(
        "t0ken", base_url="https://ghe.example/api/v3", transport=httpx.MockTransport(answer)
    ) as client:
        with pytest.raises(GitHubError, match="refusing to follow a link off"):
            await client.list_pull_files("o", "r", 1)
    assert seen == ["https://ghe.example/api/v3/repos/o/r/pulls/1/files?per_page=100"]


async def test_token_never_logged(
    gh: GitHubDouble, github_client: GitHubClient, caplog: pytest.LogCaptureFixture
) -> None:
    gh.fail_next(1)
    with caplog.at_level(logging.DEBUG):
        await github_client.get_pull("org", "repo", 1)
        with pytest.raises(GitHubError) as err:
            await github_client.get_pull("org", "repo", 404)
    assert "retrying in" in caplog.text and "/pulls/1" in caplog.text
    assert gh.token not in caplog.text
    assert gh.token not in str(err.value) and gh.token not in repr(github_client)
    assert repr(github_client) == f"GitHubClient(base_url={gh.url!r}, auth=TokenAuth(token='***'))"


async def test_etag_cache_is_bounded_in_bytes(gh: GitHubDouble, fake_sleep: FakeSleep) -> None:
    gh.set_file("org", "repo", "small", "x")
    gh.set_file("org", "repo", "big", "y" * 5000)
    async with gh.client(sleep=fake_sleep, etag_cache_bytes=8000) as client:
        for _ in range(2):
            await client.get_file_content("org", "repo", "small")
            await client.get_file_content("org", "repo", "big")  # over 1/8 of the budget
    conditional = [r.path for r in gh.requests if "if-none-match" in r.headers]
    assert conditional == ["/repos/org/repo/contents/small"]
