"""`LocalScm`: every `ScmClient` method against real repositories and both databases."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from foredeck.db import ScmComment, ScmStatus, session_factory
from foredeck.db.engine import write_lock
from foredeck.scm.local.client import LocalScm
from foredeck.scm.local.names import LocalScmError
from foredeck.scm.provider import ScmClient
from tests.db.fixtures import Database
from tests.kit.git import Repo, git_env
from tests.scm.local.conftest import ORG, REPO


@pytest.fixture
async def scm(db: Database, root: Path) -> AsyncIterator[LocalScm]:
    client = LocalScm(root, db.engine, bot_login="foredeck")
    yield client
    await client.close()


def open_pr(repo: Repo, number: int = 7, author: str = "bob") -> str:
    repo.commit("Add feature", {"src/feature.py": "x = 1\n"}, branch=f"pr/{number}", author=author)
    head = repo.commit("Polish feature", {"docs/feature.md": "doc\n"}, author="carol")
    repo.checkout("main")
    return head


def test_local_scm_is_an_scm_client(scm: LocalScm) -> None:
    assert isinstance(scm, ScmClient)


async def test_get_pull_reads_the_pr_branch(scm: LocalScm, repo: Repo) -> None:
    head = open_pr(repo)
    base = repo.head("main")
    pr = await scm.get_pull(ORG, REPO, 7)
    assert (pr.number, pr.state, pr.title) == (7, "open", "Add feature")
    assert pr.user.login == "bob"  # the first commit not on the base, not the last
    assert (pr.head.ref, pr.head.sha) == ("pr/7", head)
    assert (pr.base.ref, pr.base.sha) == ("main", base)
    assert pr.head.repo is not None and pr.head.repo.full_name == f"{ORG}/{REPO}"
    assert pr.labels == [] and pr.draft is False and pr.merged is False
    assert pr.created_at is not None and pr.updated_at is not None


async def test_only_pr_slash_number_branches_are_pull_requests(scm: LocalScm, repo: Repo) -> None:
    repo.commit("Side", {"a": "1"}, branch="pr/8-named")
    repo.commit("Zero", {"b": "1"}, branch="pr/09")
    repo.checkout("main")
    for number in (8, 9):
        with pytest.raises(LocalScmError) as err:
            await scm.get_pull(ORG, REPO, number)
        assert err.value.status == 404 and f"no pull request #{number}" in str(err.value)


async def test_list_pull_files_is_the_three_dot_diff(scm: LocalScm, repo: Repo) -> None:
    open_pr(repo)
    repo.commit("Main moves on", {"README.md": "changed on main\n"}, branch="main")
    files = await scm.list_pull_files(ORG, REPO, 7)
    assert sorted(files) == ["docs/feature.md", "src/feature.py"]


async def test_every_local_user_is_trusted_with_write(scm: LocalScm, repo: Repo) -> None:
    assert await scm.is_org_member(ORG, "anyone")
    assert await scm.is_collaborator(ORG, REPO, "anyone")
    assert await scm.get_user_permission(ORG, REPO, "anyone") == "write"
    with pytest.raises(LocalScmError) as err:
        await scm.is_collaborator(ORG, "nope", "anyone")
    assert err.value.status == 404


async def test_assignees_and_review_requests_persist_beside_the_labels(
    scm: LocalScm, repo: Repo, db: Database, root: Path
) -> None:
    open_pr(repo, author="bob")
    assert await scm.add_assignees(ORG, REPO, 7, ["alice", "carol", "Alice"]) == ["alice", "carol"]
    assert await scm.remove_assignees(ORG, REPO, 7, ["carol", "absent"]) == ["alice"]
    assert await scm.request_reviewers(ORG, REPO, 7, ["carol"]) == ["carol"]
    other = LocalScm(root, db.engine)
    assert await other.add_assignees(ORG, REPO, 7, []) == ["alice"]
    assert await other.remove_requested_reviewers(ORG, REPO, 7, ["carol"]) == []
    with pytest.raises(LocalScmError) as err:
        await scm.request_reviewers(ORG, REPO, 7, ["bob"])  # the author
    assert err.value.status == 422
    with pytest.raises(LocalScmError) as err:
        await scm.add_assignees(ORG, REPO, 7, ["no such/login"])
    assert err.value.status == 422
    with pytest.raises(TypeError):
        await scm.add_assignees(ORG, REPO, 7, "alice")
    assert (root / ".foredeck-assignees.json").exists()


async def test_labels_persist_in_the_label_file(
    scm: LocalScm, repo: Repo, db: Database, root: Path
) -> None:
    open_pr(repo)
    added = await scm.add_labels(ORG, REPO, 7, ["lgtm", "ok-to-test", "LGTM"])
    assert [label.name for label in added] == ["lgtm", "ok-to-test"]
    await scm.remove_label(ORG, REPO, 7, "LGTM")
    await scm.remove_label(ORG, REPO, 7, "absent")  # idempotent
    other = LocalScm(root, db.engine)
    assert [label.name for label in await other.list_issue_labels(ORG, REPO, 7)] == ["ok-to-test"]
    assert [label.name for label in (await other.get_pull(ORG, REPO, 7)).labels] == ["ok-to-test"]
    with pytest.raises(TypeError):
        await scm.add_labels(ORG, REPO, 7, "lgtm")
    with pytest.raises(LocalScmError) as err:
        await scm.add_labels(ORG, "nope", 7, ["lgtm"])
    assert err.value.status == 404
    # A closed pull request (branch gone) keeps its labels and comments, as on GitHub.
    repo.delete_branch("pr/7")
    assert [label.name for label in await scm.list_issue_labels(ORG, REPO, 7)] == ["ok-to-test"]


async def test_comments_round_trip_through_the_database(
    scm: LocalScm, repo: Repo, db: Database, root: Path
) -> None:
    open_pr(repo)
    first = await scm.create_comment(ORG, REPO, 7, "hello")
    second = await scm.create_comment(ORG, REPO, 7, "second")
    assert first.user is not None and first.user.login == "foredeck"
    assert second.id > first.id
    edited = await scm.edit_comment(ORG, REPO, first.id, "hello, edited")
    assert (edited.id, edited.body) == (first.id, "hello, edited")
    assert [c.body for c in await scm.list_issue_comments(ORG, REPO, 7)] == [
        "hello, edited",
        "second",
    ]
    await scm.delete_comment(ORG, REPO, second.id)
    await scm.delete_comment(ORG, REPO, second.id)  # already gone: fine
    assert [c.id for c in await scm.list_issue_comments(ORG, REPO, 7)] == [first.id]
    assert scm.flush(30)
    with session_factory(db.engine)() as s:
        rows = list(s.execute(select(ScmComment)).scalars())
    assert [(r.id, r.body, r.author, r.number) for r in rows] == [
        (first.id, "hello, edited", "foredeck", 7)
    ]
    fresh = LocalScm(root, db.engine)  # reads the committed rows, no queued state
    assert [c.body for c in await fresh.list_issue_comments(ORG, REPO, 7)] == ["hello, edited"]
    with pytest.raises(LocalScmError) as err:
        await fresh.edit_comment(ORG, "other", first.id, "x")
    assert err.value.status == 404
    with pytest.raises(LocalScmError) as err:
        await fresh.edit_comment(ORG, REPO, 12345, "x")
    assert err.value.status == 404


async def test_writes_do_not_wait_for_a_transaction_in_progress(
    scm: LocalScm, repo: Repo, db: Database
) -> None:
    """The trigger plugin comments inside the worker's write transaction: that must not hang."""
    open_pr(repo)
    sessions = session_factory(db.engine)
    with write_lock(db.engine), sessions() as s, s.begin():
        s.execute(select(ScmComment)).all()  # the transaction is open (and, on SQLite, writing)
        made = await asyncio.wait_for(scm.create_comment(ORG, REPO, 7, "from a plugin"), 20)
        status = await asyncio.wait_for(
            scm.create_status(ORG, REPO, repo.head("pr/7"), "pending", "unit"), 20
        )
        assert [c.id for c in await scm.list_issue_comments(ORG, REPO, 7)] == [made.id]
        assert [st.id for st in await scm.list_commit_statuses(ORG, REPO, "pr/7")] == [status.id]
    assert scm.flush(30)
    with sessions() as s:
        assert s.execute(select(ScmComment.id)).scalars().all() == [made.id]
        assert s.execute(select(ScmStatus.id)).scalars().all() == [status.id]


async def test_statuses_keep_the_latest_per_context(
    scm: LocalScm, repo: Repo, db: Database, root: Path
) -> None:
    head = open_pr(repo)
    unit = await scm.create_status(ORG, REPO, head, "pending", "unit", "running", "http://x/1")
    lint = await scm.create_status(ORG, REPO, head, "success", "lint", "d" * 200)
    assert lint.description is not None and len(lint.description) == 140
    again = await scm.create_status(ORG, REPO, head, "failure", "unit", "failed", "http://x/1")
    assert again.id == unit.id and again.state == "failure"
    assert again.creator is not None and again.creator.login == "foredeck"
    listed = await scm.list_commit_statuses(ORG, REPO, head)
    assert [(s.context, s.state) for s in listed] == [("unit", "failure"), ("lint", "success")]
    assert scm.flush(30)
    fresh = LocalScm(root, db.engine)
    for ref in (head, "pr/7"):
        listed = await fresh.list_commit_statuses(ORG, REPO, ref)
        assert [(s.context, s.state, s.description) for s in listed] == [
            ("unit", "failure", "failed"),
            ("lint", "success", lint.description),
        ]
    assert await fresh.list_commit_statuses(ORG, REPO, "main") == []
    with pytest.raises(ValueError):
        await scm.create_status(ORG, REPO, head, "bogus", "unit")  # type: ignore[arg-type]
    with pytest.raises(LocalScmError) as err:
        await scm.create_status(ORG, REPO, "ab" * 20, "success", "unit")
    assert err.value.status == 422
    with pytest.raises(LocalScmError) as err:
        await scm.list_commit_statuses(ORG, REPO, "no-such-branch")
    assert err.value.status == 404


async def test_get_file_content(scm: LocalScm, repo: Repo) -> None:
    head = open_pr(repo)
    assert await scm.get_file_content(ORG, REPO, "README.md") == b"hello\n"
    assert await scm.get_file_content(ORG, REPO, "src/feature.py") is None  # not on main
    assert await scm.get_file_content(ORG, REPO, "src/feature.py", "pr/7") == b"x = 1\n"
    assert await scm.get_file_content(ORG, REPO, "src/feature.py", head) == b"x = 1\n"
    assert await scm.get_file_content(ORG, REPO, "README.md", "no-such-ref") is None
    with pytest.raises(LocalScmError, match="is a tree"):
        await scm.get_file_content(ORG, REPO, "src")
    with pytest.raises(LocalScmError, match="over the 3 byte limit"):
        await scm.get_file_content(ORG, REPO, "README.md", max_size=3)
    for bad in ("../etc/passwd", "-x", "a/../b", ""):
        with pytest.raises(LocalScmError, match="invalid file path"):
            await scm.get_file_content(ORG, REPO, bad)
    with pytest.raises(LocalScmError, match="invalid ref"):
        await scm.get_file_content(ORG, REPO, "README.md", "--output=/tmp/x")


async def test_get_branch_sha(scm: LocalScm, repo: Repo) -> None:
    head = open_pr(repo)
    assert await scm.get_branch_sha(ORG, REPO, "main") == repo.head("main")
    assert await scm.get_branch_sha(ORG, REPO, "pr/7") == head
    with pytest.raises(LocalScmError) as err:
        await scm.get_branch_sha(ORG, REPO, "missing")
    assert err.value.status == 404
    for bad in ("-delete", "a..b", "x y", "/abs", "a/"):
        with pytest.raises(LocalScmError, match="invalid branch name") as err:
            await scm.get_branch_sha(ORG, REPO, bad)
        assert err.value.status == 422


async def test_a_bare_repository_is_found_as_org_repo_dot_git(
    scm: LocalScm, repo: Repo, root: Path
) -> None:
    open_pr(repo, number=3)
    bare = root / "other" / "lib.git"
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", str(repo.path), str(bare)],
        env=git_env(),
        check=True,
    )
    pr = await scm.get_pull("other", "lib", 3)
    assert pr.head.sha == repo.head("pr/3") and pr.user.login == "bob"
    assert scm.clone_uri("other", "lib") == str(bare)
