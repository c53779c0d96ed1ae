"""Local payloads are GitHub's: they parse as webhooks and carry what the trigger plugin reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from foredeck.config import branch_of_ref
from foredeck.db.types import utcnow
from foredeck.hook.plugins.trigger.push import changed_files
from foredeck.scm.github_types import (
    IssueCommentEvent,
    PullRequestEvent,
    PushEvent,
    parse_payload,
)
from foredeck.scm.local.events import (
    NULL_SHA,
    delivery_id,
    issue_comment_payload,
    new_event,
    pull_json,
    pull_request_payload,
    push_payload,
    repository_json,
)
from foredeck.scm.local.names import pull_ref
from foredeck.scm.local.pulls import CommentRow, LocalPulls
from foredeck.scm.local.state import new_id
from foredeck.scm.webhooks import WebhookEnvelope, valid_delivery_id
from tests.hook.helpers import example
from tests.kit.git import Repo
from tests.scm.local.conftest import ORG, REPO


def roundtrip(kind: str, delivery: str, payload: dict[str, Any]) -> Any:
    """Log-shaped bytes back through the hook's parser and the typed model."""
    event = new_event(kind, delivery, payload)
    assert (event.org, event.repo, event.event) == (ORG, REPO, kind)
    envelope = WebhookEnvelope.parse(kind, delivery, event.payload)
    assert (envelope.org, envelope.repo, envelope.action) == (ORG, REPO, payload.get("action"))
    assert valid_delivery_id(delivery)
    return parse_payload(kind, orjson.loads(event.payload))


def assert_githubs_keys(ours: dict[str, Any], real: dict[str, Any], path: str = "") -> None:
    """No invented fields: every key we send is one GitHub sends at that place."""
    for key, value in ours.items():
        assert key in real, f"{path}{key} is not in GitHub's payload"
        if isinstance(value, dict) and isinstance(real[key], dict):
            assert_githubs_keys(value, real[key], f"{path}{key}.")


def test_pull_request_payloads(root: Path, repo: Repo) -> None:
    first = repo.commit("Add docs", {"docs/x.md": "x\n"}, branch="pr/5", author="bob")
    head = repo.commit("More", {"src/y.py": "y\n"})
    pulls = LocalPulls.at(root)
    pr = pulls.pull(ORG, REPO, 5, ["ok-to-test"])
    repository = repository_json(pulls, ORG, REPO)
    opened = pull_request_payload(pulls, "opened", pull_json(pr), repository, "bob")
    ev = roundtrip("pull_request", delivery_id(ORG, REPO, pull_ref(5), head, "opened"), opened)
    assert isinstance(ev, PullRequestEvent)
    assert (ev.action, ev.number, ev.sender.login) == ("opened", 5, "bob")
    assert (ev.repository.org, ev.repository.name, ev.repository.full_name) == (
        ORG,
        REPO,
        f"{ORG}/{REPO}",
    )
    # Links are foredeck's dashboard pages (the default dashboard_url here), not the disk.
    assert ev.repository.html_url == f"http://127.0.0.1:8888/?repo={ORG}%2F{REPO}"
    assert ev.pull_request.html_url == f"http://127.0.0.1:8888/pr-history/{ORG}/{REPO}/5"
    assert ev.pull_request.user.html_url == "http://127.0.0.1:8888/?author=bob"
    p = ev.pull_request
    assert (p.number, p.state, p.title, p.user.login, p.draft) == (
        5,
        "open",
        "Add docs",
        "bob",
        False,
    )
    assert (p.head.sha, p.head.ref, p.base.ref, p.base.sha) == (
        head,
        "pr/5",
        "main",
        repo.head("main"),
    )
    assert [label.name for label in p.labels] == ["ok-to-test"]
    assert opened["pull_request"].get("mergeable") is not False  # the trigger's merge check
    assert_githubs_keys(opened, example("pull_request.opened"))
    assert first != head

    sync = pull_request_payload(
        pulls, "synchronize", pull_json(pr), repository, "carol", before=first
    )
    ev = roundtrip("pull_request", delivery_id(ORG, REPO, pull_ref(5), head, "synchronize"), sync)
    assert isinstance(ev, PullRequestEvent)
    assert (ev.action, ev.before, ev.after) == ("synchronize", first, head)
    assert_githubs_keys(sync, example("pull_request.synchronize"))


def test_push_payload_lists_the_pushed_commits_and_files(root: Path, repo: Repo) -> None:
    before = repo.head()
    repo.commit("One", {"docs/a.md": "a\n", "README.md": "changed\n"})
    after = repo.commit("Two", {"src/app.py": None, "src/new.py": "n\n"})
    pulls = LocalPulls.at(root)
    payload = push_payload(pulls, ORG, REPO, "refs/heads/main", before, after)
    ev = roundtrip("push", delivery_id(ORG, REPO, "refs/heads/main", after, "push"), payload)
    assert isinstance(ev, PushEvent)
    assert (ev.ref, ev.before, ev.after, ev.deleted, ev.forced, ev.created) == (
        "refs/heads/main",
        before,
        after,
        False,
        False,
        False,
    )
    assert branch_of_ref(ev.ref) == "main"
    assert [c.message for c in ev.commits] == ["One", "Two"]
    assert ev.commits[0].added == ["docs/a.md"] and ev.commits[0].modified == ["README.md"]
    assert ev.commits[1].removed == ["src/app.py"] and ev.commits[1].added == ["src/new.py"]
    assert sorted(changed_files(ev)) == ["README.md", "docs/a.md", "src/app.py", "src/new.py"]
    assert ev.head_commit is not None and ev.head_commit.id == after
    assert ev.sender.login == "alice" and ev.pusher.name == "alice"
    assert_githubs_keys(payload, example("push"))

    first = push_payload(pulls, ORG, REPO, "refs/heads/main", None, after)
    ev = roundtrip("push", "local-x", first)
    assert isinstance(ev, PushEvent)
    assert ev.created and ev.before == NULL_SHA and [c.id for c in ev.commits] == [after]


def test_force_push_is_marked_forced(root: Path, repo: Repo) -> None:
    old = repo.commit("Old", {"a": "1"})
    repo.git("reset", "--quiet", "--hard", "HEAD~1")
    new = repo.commit("New", {"b": "2"})
    payload = push_payload(LocalPulls.at(root), ORG, REPO, "refs/heads/main", old, new)
    assert payload["forced"] is True
    assert [c["id"] for c in payload["commits"]] == [new]


def test_issue_comment_payload(root: Path, repo: Repo) -> None:
    repo.commit("Change", {"x": "1"}, branch="pr/2", author="bob")
    pulls = LocalPulls.at(root)
    pr = pulls.pull(ORG, REPO, 2)
    now = utcnow()
    made = pulls.comment(CommentRow(new_id(), ORG, REPO, 2, "carol", "/retest", now, now))
    payload = issue_comment_payload(pr, made, repository_json(pulls, ORG, REPO))
    ev = roundtrip(
        "issue_comment", delivery_id(ORG, REPO, "pull/2/comments", str(made.id), "created"), payload
    )
    assert isinstance(ev, IssueCommentEvent)
    assert (ev.action, ev.issue.number, ev.issue.state, ev.issue.is_pull_request) == (
        "created",
        2,
        "open",
        True,
    )
    assert ev.issue.user.login == "bob"
    assert (ev.comment.id, ev.comment.body, ev.comment.user.login) == (made.id, "/retest", "carol")
    assert ev.sender.login == "carol"
    assert_githubs_keys(payload, example("issue_comment.created.pull_request"))
    json.dumps(payload)  # plain JSON all the way down


def test_delivery_ids_are_deterministic_and_distinct() -> None:
    a = delivery_id(ORG, REPO, "refs/heads/pr/1", "a" * 40, "opened")
    assert a == delivery_id(ORG, REPO, "refs/heads/pr/1", "a" * 40, "opened")
    assert a.startswith("local-") and len(a) == len("local-") + 64 and valid_delivery_id(a)
    others = {
        delivery_id(ORG, REPO, "refs/heads/pr/1", "a" * 40, "synchronize"),
        delivery_id(ORG, REPO, "refs/heads/pr/1", "b" * 40, "opened"),
        delivery_id(ORG, "other", "refs/heads/pr/1", "a" * 40, "opened"),
        delivery_id(ORG, REPO, "refs/heads/pr/2", "a" * 40, "opened"),
    }
    assert a not in others and len(others) == 4
