"""Layout paths compared with the cases of Prow's `pkg/pod-utils/gcs/target_test.go`."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from foredeck.storage.layout import (
    JobType,
    RepoSegment,
    alias_path,
    explicit_repo_segment,
    job_path,
    job_paths,
    latest_build_path,
    latest_build_paths,
    legacy_repo_segment,
    root_path,
    single_default_repo_segment,
)
from foredeck.storage.paths import clean_path, join


@pytest.mark.parametrize(
    ("job_type", "segment", "expected"),
    [
        ("periodic", explicit_repo_segment, "logs/job/number"),
        ("postsubmit", explicit_repo_segment, "logs/job/number"),
        ("batch", explicit_repo_segment, "pr-logs/pull/batch/job/number"),
        ("presubmit", explicit_repo_segment, "pr-logs/pull/org_repo/1/job/number"),
        ("presubmit", legacy_repo_segment("org", "repo"), "pr-logs/pull/1/job/number"),
        ("presubmit", legacy_repo_segment("org", "other"), "pr-logs/pull/repo/1/job/number"),
        ("presubmit", legacy_repo_segment("some", "other"), "pr-logs/pull/org_repo/1/job/number"),
    ],
)
def test_job_path_matches_prow(job_type: JobType, segment: RepoSegment, expected: str) -> None:
    assert job_path(job_type, "org", "repo", 1, "job", "number", repo_segment=segment) == expected


def test_presubmit_latest_build_paths_match_prow() -> None:
    args: tuple[JobType, str, str, int, str] = (
        "presubmit",
        "kubernetes",
        "test-infra",
        1234,
        "pull-kubernetes-unit",
    )
    assert latest_build_paths(*args) == [
        "pr-logs/directory/pull-kubernetes-unit/latest-build.txt",
        "pr-logs/pull/kubernetes_test-infra/1234/pull-kubernetes-unit/latest-build.txt",
    ]
    legacy = legacy_repo_segment("kubernetes", "test-infra")
    assert latest_build_paths(*args, repo_segment=legacy) == [
        "pr-logs/directory/pull-kubernetes-unit/latest-build.txt",
        "pr-logs/pull/1234/pull-kubernetes-unit/latest-build.txt",
    ]
    single = single_default_repo_segment("defaultorg", "defaultrepo")
    assert latest_build_paths(*args, repo_segment=single)[1] == (
        "pr-logs/pull/kubernetes_test-infra/1234/pull-kubernetes-unit/latest-build.txt"
    )


@pytest.mark.parametrize(
    ("job_type", "job", "latest", "root"),
    [
        ("batch", "pull-kubernetes-unit", "pr-logs/directory/pull-kubernetes-unit/latest-build.txt",
         "pr-logs/directory/pull-kubernetes-unit"),
        ("postsubmit", "ci-kubernetes-unit", "logs/ci-kubernetes-unit/latest-build.txt",
         "logs/ci-kubernetes-unit"),
        ("periodic", "ci-kubernetes-periodic", "logs/ci-kubernetes-periodic/latest-build.txt",
         "logs/ci-kubernetes-periodic"),
    ],
)  # fmt: skip
def test_latest_build_and_root_match_prow(
    job_type: JobType, job: str, latest: str, root: str
) -> None:
    assert latest_build_paths(job_type, None, None, None, job) == [latest]
    assert latest_build_path(job_type, job) == latest
    assert root_path(job_type, job) == root


def test_alias_only_for_presubmits() -> None:
    assert alias_path("presubmit", "job", "number") == "pr-logs/directory/job/number.txt"
    for job_type in get_args(JobType)[1:]:
        assert alias_path(job_type, "job", "number") is None


def test_repo_segments_match_prow() -> None:
    assert explicit_repo_segment("org", "repo") == "org_repo"
    assert explicit_repo_segment("gerrit", "foo/bar") == "gerrit_foo_bar"
    assert explicit_repo_segment("https://gerrit.example", "a/b") == "gerrit.example_a_b"
    legacy = legacy_repo_segment("org", "repo")
    assert [legacy("org", "repo"), legacy("other", "repo"), legacy("org", "other")] == [
        "",
        "other_repo",
        "other",
    ]
    single = single_default_repo_segment("org", "repo")
    assert [single("org", "repo"), single("org", "other"), single("gerrit", "foo/bar")] == [
        "",
        "org_other",
        "gerrit_foo_bar",
    ]


def test_job_paths_bundle() -> None:
    paths = job_paths("presubmit", "org", "repo", 7, "pull-unit", "1800000000000000001")
    assert paths.build_dir == "pr-logs/pull/org_repo/7/pull-unit/1800000000000000001"
    assert paths.alias == "pr-logs/directory/pull-unit/1800000000000000001.txt"
    assert paths.latest_build == (
        "pr-logs/directory/pull-unit/latest-build.txt",
        "pr-logs/pull/org_repo/7/pull-unit/latest-build.txt",
    )
    periodic = job_paths("periodic", None, None, None, "ci-nightly", "5")
    assert (periodic.build_dir, periodic.alias) == ("logs/ci-nightly/5", None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("presubmit", "org", "repo", None, "job", "1"), "needs org, repo and pr_number"),
        (("presubmit", "", "repo", 1, "job", "1"), "needs org, repo and pr_number"),
        (("presubmit", "org", "repo", -1, "job", "1"), "invalid pr_number"),
        (("nightly", None, None, None, "job", "1"), "unknown job type"),
        (("periodic", None, None, None, "../job", "1"), "invalid job name"),
        (("periodic", None, None, None, "job", ".."), "invalid build id"),
        (("periodic", None, None, None, "", "1"), "invalid job name"),
        (("presubmit", "../org", "x", 1, "job", "1"), r"'\.\.' segment"),
        (("presubmit", "a//b", "x", 1, "job", "1"), r"empty"),
        (("presubmit", "org", "x\\y", 1, "job", "1"), r"backslash"),
    ],
)
def test_bad_layout_input_is_rejected(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        job_path(*args)


def test_dots_in_org_and_repo_stay_one_segment() -> None:
    # As in Prow, `org_repo` joins the two, so `..`/`..` cannot climb out of the store.
    path = job_path("presubmit", "..", "..", 1, "job", "1")
    assert path == "pr-logs/pull/.._../1/job/1"
    assert clean_path(path) == path


def test_join_behaves_like_go_path_join() -> None:
    assert join("logs", "", "job/", "/1") == "logs/job/1"
    assert join() == ""
    with pytest.raises(ValueError):
        join("logs", "..", "x")
