"""The watcher logs each change once: opened, synchronize, closed, push; comments too."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, select

from foredeck.db import Event, session_factory
from foredeck.db.eventlog import load_payload
from foredeck.scm.github_types import IssueComment, IssueCommentEvent, parse_payload
from foredeck.scm.local.client import LocalScm
from foredeck.scm.local.names import LocalScmError
from foredeck.scm.local.pulls import LocalPulls
from foredeck.scm.local.watch import LocalWatcher
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import ScmSettings, Settings
from tests.db.fixtures import Database
from tests.kit.git import Repo
from tests.scm.local.conftest import ORG, REPO


def events(db: Database) -> list[tuple[str, str | None, dict[str, Any]]]:
    with session_factory(db.engine)() as s:
        rows = list(s.execute(select(Event).order_by(Event.id)).scalars())
        return [(r.event, r.action, json.loads(load_payload(s, r.id))) for r in rows]


def summary(db: Database) -> list[tuple[str, str | None, str]]:
    """(event, action, ref or pr number + head)"""
    out = []
    for kind, action, p in events(db):
        if kind == "push":
            out.append((kind, action, f"{p['ref']}@{p['after'][:7]}"))
        elif kind == "pull_request":
            out.append((kind, action, f"#{p['number']}@{p['pull_request']['head']['sha'][:7]}"))
        else:
            out.append((kind, action, f"#{p['issue']['number']}"))
    return out


def watcher(db: Database, root: Path, calls: list[int] | None = None) -> LocalWatcher:
    on_logged = (lambda: calls.append(1)) if calls is not None else None
    return LocalWatcher(LocalPulls.at(root), db.engine, on_logged=on_logged)


def comment(
    engine: Engine,
    settings: Settings,
    org: str,
    repo: str,
    number: int,
    body: str,
    author: str,
    *,
    on_logged: Any = None,
) -> IssueComment:
    """A user's comment through the provider, as the API makes it."""
    comments = provider_from_settings(settings, engine).user_comments()
    assert comments is not None
    return comments.comment(org, repo, number, body, author, on_logged=on_logged)


def test_lifecycle_is_logged_once_each_across_rescans_and_restarts(
    db: Database, root: Path, repo: Repo
) -> None:
    calls: list[int] = []
    w = watcher(db, root, calls)
    main1 = repo.head()
    assert w.scan_once() == 1  # the base branch, first seen
    assert w.scan_once() == 0
    assert len(calls) == 1

    head1 = repo.commit("Feature", {"f.py": "1\n"}, branch="pr/1", author="bob")
    repo.checkout("main")
    assert w.scan_once() == 1
    assert watcher(db, root).scan_once() == 0  # a restart: nothing new

    head2 = repo.commit("Fixup", {"f.py": "2\n"}, branch="pr/1", author="carol")
    repo.checkout("main")
    restarted = watcher(db, root)  # started after the push: must see a synchronize, not opened
    assert restarted.scan_once() == 1
    assert w.scan_once() == 0  # the old one finds the delivery already logged

    main2 = repo.merge("pr/1")
    repo.delete_branch("pr/1")
    assert restarted.scan_once() == 2  # push to main, pr closed (merged)
    assert restarted.scan_once() == 0
    assert watcher(db, root).scan_once() == 0
    assert len(calls) == 2

    assert summary(db) == [
        ("push", None, f"refs/heads/main@{main1[:7]}"),
        ("pull_request", "opened", f"#1@{head1[:7]}"),
        ("pull_request", "synchronize", f"#1@{head2[:7]}"),
        ("push", None, f"refs/heads/main@{main2[:7]}"),
        ("pull_request", "closed", f"#1@{head2[:7]}"),
    ]
    logged = events(db)
    opened, sync, push, closed = logged[1][2], logged[2][2], logged[3][2], logged[4][2]
    assert opened["sender"]["login"] == "bob" and opened["pull_request"]["user"]["login"] == "bob"
    assert (sync["before"], sync["after"]) == (head1, head2)
    assert sync["sender"]["login"] == "carol"
    assert push["before"] == main1 and [c["id"] for c in push["commits"]] == [head1, head2]
    assert closed["pull_request"]["state"] == "closed" and closed["pull_request"]["merged"] is True
    with session_factory(db.engine)() as s:
        delivery_ids = [d for d in s.execute(select(Event.delivery_id)).scalars()]
    assert all(d.startswith("local-") for d in delivery_ids)


def test_a_pr_closed_while_the_watcher_was_down_is_closed_after_restart(
    db: Database, root: Path, repo: Repo
) -> None:
    repo.commit("Feature", {"f.py": "1\n"}, branch="pr/4")
    repo.checkout("main")
    assert watcher(db, root).scan_once() == 2  # push main, opened #4
    repo.delete_branch("pr/4")
    assert watcher(db, root).scan_once() == 1  # seeded from the log: knows #4 was open
    kind, action, payload = events(db)[-1]
    assert (kind, action, payload["number"]) == ("pull_request", "closed", 4)
    assert payload["pull_request"]["merged"] is False


def test_other_branches_and_broken_repositories_are_ignored(
    db: Database, root: Path, repo: Repo
) -> None:
    repo.commit("Side", {"s": "1"}, branch="feature/x")
    repo.commit("Named", {"n": "1"}, branch="pr/3-named")
    repo.checkout("main")
    broken = root / ORG / "broken"
    (broken / "objects").mkdir(parents=True)
    (broken / "refs").mkdir()
    (broken / "HEAD").write_text("garbage\n")
    assert watcher(db, root).scan_once() == 1
    assert [e[0] for e in events(db)] == ["push"]


def test_start_and_stop_log_in_the_background(db: Database, root: Path, repo: Repo) -> None:
    logged = threading.Event()
    w = LocalWatcher(LocalPulls.at(root), db.engine, poll_interval=0.05, on_logged=logged.set)
    thread = w.start()
    try:
        assert logged.wait(20)
        logged.clear()
        head = repo.commit("Feature", {"f.py": "1\n"}, branch="wip")
        repo.git("branch", "pr/9", "wip")  # the PR appears with its commit, atomically
        assert logged.wait(20)
    finally:
        w.stop(timeout=20)
    assert not thread.is_alive()
    assert summary(db)[1:] == [("pull_request", "opened", f"#9@{head[:7]}")]


def local_settings(db: Database, root: Path) -> Settings:
    return Settings(
        database_url=db.url,
        scm=ScmSettings(provider="local", local_root=str(root)),
    )


async def test_comment_is_stored_and_logged(db: Database, root: Path, repo: Repo) -> None:
    repo.commit("Feature", {"f.py": "1\n"}, branch="pr/2", author="bob")
    repo.checkout("main")
    calls: list[int] = []
    made = comment(
        db.engine,
        local_settings(db, root),
        ORG,
        REPO,
        2,
        "/retest",
        "carol",
        on_logged=lambda: calls.append(1),
    )
    assert calls == [1]
    scm = LocalScm(root, db.engine)
    listed = await scm.list_issue_comments(ORG, REPO, 2)
    assert [(c.id, c.body, c.user.login if c.user else None) for c in listed] == [
        (made.id, "/retest", "carol")
    ]
    await scm.close()
    [(kind, action, payload)] = events(db)
    assert (kind, action) == ("issue_comment", "created")
    ev = parse_payload(kind, payload)
    assert isinstance(ev, IssueCommentEvent)
    assert (ev.issue.number, ev.comment.id, ev.comment.body) == (2, made.id, "/retest")
    assert ev.issue.is_pull_request and ev.issue.state == "open"


def test_comment_errors(db: Database, root: Path, repo: Repo) -> None:
    settings = local_settings(db, root)
    with pytest.raises(LocalScmError, match="no pull request #5") as err:
        comment(db.engine, settings, ORG, REPO, 5, "/test all", "carol")
    assert err.value.status == 404
    repo.commit("Feature", {"f.py": "1\n"}, branch="pr/5")
    for author in ("", "-x", "a b", "x" * 40):
        with pytest.raises(LocalScmError, match="invalid comment author"):
            comment(db.engine, settings, ORG, REPO, 5, "/test all", author)
    with pytest.raises(LocalScmError, match="over 65536 bytes"):
        comment(db.engine, settings, ORG, REPO, 5, "x" * 70000, "carol")
    with pytest.raises(LocalScmError, match="invalid repository"):
        comment(db.engine, settings, ORG, "..", 5, "/test all", "carol")
    assert events(db) == []


def test_reopen_and_moving_back_to_an_old_head_are_events_too(
    db: Database, root: Path, repo: Repo
) -> None:
    w = watcher(db, root)
    a = repo.commit("A", {"f.py": "a\n"}, branch="pr/6")
    repo.checkout("main")
    assert w.scan_once() == 2  # push main, opened
    b = repo.commit("B", {"f.py": "b\n"}, branch="pr/6")
    assert w.scan_once() == 1
    repo.git("reset", "--quiet", "--hard", a)  # force-push back to A
    assert w.scan_once() == 1
    repo.delete_branch("pr/6")
    assert w.scan_once() == 1
    repo.git("branch", "pr/6", b)
    assert watcher(db, root).scan_once() == 1  # after a restart too: seeded "closed"
    assert summary(db)[1:] == [
        ("pull_request", "opened", f"#6@{a[:7]}"),
        ("pull_request", "synchronize", f"#6@{b[:7]}"),
        ("pull_request", "synchronize", f"#6@{a[:7]}"),
        ("pull_request", "closed", f"#6@{a[:7]}"),
        ("pull_request", "reopened", f"#6@{b[:7]}"),
    ]


def test_metrics_count_scans_and_new_events(sqlite_db: Database, root: Path, repo: Repo) -> None:
    registry = CollectorRegistry()
    w = LocalWatcher(LocalPulls.at(root), sqlite_db.engine, registry=registry)
    assert w.scan_once() == 1
    assert w.scan_once() == 0
    assert registry.get_sample_value("foredeck_local_watch_scans_total") == 2
    assert registry.get_sample_value("foredeck_local_watch_events_total") == 1
