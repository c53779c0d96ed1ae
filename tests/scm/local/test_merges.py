"""Merging local pull requests with git (`scm/local/merges.py`), and listing them in bulk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from foredeck.db import Event, EventPayload, session_factory
from foredeck.scm.local.client import LocalScm
from foredeck.scm.local.names import LocalScmError
from tests.db.fixtures import Database
from tests.kit.git import Repo
from tests.scm.local.conftest import ORG, REPO


@pytest.fixture
async def scm(db: Database, root: Path) -> AsyncIterator[LocalScm]:
    client = LocalScm(root, db.engine, bot_login="foredeck")
    yield client
    await client.close()


def open_pr(repo: Repo, number: int = 7) -> str:
    repo.commit("Add feature", {"src/feature.py": "x = 1\n"}, branch=f"pr/{number}", author="bob")
    head = repo.commit("Polish feature", {"docs/feature.md": "doc\n"}, author="carol")
    repo.checkout("main")
    return head


def events(db: Database) -> list[tuple[str, str | None, dict[str, object]]]:
    stmt = select(Event.event, Event.action, EventPayload.body).join(
        EventPayload, EventPayload.event_id == Event.id
    )
    with session_factory(db.engine)() as s:
        return [(e, a, json.loads(body)) for e, a, body in s.execute(stmt.order_by(Event.id))]


def log(repo: Repo, rev: str, fmt: str) -> list[str]:
    return repo.git("log", f"--format={fmt}", rev).splitlines()


async def test_merge_makes_a_merge_commit_and_logs_the_merge(
    scm: LocalScm, repo: Repo, db: Database
) -> None:
    head = open_pr(repo)
    base = repo.head("main")
    merged = await scm.merge_pull(ORG, REPO, 7, sha=head)
    assert repo.head("main") == merged
    assert repo.git("show", "-s", "--format=%P %cn", merged) == f"{base} {head} foredeck"
    assert repo.git("branch", "--list", "pr/7") == ""  # closed
    (closed_kind, closed, pr), (push_kind, _, push) = [(e, a, p) for e, a, p in events(db)]
    assert (closed_kind, closed, push_kind) == ("pull_request", "closed", "push")
    pull = pr["pull_request"]
    assert isinstance(pull, dict) and pull["merged"] is True
    assert pull["merge_commit_sha"] == merged
    assert (push["before"], push["after"], push["ref"]) == (base, merged, "refs/heads/main")


async def test_squash_is_one_commit_by_the_author(scm: LocalScm, repo: Repo) -> None:
    head = open_pr(repo)
    base = repo.head("main")
    merged = await scm.merge_pull(ORG, REPO, 7, sha=head, method="squash")
    assert log(repo, f"{base}..{merged}", "%an|%cn|%s") == ["Bob|foredeck|Add feature (#7)"]
    assert repo.git("show", f"{merged}:docs/feature.md") == "doc"


async def test_rebase_keeps_the_commits_and_their_authors(scm: LocalScm, repo: Repo) -> None:
    head = open_pr(repo)
    base = repo.commit("Elsewhere", {"other.txt": "o\n"})  # the base moved on
    merged = await scm.merge_pull(ORG, REPO, 7, sha=head, method="rebase")
    assert log(repo, f"{base}..{merged}", "%an|%cn|%s") == [
        "Carol|foredeck|Polish feature",
        "Bob|foredeck|Add feature",
    ]
    assert repo.git("show", "-s", "--format=%P", merged) != base  # linear, on the new base


async def test_a_conflict_or_a_moved_head_is_refused_and_nothing_moves(
    scm: LocalScm, repo: Repo
) -> None:
    repo.commit("Mine", {"README.md": "pr\n"}, branch="pr/7", author="bob")
    repo.checkout("main")
    base = repo.commit("Theirs", {"README.md": "main\n"})
    head = repo.head("pr/7")
    with pytest.raises(LocalScmError) as moved:
        await scm.merge_pull(ORG, REPO, 7, sha=base)
    assert moved.value.status == 409
    for method in ("merge", "squash", "rebase"):
        with pytest.raises(LocalScmError) as conflict:
            await scm.merge_pull(ORG, REPO, 7, sha=head, method=method)
        assert conflict.value.status == 405
    assert (repo.head("main"), repo.head("pr/7")) == (base, head)
    assert repo.git("for-each-ref", "refs/foredeck/") == ""


async def test_listing_is_what_each_pull_request_reads(scm: LocalScm, repo: Repo) -> None:
    open_pr(repo, 7)
    repo.commit("Other", {"o.txt": "o\n"}, branch="pr/8", author="dave")
    repo.git("merge", "-q", "--no-ff", "-m", "merge main in", "main", author="dave")
    repo.checkout("main")
    repo.git("branch", "pr/9")  # no commit of its own
    await scm.add_labels(ORG, REPO, 8, ["lgtm"])
    listed = await scm.list_open_pulls(ORG, REPO)
    one_by_one = [await scm.get_pull(ORG, REPO, n) for n in (9, 8, 7)]
    assert listed == one_by_one
    assert [(p.number, p.user.login, p.title) for p in listed] == [
        (9, "alice", "Initial commit"),
        (8, "dave", "Other"),
        (7, "bob", "Add feature"),
    ]


async def test_statuses_of_many_heads_in_one_call(scm: LocalScm, repo: Repo) -> None:
    first, second = open_pr(repo, 7), repo.head("main")
    await scm.create_status(ORG, REPO, first, "success", "unit")
    await scm.create_status(ORG, REPO, first, "failure", "lint")
    found = await scm.statuses_of(ORG, REPO, [first, second])
    assert sorted((s.context, s.state) for s in found[first]) == [
        ("lint", "failure"),
        ("unit", "success"),
    ]
    assert found[second] == []
    assert await scm.issues_labelled(ORG, REPO, "tide/merge-blocker") == []
