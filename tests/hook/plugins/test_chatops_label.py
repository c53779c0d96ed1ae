"""`/kind`, `/area`, `/priority`, `/label` and their removals, through the real worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.plugins.chatops_env import ChatOps, make_chatops
from tests.hook.plugins.trigger_env import ORG, REPO, seed_github


def _ops(db: Database, gh: GitHubDouble, config: dict[str, Any] | None = None) -> ChatOps:
    seed_github(gh)
    gh.add_pull(ORG, REPO, 1, author="alice")
    return make_chatops(db, gh, config)


@pytest.fixture
def ops(sqlite_db: Database, github_double: GitHubDouble) -> Iterator[ChatOps]:
    h = _ops(sqlite_db, github_double)
    yield h
    h.worker.close()


def test_prow_default_sets_add_and_remove(ops: ChatOps) -> None:
    body = "Sorting this.\n/kind bug Feature\n/priority important-soon\n/area hook"
    delivery = ops.comment(1, body, commenter="mallory", author="alice")
    expected = ["area/hook", "kind/bug", "kind/feature", "priority/important-soon"]
    assert ops.labels(1) == expected
    ops.redeliver(delivery)
    assert ops.labels(1) == expected
    assert ops.replies(1) == []
    ops.comment(1, "/remove-kind bug\n/remove-area hook", commenter="alice", author="alice")
    assert ops.labels(1) == ["kind/feature", "priority/important-soon"]


def test_values_outside_the_set_are_refused_and_named(ops: ChatOps) -> None:
    ops.comment(1, "/kind bug nonsense\n/priority p0", commenter="alice", author="alice")
    assert ops.labels(1) == ["kind/bug"]
    (reply,) = ops.replies(1)  # one reply for the whole comment
    assert "`/kind bug nonsense`: not allowed here: `nonsense`" in reply
    assert "`/priority p0`: not allowed here: `p0`" in reply


def test_a_command_without_values_is_answered(ops: ChatOps) -> None:
    ops.comment(1, "/kind", commenter="alice", author="alice")
    (reply,) = ops.replies(1)
    assert "`/kind` needs at least one value." in reply


def test_configured_sets_and_additional_labels(
    sqlite_db: Database, github_double: GitHubDouble
) -> None:
    config = {
        "label": {
            "allowed": {"kind": ["bug"], "sig": ["node", "network"]},
            "additional_labels": ["good-first-issue"],
        }
    }
    h = _ops(sqlite_db, github_double, config)
    try:
        h.comment(1, "/sig node\n/label good-first-issue\n/area x", commenter="al", author="alice")
        assert h.labels(1) == ["good-first-issue", "sig/node"]
        (reply,) = h.replies(1)  # /area is not configured here: the help plugin says so
        assert "`/area x`: unknown command" in reply
        h.comment(1, "/remove-label good-first-issue\n/label wontfix", commenter="al", author="a")
        assert h.labels(1) == ["sig/node"]
        assert "`/label wontfix`: not allowed here: `wontfix`" in h.replies(1)[-1]
    finally:
        h.worker.close()


def test_a_prefix_that_is_not_a_word_is_refused_at_start(
    sqlite_db: Database, github_double: GitHubDouble
) -> None:
    with pytest.raises(ValueError, match=r"plugin_config\.label: invalid options"):
        _ops(sqlite_db, github_double, {"label": {"allowed": {"Kind/X": None}}})
