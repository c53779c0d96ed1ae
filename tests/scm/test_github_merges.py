"""The merge pool's GitHub calls (`scm.github_merges`) against the contract-checked double."""

from __future__ import annotations

import pytest

from foredeck.scm.github import GitHubClient
from foredeck.scm.github_types import GitHubError
from foredeck.scm.merges import OpenIssue
from tests.doubles.github_api import GitHubDouble

HEAD = "0123456789abcdef0123456789abcdef01234567"
OTHER = "89abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture
def gh(github_double: GitHubDouble) -> GitHubDouble:
    github_double.add_repo("org", "repo")
    github_double.add_pull("org", "repo", 7, head_sha=HEAD, labels=["lgtm"])
    github_double.add_pull("org", "repo", 8, head_sha=OTHER)
    return github_double


async def test_merge_moves_the_base_and_closes_the_pull(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    before = gh.repo("org", "repo").branches["main"]
    merged = await github_client.merge_pull("org", "repo", 7, sha=HEAD, method="squash")
    issue = gh.repo("org", "repo").issues[7]
    assert issue.pull is not None and issue.pull.merged and issue.state == "closed"
    assert gh.merges == [("org/repo", 7, "squash")]
    assert gh.repo("org", "repo").branches["main"] == merged != before
    assert gh.calls("pulls/merge") == ["PUT /repos/org/repo/pulls/7/merge"]


async def test_a_moved_head_or_an_unmergeable_pull_is_refused(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    with pytest.raises(GitHubError) as moved:
        await github_client.merge_pull("org", "repo", 7, sha=OTHER)
    assert moved.value.status == 409
    gh.pull("org", "repo", 8).mergeable = False
    with pytest.raises(GitHubError) as conflict:
        await github_client.merge_pull("org", "repo", 8, sha=OTHER, method="rebase")
    assert conflict.value.status == 405


async def test_issues_labelled_lists_issues_not_pulls(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    gh.add_issue("org", "repo", 3, title="Freeze: release", labels=["tide/merge-blocker"])
    gh.add_issue("org", "repo", 4, title="Unrelated")
    gh.repo("org", "repo").issues[8].labels.append("tide/merge-blocker")
    found = await github_client.issues_labelled("org", "repo", "tide/merge-blocker")
    assert found == [OpenIssue(3, "Freeze: release", "https://github.com/org/repo/issues/3")]


async def test_statuses_of_many_heads(gh: GitHubDouble, github_client: GitHubClient) -> None:
    await github_client.create_status("org", "repo", HEAD, "success", "unit")
    await github_client.create_status("org", "repo", OTHER, "pending", "unit")
    found = await github_client.statuses_of("org", "repo", [HEAD, OTHER, HEAD])
    assert {sha: [(s.context, s.state) for s in v] for sha, v in found.items()} == {
        HEAD: [("unit", "success")],
        OTHER: [("unit", "pending")],
    }
