"""Bump pull requests end to end, with the local provider and with the GitHub double."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from foredeck.cd.pulls import BumpRequest, Source, read_marker
from foredeck.cd_pr.bump import DEFAULT_IDENTITY, BumpError, open_or_update_bump
from foredeck.cd_pr.lock import FileLock
from tests.cd.conftest import APP, MANIFEST, NAME, ORG, Harness, set_image

OLD = "ghcr.io/acme/app:1.0"
FIRST = "ghcr.io/acme/app@sha256:" + "1" * 64
SECOND = "ghcr.io/acme/app@sha256:" + "2" * 64
SHA1, SHA2 = "a" * 40, "b" * 40


def request(value: str, **kw: object) -> BumpRequest:
    fields: dict[str, object] = {
        "repo": f"{ORG}/{NAME}",
        "group": "app",
        "edit": set_image(value),
        "title": f"Bump app to {value[-12:]}",
        "body": "Built by foredeck.",
        "paths": ("deploy",),
        "labels": ("cd", "lgtm"),
    }
    fields.update(kw)
    return BumpRequest(**fields)  # type: ignore[arg-type]


def source(sha: str) -> Source:
    return Source("acme/app", sha, lambda a, b: f"https://example.test/compare/{a}...{b}")


async def test_two_bumps_give_one_pull_request_updated_in_place(
    scm: Harness, lock: FileLock
) -> None:
    first = await open_or_update_bump(scm.client, request(FIRST, source=source(SHA1)), lock)
    assert first.action == "opened" and first.number is not None
    assert first.changes == [f"{APP}: {OLD} -> {FIRST}"]

    second = await open_or_update_bump(scm.client, request(SECOND, source=source(SHA2)), lock)
    assert (second.action, second.number) == ("updated", first.number)

    pulls = await scm.client.list_open_pulls(ORG, NAME)
    assert [p.number for p in pulls] == [first.number]
    pull = pulls[0]
    assert pull.title == f"Bump app to {SECOND[-12:]}"
    assert f"{FIRST} -> {SECOND}" not in (pull.body or "")  # it names the base's old value
    assert f"{OLD} -> {SECOND}" in (pull.body or "")
    assert f"[{SHA1[:12]}..{SHA2[:12]}](https://example.test/compare/{SHA1}...{SHA2})" in (
        pull.body or ""
    )
    assert read_marker(pull.body) == ("app", SHA1)
    assert {label.name for label in pull.labels} == {"cd", "lgtm"}
    # the branch is one commit by foredeck on main, with the second value and no other change
    files = scm.files("foredeck/bump/app")
    assert files[APP] == MANIFEST.replace(OLD, SECOND)
    assert files["README.md"] == "manifests\n"
    commits = await scm.client.list_pull_commits(ORG, NAME, first.number)
    assert [c.sha for c in commits] == [second.sha]
    assert {c.author_email for c in commits} == {DEFAULT_IDENTITY.email}
    assert scm.files("main")[APP] == MANIFEST  # the base is untouched


async def test_a_current_reference_gets_no_pull_request(scm: Harness, lock: FileLock) -> None:
    outcome = await open_or_update_bump(scm.client, request(OLD), lock)
    assert (outcome.action, outcome.number, outcome.closed) == ("current", None, [])
    assert await scm.client.list_open_pulls(ORG, NAME) == []
    assert scm.branch_sha("foredeck/bump/app") is None


async def test_a_moot_bump_pull_request_is_closed_with_a_comment(
    scm: Harness, lock: FileLock
) -> None:
    opened = await open_or_update_bump(scm.client, request(FIRST), lock)
    assert opened.number is not None
    again = await open_or_update_bump(scm.client, request(OLD), lock)
    assert (again.action, again.closed) == ("current", [opened.number])
    assert await scm.client.list_open_pulls(ORG, NAME) == []
    comments = await scm.client.list_issue_comments(ORG, NAME, opened.number)
    assert "already current" in comments[-1].body


async def test_a_superseded_pull_request_of_the_group_is_closed(
    scm: Harness, lock: FileLock
) -> None:
    old = await open_or_update_bump(
        scm.client, request(FIRST, branch="foredeck/bump-old/app"), lock
    )
    unrelated = await open_or_update_bump(
        scm.client, request(FIRST, group="web", branch="foredeck/bump/web"), lock
    )
    new = await open_or_update_bump(scm.client, request(SECOND), lock)
    assert new.action == "opened" and new.closed == [old.number]
    open_numbers = {p.number for p in await scm.client.list_open_pulls(ORG, NAME)}
    assert open_numbers == {new.number, unrelated.number}
    assert old.number is not None
    comments = await scm.client.list_issue_comments(ORG, NAME, old.number)
    assert comments[-1].body.startswith(f"Superseded by #{new.number}")


async def test_policy_leave_keeps_a_human_edit_and_comments(scm: Harness, lock: FileLock) -> None:
    opened = await open_or_update_bump(scm.client, request(FIRST), lock)
    assert opened.number is not None
    human = scm.human_commit(opened.number, "foredeck/bump/app", {"README.md": "edited\n"})
    left = await open_or_update_bump(scm.client, request(SECOND, policy="leave"), lock)
    assert (left.action, left.number) == ("left", opened.number)
    again = await open_or_update_bump(scm.client, request(SECOND, policy="leave"), lock)
    assert again.action == "left"
    pull = (await scm.client.list_open_pulls(ORG, NAME))[0]
    assert pull.head.sha == human  # untouched
    comments = await scm.client.list_issue_comments(ORG, NAME, opened.number)
    assert len(comments) == 1  # the same bump again says nothing new
    assert human[:12] in comments[0].body and SECOND in comments[0].body


async def test_policy_overwrite_replaces_a_human_edit_and_names_it(
    scm: Harness, lock: FileLock
) -> None:
    opened = await open_or_update_bump(scm.client, request(FIRST), lock)
    assert opened.number is not None
    human = scm.human_commit(opened.number, "foredeck/bump/app", {"README.md": "edited\n"})
    updated = await open_or_update_bump(scm.client, request(SECOND), lock)
    assert (updated.action, updated.number) == ("updated", opened.number)
    pull = (await scm.client.list_open_pulls(ORG, NAME))[0]
    assert pull.head.sha == updated.sha
    comments = await scm.client.list_issue_comments(ORG, NAME, opened.number)
    assert human[:12] in comments[-1].body and "not lost" in comments[-1].body


async def test_a_missing_manifests_repository_is_a_clear_error(
    scm: Harness, lock: FileLock
) -> None:
    with pytest.raises(BumpError, match=f"manifests repository {ORG}/nowhere .*not found"):
        await open_or_update_bump(scm.client, request(FIRST, repo=f"{ORG}/nowhere"), lock)


async def test_no_push_permission_is_a_clear_error_that_changes_nothing(
    scm: Harness, lock: FileLock
) -> None:
    opened = await open_or_update_bump(scm.client, request(FIRST), lock)
    before = scm.branch_sha("foredeck/bump/app")
    scm.deny_push()
    with pytest.raises(BumpError, match="no permission to push to acme/manifests"):
        await open_or_update_bump(scm.client, request(SECOND), lock)
    assert scm.branch_sha("foredeck/bump/app") == before
    pull = (await scm.client.list_open_pulls(ORG, NAME))[0]
    assert (pull.number, pull.title) == (opened.number, f"Bump app to {FIRST[-12:]}")


async def test_a_conflicting_branch_is_a_clear_error(scm: Harness, lock: FileLock) -> None:
    scm.add_branch("foredeck/bump")  # git cannot have both foredeck/bump and foredeck/bump/app
    with pytest.raises(BumpError, match="branch foredeck/bump/app of acme/manifests conflicts"):
        await open_or_update_bump(scm.client, request(FIRST), lock)
    assert await scm.client.list_open_pulls(ORG, NAME) == []
    assert scm.branch_sha("foredeck/bump") == scm.branch_sha("main")


async def test_two_bumps_at_once_give_one_pull_request(scm: Harness, lock: FileLock) -> None:
    results = await asyncio.gather(
        open_or_update_bump(scm.client, request(FIRST), lock),
        open_or_update_bump(scm.client, request(SECOND), lock),
    )
    assert sorted(r.action for r in results) == ["opened", "updated"]
    pulls = await scm.client.list_open_pulls(ORG, NAME)
    assert len(pulls) == 1
    last = results[1] if results[1].action == "updated" else results[0]
    value = SECOND if last is results[1] else FIRST
    assert scm.files("foredeck/bump/app")[APP] == MANIFEST.replace(OLD, value)


async def test_the_same_bump_twice_pushes_once(scm: Harness, lock: FileLock) -> None:
    first = await open_or_update_bump(scm.client, request(FIRST), lock)
    # another title (so another commit message): the tree is what counts
    again = await open_or_update_bump(scm.client, request(FIRST, title="Bump app again"), lock)
    assert (again.action, again.number, again.sha) == ("updated", first.number, first.sha)
    assert scm.branch_sha("foredeck/bump/app") == first.sha


async def test_policy_leave_keeps_a_moot_pull_request_a_human_edited(
    scm: Harness, lock: FileLock
) -> None:
    opened = await open_or_update_bump(scm.client, request(FIRST), lock)
    assert opened.number is not None
    human = scm.human_commit(opened.number, "foredeck/bump/app", {"README.md": "edited\n"})
    moot = await open_or_update_bump(scm.client, request(OLD, policy="leave"), lock)
    assert (moot.action, moot.closed) == ("current", [])
    [pull] = await scm.client.list_open_pulls(ORG, NAME)
    assert (pull.number, pull.head.sha) == (opened.number, human)
    comments = await scm.client.list_issue_comments(ORG, NAME, opened.number)
    assert "already current" in comments[-1].body and human[:12] in comments[-1].body


async def test_an_edit_that_fails_changes_nothing(scm: Harness, lock: FileLock) -> None:
    opened = await open_or_update_bump(scm.client, request(FIRST), lock)
    before = scm.branch_sha("foredeck/bump/app")

    def broken(root: Path) -> list[str]:
        raise ValueError("the engine cannot parse deploy/app.yaml")

    with pytest.raises(ValueError, match="cannot parse"):
        await open_or_update_bump(scm.client, request(SECOND, edit=broken), lock)
    assert scm.branch_sha("foredeck/bump/app") == before
    [pull] = await scm.client.list_open_pulls(ORG, NAME)
    assert (pull.number, pull.title) == (opened.number, f"Bump app to {FIRST[-12:]}")


async def test_only_changes_under_the_paths_are_pushed(scm: Harness, lock: FileLock) -> None:
    def edit(root: Path) -> list[str]:
        changes = set_image(FIRST)(root)
        (root / "README.md").write_text("not ours to change\n")
        (root / "deploy" / "new file [1].yaml").write_text("kind: New\n")
        return changes

    outcome = await open_or_update_bump(scm.client, request(FIRST, edit=edit), lock)
    assert outcome.action == "opened"
    files = scm.files("foredeck/bump/app")
    assert files["README.md"] == "manifests\n"
    assert files["deploy/new file [1].yaml"] == "kind: New\n"
    assert files[APP] == MANIFEST.replace(OLD, FIRST)


async def test_a_glob_path_checks_out_the_directory_it_starts_in(
    scm: Harness, lock: FileLock
) -> None:
    outcome = await open_or_update_bump(scm.client, request(FIRST, paths=("deploy/*.yaml",)), lock)
    assert outcome.action == "opened"
    assert scm.files("foredeck/bump/app")[APP] == MANIFEST.replace(OLD, FIRST)
