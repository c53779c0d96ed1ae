from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from foredeck.db import Job, session_factory
from foredeck.db.jobs import (
    JobCreate,
    Pull,
    Refs,
    create_job,
    get_job,
    list_jobs,
    set_state,
    unfinished_presubmits,
)
from tests.db.fixtures import Database

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def presubmit(
    name: str = "unit", pr: int = 7, dedupe: str | None = None, **kw: object
) -> JobCreate:
    refs = Refs(
        org="acme",
        repo="widget",
        base_ref="main",
        base_sha="a" * 40,
        pulls=[Pull(number=pr, sha="b" * 40, author="alice", title="Fix it")],
    )
    return JobCreate(name=name, type="presubmit", refs=refs, dedupe_key=dedupe, **kw)  # type: ignore[arg-type]


def count_jobs(db: Database) -> int:
    with session_factory(db.engine)() as s:
        return int(s.execute(select(func.count()).select_from(Job)).scalar_one())


def test_create_job_derives_columns_from_refs(db: Database) -> None:
    sessions = session_factory(db.engine)
    with sessions.begin() as s:
        job, created = create_job(s, presubmit(cause="d-1", trigger_reason="opened"), now=T0)
        job_id = job.id
    assert created
    with sessions() as s:
        row = get_job(s, job_id)
        assert row is not None
        assert (row.org, row.repo, row.base_ref, row.pull_number) == ("acme", "widget", "main", 7)
        assert row.state == "triggered"
        assert row.created_at == T0
        assert row.pulls[0]["number"] == 7 and row.pulls[0]["author"] == "alice"
        # Prow's JSON shape: empty fields omitted.
        assert row.refs == {
            "org": "acme",
            "repo": "widget",
            "base_ref": "main",
            "base_sha": "a" * 40,
            "pulls": [{"number": 7, "author": "alice", "sha": "b" * 40, "title": "Fix it"}],
        }
        assert row.cause == "d-1" and row.trigger_reason == "opened"


def test_create_job_is_idempotent_on_dedupe_key(db: Database) -> None:
    sessions = session_factory(db.engine)
    with sessions.begin() as s:
        first, created1 = create_job(s, presubmit(dedupe="d-1:unit"))
    with sessions.begin() as s:
        again, created2 = create_job(s, presubmit(dedupe="d-1:unit", trigger_reason="other"))
    assert created1 and not created2
    assert again.id == first.id
    assert again.trigger_reason is None  # the existing row, unchanged
    with sessions.begin() as s:
        create_job(s, presubmit())
        create_job(s, presubmit())  # no key: no dedupe
    assert count_jobs(db) == 3


def test_dedupe_within_one_transaction(db: Database) -> None:
    with session_factory(db.engine).begin() as s:
        a, _ = create_job(s, presubmit(dedupe="k"))
        b, created = create_job(s, presubmit(dedupe="k"))
        assert a.id == b.id and not created
    assert count_jobs(db) == 1


def test_concurrent_creates_with_one_key_make_one_row(pg_db: Database) -> None:
    """PostgreSQL: two workers racing on the same key; the second waits, then sees the first."""
    sessions = session_factory(pg_db.engine)
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def create() -> None:
        with sessions.begin() as s:
            barrier.wait()
            _, created = create_job(s, presubmit(dedupe="race"))
            results.append(created)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, True]
    assert count_jobs(pg_db) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "presubmit"}, "needs refs"),
        ({"type": "presubmit", "refs": Refs(org="o", repo="r")}, "exactly one pull"),
        ({"type": "batch", "refs": Refs(org="o", repo="r")}, "at least one pull"),
        (
            {"type": "postsubmit", "refs": Refs(org="o", repo="r", pulls=[Pull(number=1)])},
            "cannot have pulls",
        ),
        ({"type": "nightly"}, "type"),
        ({"type": "periodic", "state": "running"}, "state"),
        ({"type": "periodic", "name": ""}, "name"),
    ],
)
def test_job_create_rejects_inconsistent_input(kwargs: dict[str, object], message: str) -> None:
    data: dict[str, object] = {"name": "j", **kwargs}
    with pytest.raises(ValidationError, match=message):
        JobCreate.model_validate(data)


def test_unfinished_presubmits(db: Database) -> None:
    sessions = session_factory(db.engine)
    with sessions.begin() as s:
        a, _ = create_job(s, presubmit("a", pr=7))
        b, _ = create_job(s, presubmit("b", pr=7))
        done, _ = create_job(s, presubmit("c", pr=7))
        create_job(s, presubmit("d", pr=8))
        post = JobCreate(name="post", type="postsubmit", refs=Refs(org="acme", repo="widget"))
        create_job(s, post)
        assert set_state(s, done.id, "success")
        assert set_state(s, b.id, "pending")
    with sessions() as s:
        found = unfinished_presubmits(s, "acme", "widget", 7)
        assert [j.id for j in found] == [a.id, b.id]
        assert unfinished_presubmits(s, "acme", "other", 7) == []


def test_set_state_timestamps_and_guards(db: Database) -> None:
    sessions = session_factory(db.engine)
    with sessions.begin() as s:
        job, _ = create_job(s, presubmit())
    t1, t2, t3 = T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    with sessions.begin() as s:
        assert set_state(s, job.id, "pending", now=t1, build_id="b1", url="http://x/1")
        assert set_state(s, job.id, "pending", now=t2, description="still running")
    with sessions.begin() as s:
        row = get_job(s, job.id)
        assert row is not None
        assert row.started_at == t1  # the first move to pending counts
        assert (row.build_id, row.url, row.description) == ("b1", "http://x/1", "still running")
        assert row.finished_at is None
        assert set_state(s, job.id, "failure", now=t3)
    with sessions.begin() as s:
        # A finished job is final unless the caller says otherwise.
        assert not set_state(s, job.id, "aborted")
        assert not set_state(s, job.id, "success", from_states=["pending"])
        assert set_state(s, job.id, "error", from_states=None, now=t3)
        assert not set_state(s, 999_999, "pending")
    with sessions() as s:
        row = get_job(s, job.id)
        assert row is not None
        assert (row.state, row.finished_at) == ("error", t3)


def test_set_state_refreshes_objects_in_the_session(db: Database) -> None:
    with session_factory(db.engine).begin() as s:
        job, _ = create_job(s, presubmit())
        set_state(s, job.id, "aborted")
        assert job.state == "aborted"


def test_list_jobs_filters_and_keyset_pagination(db: Database) -> None:
    sessions = session_factory(db.engine)
    with sessions.begin() as s:
        ids = [create_job(s, presubmit(f"job{i % 3}", pr=i % 2))[0].id for i in range(25)]
        set_state(s, ids[0], "pending")
    with sessions() as s:
        seen: list[int] = []
        after: int | None = None
        while True:
            page = list_jobs(s, limit=10, after_id=after)
            if not page:
                break
            assert len(page) <= 10
            seen += [j.id for j in page]
            after = page[-1].id
        assert seen == sorted(ids, reverse=True)
        assert {j.name for j in list_jobs(s, name="job1", limit=100)} == {"job1"}
        assert len(list_jobs(s, name="job1", limit=100)) == len(range(1, 25, 3))
        assert [j.id for j in list_jobs(s, state="pending")] == [ids[0]]
        assert len(list_jobs(s, state=["pending", "triggered"], limit=100)) == 25
        assert all(j.pull_number == 1 for j in list_jobs(s, pull_number=1, limit=100))
        assert list_jobs(s, org="other") == []
        assert len(list_jobs(s, org="acme", repo="widget", type="presubmit", limit=100)) == 25
