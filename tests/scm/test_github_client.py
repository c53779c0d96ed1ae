"""Each GitHubClient method against the contract-checked GitHub double."""

from __future__ import annotations

import logging

import pytest

from foredeck.scm.github import GitHubClient
from foredeck.scm.github_types import GitHubError
from tests.doubles.github_api import GitHubDouble
from tests.doubles.github_state import FileChange

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def gh(github_double: GitHubDouble) -> GitHubDouble:
    github_double.add_repo("org", "repo")
    github_double.add_org_member("org", "alice")
    github_double.add_collaborator("org", "repo", "bob", "write")
    github_double.add_pull(
        "org",
        "repo",
        7,
        author="carol",
        title="Fix the frobnicator",
        body="details",
        head_sha=SHA,
        files=[
            "src/a.py",
            FileChange("docs/new.md", "renamed", previous_filename="docs/old.md"),
            FileChange("gone.txt", "removed"),
        ],
        labels=["kind/bug"],
    )
    return github_double


async def test_get_pull(gh: GitHubDouble, github_client: GitHubClient) -> None:
    pull = await github_client.get_pull("org", "repo", 7)
    assert (pull.number, pull.title, pull.body, pull.state) == (
        7,
        "Fix the frobnicator",
        "details",
        "open",
    )
    assert pull.user.login == "carol"
    assert pull.head.sha == SHA and pull.head.ref == "pr-7"
    assert pull.base.ref == "main" and pull.base.sha == gh.repo("org", "repo").branches["main"]
    assert pull.base.repo is not None and pull.base.repo.full_name == "org/repo"
    assert [label.name for label in pull.labels] == ["kind/bug"]
    assert gh.calls("pulls/get") == ["GET /repos/org/repo/pulls/7"]


async def test_get_pull_missing_raises_not_found(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    with pytest.raises(GitHubError) as err:
        await github_client.get_pull("org", "repo", 99)
    assert err.value.status == 404
    assert "/repos/org/repo/pulls/99" in str(err.value)


async def test_list_pull_files_includes_previous_names(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    files = await github_client.list_pull_files("org", "repo", 7)
    assert files == ["src/a.py", "docs/new.md", "docs/old.md", "gone.txt"]


async def test_org_membership(gh: GitHubDouble, github_client: GitHubClient) -> None:
    assert await github_client.is_org_member("org", "alice") is True
    assert await github_client.is_org_member("org", "mallory") is False


async def test_org_membership_hidden_is_no_and_not_followed(
    gh: GitHubDouble, github_client: GitHubClient, caplog: pytest.LogCaptureFixture
) -> None:
    gh.hide_org_membership("org")
    with caplog.at_level(logging.WARNING, logger="foredeck.scm.github"):
        assert await github_client.is_org_member("org", "alice") is False
    assert [r.status for r in gh.requests] == [302]  # the redirect was not followed
    assert "cannot see membership of org org" in caplog.text


async def test_collaborator_and_permission(gh: GitHubDouble, github_client: GitHubClient) -> None:
    gh.add_collaborator("org", "repo", "dave", "admin")
    gh.add_collaborator("org", "repo", "frank", "maintain")
    gh.add_collaborator("org", "repo", "gina", "triage")
    gh.user("erin")
    assert await github_client.is_collaborator("org", "repo", "bob") is True
    assert await github_client.is_collaborator("org", "repo", "alice") is False
    assert await github_client.get_user_permission("org", "repo", "bob") == "write"
    assert await github_client.get_user_permission("org", "repo", "dave") == "admin"
    assert await github_client.get_user_permission("org", "repo", "frank") == "write"
    assert await github_client.get_user_permission("org", "repo", "gina") == "read"
    assert await github_client.get_user_permission("org", "repo", "erin") == "none"
    assert await github_client.get_user_permission("org", "repo", "nobody-known") == "none"


async def test_assignees_add_and_remove(gh: GitHubDouble, github_client: GitHubClient) -> None:
    gh.user("mallory")
    # GitHub leaves out, without an error, users who cannot be assigned: the caller compares.
    assigned = await github_client.add_assignees("org", "repo", 7, ["alice", "bob", "mallory"])
    assert assigned == ["alice", "bob"]
    assert await github_client.add_assignees("org", "repo", 7, ["alice"]) == ["alice", "bob"]
    assert await github_client.remove_assignees("org", "repo", 7, ["alice", "carol"]) == ["bob"]
    assert gh.assignees("org", "repo", 7) == ["bob"]
    assert gh.calls("issues/remove-assignees") == ["DELETE /repos/org/repo/issues/7/assignees"]
    with pytest.raises(TypeError):
        await github_client.add_assignees("org", "repo", 7, "alice")
    with pytest.raises(ValueError, match="invalid GitHub login"):
        await github_client.add_assignees("org", "repo", 7, ["../admin"])


async def test_review_requests(gh: GitHubDouble, github_client: GitHubClient) -> None:
    gh.user("mallory")
    assert await github_client.request_reviewers("org", "repo", 7, ["alice", "bob"]) == [
        "alice",
        "bob",
    ]
    for refused in (["mallory"], ["carol"]):  # not a collaborator; the author
        with pytest.raises(GitHubError) as err:
            await github_client.request_reviewers("org", "repo", 7, refused)
        assert err.value.status == 422
    assert await github_client.remove_requested_reviewers("org", "repo", 7, ["alice"]) == ["bob"]
    assert gh.requested_reviewers("org", "repo", 7) == ["bob"]
    pull = await github_client.get_pull("org", "repo", 7)
    assert pull.number == 7  # the pull's JSON with reviewers still meets the contract


async def test_labels_add_list_remove(gh: GitHubDouble, github_client: GitHubClient) -> None:
    labels = await github_client.add_labels("org", "repo", 7, ["lgtm", "do-not-merge/hold"])
    assert [label.name for label in labels] == ["kind/bug", "lgtm", "do-not-merge/hold"]
    assert gh.issue_labels("org", "repo", 7) == ["kind/bug", "lgtm", "do-not-merge/hold"]

    await github_client.remove_label("org", "repo", 7, "do-not-merge/hold")  # a slash in the name
    assert gh.calls("issues/remove-label") == [
        "DELETE /repos/org/repo/issues/7/labels/do-not-merge/hold"
    ]
    assert [label.name for label in await github_client.list_issue_labels("org", "repo", 7)] == [
        "kind/bug",
        "lgtm",
    ]


async def test_remove_absent_label_is_fine(gh: GitHubDouble, github_client: GitHubClient) -> None:
    await github_client.remove_label("org", "repo", 7, "never-there")
    assert gh.requests[-1].status == 404
    assert gh.issue_labels("org", "repo", 7) == ["kind/bug"]


async def test_add_no_labels_posts_nothing(gh: GitHubDouble, github_client: GitHubClient) -> None:
    labels = await github_client.add_labels("org", "repo", 7, [])
    assert [label.name for label in labels] == ["kind/bug"]
    assert gh.calls(method="POST") == []


async def test_add_labels_rejects_bad_input_before_sending(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    with pytest.raises(TypeError, match="not one string"):
        await github_client.add_labels("org", "repo", 7, "lgtm")
    with pytest.raises(ValueError, match="must not be empty"):
        await github_client.add_labels("org", "repo", 7, ["ok", " "])
    assert gh.requests == []
    assert gh.issue_labels("org", "repo", 7) == ["kind/bug"]


async def test_comments_lifecycle(gh: GitHubDouble, github_client: GitHubClient) -> None:
    gh.add_comment("org", "repo", 7, "/lgtm", author="alice")
    created = await github_client.create_comment("org", "repo", 7, "Tests are running")
    assert created.user is not None and created.user.login == "foredeck-bot"

    edited = await github_client.edit_comment("org", "repo", created.id, "Tests passed")
    assert edited.id == created.id and edited.body == "Tests passed"

    comments = await github_client.list_issue_comments("org", "repo", 7)
    assert [(c.user.login if c.user else None, c.body) for c in comments] == [
        ("alice", "/lgtm"),
        ("foredeck-bot", "Tests passed"),
    ]

    await github_client.delete_comment("org", "repo", created.id)
    await github_client.delete_comment("org", "repo", created.id)  # already gone: fine
    assert [c.body for c in gh.comments("org", "repo", 7)] == ["/lgtm"]


async def test_too_long_comment_is_a_clear_error(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    with pytest.raises(GitHubError) as err:
        await github_client.create_comment("org", "repo", 7, "x" * 70_000)
    assert err.value.status == 422 and "too long" in err.value.message
    assert gh.comments("org", "repo", 7) == []
    # The double records GitHub-rejected input as a violation; this test provoked it on purpose.
    assert [v.kind for v in gh.take_violations()] == ["request"]


async def test_statuses_in_order_with_truncated_description(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    await github_client.create_status("org", "repo", SHA, "pending", "ci/unit", "Running")
    long = "word " * 60
    status = await github_client.create_status(
        "org", "repo", SHA, "success", "ci/unit", long, target_url="https://ci.example/1"
    )
    assert status.state == "success" and status.target_url == "https://ci.example/1"
    assert status.description is not None and len(status.description) == 140
    assert status.description.endswith("…") and long.startswith(status.description[:-1])

    posted = gh.statuses("org", "repo", SHA)
    assert [(s.state, s.context) for s in posted] == [
        ("pending", "ci/unit"),
        ("success", "ci/unit"),
    ]
    listed = await github_client.list_commit_statuses("org", "repo", SHA)
    assert [s.state for s in listed] == ["success", "pending"]  # newest first, as GitHub


async def test_status_bad_state_is_refused_locally(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    with pytest.raises(ValueError, match="invalid commit status state"):
        await github_client.create_status("org", "repo", SHA, "bogus", "ci")  # type: ignore[arg-type]
    assert gh.requests == []


async def test_file_content(gh: GitHubDouble, github_client: GitHubClient) -> None:
    gh.set_file("org", "repo", "OWNERS", "approvers: [alice]\n")
    gh.set_file("org", "repo", "dir/with space.txt", b"\x00\x01binary", ref=SHA)
    assert await github_client.get_file_content("org", "repo", "OWNERS") == b"approvers: [alice]\n"
    assert (
        await github_client.get_file_content("org", "repo", "OWNERS", "main")
        == b"approvers: [alice]\n"
    )
    got = await github_client.get_file_content("org", "repo", "dir/with space.txt", SHA)
    assert got == b"\x00\x01binary"
    assert await github_client.get_file_content("org", "repo", "dir/with space.txt") is None
    assert await github_client.get_file_content("org", "repo", "missing.yaml") is None


async def test_file_content_over_one_megabyte_uses_blob(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    big = bytes(range(256)) * 4500  # 1.1 MB: GitHub sends no inline content
    gh.set_file("org", "repo", "big.bin", big)
    assert await github_client.get_file_content("org", "repo", "big.bin") == big
    assert gh.calls()[-1].startswith("GET /repos/org/repo/git/blobs/")
    with pytest.raises(GitHubError, match="over the 1000 byte limit"):
        await github_client.get_file_content("org", "repo", "big.bin", max_size=1000)


async def test_file_content_of_directory_is_an_error(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    gh.set_file("org", "repo", "conf/a.yaml", "a: 1")
    gh.set_file("org", "repo", "conf/sub/b.yaml", "b: 2")
    with pytest.raises(GitHubError, match="conf is a directory"):
        await github_client.get_file_content("org", "repo", "conf")


async def test_refs(gh: GitHubDouble, github_client: GitHubClient) -> None:
    gh.repo("org", "repo").branches["release/1.0"] = SHA
    main = gh.repo("org", "repo").branches["main"]
    assert await github_client.get_branch_sha("org", "repo", "main") == main
    assert await github_client.get_ref("org", "repo", "refs/heads/release/1.0") == SHA
    with pytest.raises(GitHubError) as err:
        await github_client.get_branch_sha("org", "repo", "nope")
    assert err.value.status == 404


@pytest.mark.parametrize(
    ("owner", "repo"), [("..", "repo"), ("org", "re/po"), ("", "repo"), ("org", "a\nb")]
)
async def test_bad_names_are_refused_before_sending(
    gh: GitHubDouble, github_client: GitHubClient, owner: str, repo: str
) -> None:
    with pytest.raises(ValueError, match="invalid GitHub"):
        await github_client.get_pull(owner, repo, 1)
    assert gh.requests == []


async def test_user_agent_and_api_version_are_sent(
    gh: GitHubDouble, github_client: GitHubClient
) -> None:
    await github_client.get_pull("org", "repo", 7)
    headers = gh.requests[0].headers
    assert headers["user-agent"] == "foredeck"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["authorization"] == "<redacted>"


def test_client_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        GitHubClient("")
    with pytest.raises(ValueError, match="http"):
        GitHubClient("t", base_url="ftp://example")


async def test_double_client_helper(gh: GitHubDouble) -> None:
    async with gh.client(max_retries=0) as client:
        gh.fail_next(1)
        with pytest.raises(GitHubError) as err:
            await client.get_pull("org", "repo", 7)
    assert err.value.status == 502 and len(gh.requests) == 1
