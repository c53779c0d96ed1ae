"""Matching pull requests, comments and pushes to jobs, with Prow's semantics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from foredeck.config import JobConfig, Postsubmit, Presubmit
from tests.config.helpers import load_text, messages


def presubmit(**fields: object) -> Presubmit:
    job = Presubmit.model_validate({"name": "job", **fields})
    job.finalize("org/repo")
    return job


def postsubmit(**fields: object) -> Postsubmit:
    job = Postsubmit.model_validate({"name": "post", **fields})
    job.finalize("org/repo")
    return job


@pytest.mark.parametrize(
    ("changes", "expected"),
    [  # Prow's TestRunIfChangedPresubmits cases
        (["some random file"], False),
        (["./pkg/util/rlimit/rlimit_linux.go"], True),
        (["./pkg/util/rlimit/rlimit_unknown_test.go"], True),
        (["build.sh"], True),
        (["build.shoo"], False),
        (["Makefile"], True),
    ],
)
def test_run_if_changed(changes: list[str], expected: bool) -> None:
    job = presubmit(run_if_changed=r"(Makefile|\.sh|_(windows|linux|osx|unknown)(_test)?\.go)$")
    assert job.should_run(changes) is expected
    assert postsubmit(run_if_changed=job.run_if_changed).should_run("main", changes) is expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [  # Prow's TestSkipIfOnlyChangedPresubmits cases
        (["some random file"], True),
        (["docs/cobragen.go"], False),
        (["./docs/cobragen.go"], True),
        (["README", "README.md", "OWNERS", "path/to/something.adoc", "path/to/README"], False),
        (["README", "README.md", "path/to/README", "foo"], True),
    ],
)
def test_skip_if_only_changed(changes: list[str], expected: bool) -> None:
    job = presubmit(skip_if_only_changed=r"^docs/|\.(md|adoc)$|/?(README|OWNERS)$")
    assert job.should_run(changes) is expected


def test_should_run_three_ways() -> None:
    assert presubmit(always_run=True).should_run([]) is True
    assert presubmit(run_if_changed="^src/").should_run(["docs/x"]) is False
    explicit = presubmit()
    assert explicit.should_run(["anything"]) is None
    assert explicit.needs_explicit_trigger()


def test_changed_files_are_fetched_only_when_needed_and_once(tmp_path: Path) -> None:
    text = """
    presubmits:
      org/repo:
      - {name: always, always_run: true, spec: {containers: [{image: a}]}}
      - {name: explicit, spec: {containers: [{image: a}]}}
      - {name: src, run_if_changed: ^src/, spec: {containers: [{image: a}]}}
      - {name: go, run_if_changed: \\.go$, spec: {containers: [{image: a}]}}
    """
    config = load_text(tmp_path, text).jobs
    calls: list[int] = []

    def changes() -> Sequence[str]:
        calls.append(1)
        return ["src/main.go"]

    names = [p.name for p in config.presubmits_to_run("org/repo", "main", changes)]
    assert names == ["always", "src", "go"]
    assert len(calls) == 1
    only_always = JobConfig(presubmits={"org/repo": config.presubmits["org/repo"][:2]})
    assert [p.name for p in only_always.presubmits_to_run("org/repo", "main", changes)] == [
        "always"
    ]
    assert len(calls) == 1  # no conditional job: the files were never fetched


@pytest.mark.parametrize(
    ("branches", "skip", "branch", "expected"),
    [
        ([], [], "anything", True),
        (["^main$"], [], "main", True),
        (["^main$"], [], "main-old", False),
        (["main"], [], "main-old", True),  # unanchored, exactly like Prow's Go MatchString
        (["release-1.1"], [], "release-1.10", True),
        ([r"^release-\d+\.\d+$"], [], "release-1.30", True),
        (["^main$", "^dev$"], [], "dev", True),
        ([], ["^gh-pages$"], "gh-pages", False),
        ([], ["^gh-pages$"], "main", True),
        (["s", "r"], ["s"], "s", False),  # Prow's TestRunAgainstBranch: skip_branches wins
        (["s", "r"], ["s"], "r", True),
    ],
)
def test_branch_matching(branches: list[str], skip: list[str], branch: str, expected: bool) -> None:
    assert presubmit(branches=branches, skip_branches=skip).could_run(branch) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/test job", True),
        ("/test job,", True),
        ("/test other job", True),
        ("/test job please", True),
        ("looks good\n/test job\nthanks", True),
        ("/test jobs", False),
        ("/test job-extra", False),
        ("please /test job", False),
        ("/testjob", False),
    ],
)
def test_default_trigger(body: str, expected: bool) -> None:
    assert presubmit().trigger_matches(body) is expected


COMMENT_JOBS = """
presubmits:
  org/repo:
  - {name: unit, always_run: true, spec: {containers: [{image: a}]}}
  - {name: e2e, run_if_changed: ^test/, spec: {containers: [{image: a}]}}
  - {name: docs, skip_if_only_changed: ^src/, optional: true, spec: {containers: [{image: a}]}}
  - {name: manual, spec: {containers: [{image: a}]}}
  - {name: release-only, always_run: true, branches: [^release-], spec: {containers: [{image: a}]}}
"""


@pytest.mark.parametrize(
    ("body", "changes", "expected"),
    [
        ("/test manual", ["src/a.go"], ["manual"]),
        ("/test e2e", ["src/a.go"], ["e2e"]),  # forced: file conditions do not matter
        ("/test unit manual", [], ["unit", "manual"]),
        ("/test release-only", [], []),  # the branch still has to match
        ("/test all", ["src/a.go"], ["unit"]),
        ("/test all", ["test/e2e.go", "README"], ["unit", "e2e", "docs"]),
        ("/test all\n/test manual", ["src/a.go"], ["unit", "manual"]),
        ("/ok-to-test", ["src/a.go"], []),  # only honoured when the caller says so
        ("nice work", ["test/x"], []),
    ],
)
def test_presubmits_for_comment(
    tmp_path: Path, body: str, changes: list[str], expected: list[str]
) -> None:
    config = load_text(tmp_path, COMMENT_JOBS).jobs
    got = config.presubmits_for_comment("org/repo", "main", body, changes)
    assert [p.name for p in got] == expected


def test_ok_to_test_and_retest(tmp_path: Path) -> None:
    config = load_text(tmp_path, COMMENT_JOBS).jobs
    got = config.presubmits_for_comment(
        "org/repo", "main", "/ok-to-test", ["test/x"], honor_ok_to_test=True
    )
    assert [p.name for p in got] == ["unit", "e2e", "docs"]
    # /retest: failed contexts rerun (even when conditional); jobs that never reported start.
    got = config.presubmits_for_comment(
        "org/repo",
        "main",
        "/retest",
        ["src/a.go"],
        failed_contexts={"e2e", "manual"},
        all_contexts={"unit", "e2e", "manual"},
    )
    assert [p.name for p in got] == ["e2e", "manual"]
    got = config.presubmits_for_comment(
        "org/repo",
        "main",
        "/retest-required",
        ["README"],
        failed_contexts={"docs", "unit"},
        all_contexts={"unit", "docs"},
    )
    assert [p.name for p in got] == ["unit"]  # docs is optional


def test_presubmits_for_uses_the_repo_index(tmp_path: Path) -> None:
    config = load_text(tmp_path, COMMENT_JOBS).jobs
    assert [p.name for p in config.presubmits_for("org/repo", "main")] == [
        "unit",
        "e2e",
        "docs",
        "manual",
    ]
    assert len(config.presubmits_for("org/repo", "release-2")) == 5
    assert config.presubmits_for("org/unknown", "main") == []


def test_postsubmits(tmp_path: Path) -> None:
    text = """
    postsubmits:
      org/repo:
      - {name: default, spec: {containers: [{image: a}]}}
      - {name: never, always_run: false, spec: {containers: [{image: a}]}}
      - {name: main-only, branches: [^main$], spec: {containers: [{image: a}]}}
      - {name: tags, branches: ['^v\\d+'], spec: {containers: [{image: a}]}}
      - {name: docs, run_if_changed: ^docs/, spec: {containers: [{image: a}]}}
    """
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    config = result.jobs

    def names(ref: str, changes: list[str]) -> list[str]:
        return [p.name for p in config.postsubmits_for("org/repo", ref, changes)]

    assert names("refs/heads/main", ["src/x"]) == ["default", "main-only"]
    assert names("main", ["docs/x"]) == ["default", "main-only", "docs"]
    assert names("refs/tags/v1.2.0", []) == ["default", "tags"]


def test_always_run_with_run_if_changed_is_an_error_for_postsubmits(tmp_path: Path) -> None:
    text = """
    postsubmits:
      org/repo:
      - {name: p, always_run: true, run_if_changed: x, spec: {containers: [{image: a}]}}
    """
    assert (
        "always_run and run_if_changed are mutually exclusive"
        in messages(load_text(tmp_path, text))[0]
    )


def test_matching_leaves_jobs_comparable(tmp_path: Path) -> None:
    """Compiled regexes live in a shared cache, not on the job: a reloaded config compares equal
    to one that has been matched against events (config reload detection relies on it)."""
    first = load_text(tmp_path, COMMENT_JOBS).jobs
    first.presubmits_for_comment("org/repo", "main", "/test all", ["test/x"])
    second = load_text(tmp_path, COMMENT_JOBS).jobs
    assert first.presubmits == second.presubmits
