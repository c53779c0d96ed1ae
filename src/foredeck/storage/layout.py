"""Prow's artifact layout, so Spyglass-style tools and existing links keep working.

Mirrors `pkg/pod-utils/gcs/target.go` (PathForSpec, AliasForSpec, LatestBuildForSpec,
RootForSpec) and `pkg/gcsupload/run.go`:

- presubmit:  `pr-logs/pull/<org>_<repo>/<pr>/<job>/<build>`; latest build id in
  `pr-logs/directory/<job>/latest-build.txt` and `pr-logs/pull/<org>_<repo>/<pr>/<job>/
  latest-build.txt`; an alias `pr-logs/directory/<job>/<build>.txt` holding the build's URL.
- batch:      `pr-logs/pull/batch/<job>/<build>`; latest in `pr-logs/directory/<job>/`.
- postsubmit, periodic: `logs/<job>/<build>`; latest in `logs/<job>/latest-build.txt`.

The repository segment follows Prow's "explicit" path strategy by default (`org_repo`, with an
`https://` prefix trimmed from the org and `/` in the repo replaced by `_`, for Gerrit);
`legacy_repo_segment` and `single_default_repo_segment` give Prow's other two strategies. Prow's
`path_prefix` is not needed: put the prefix in the store URL instead (`gs://bucket/prefix`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from foredeck.storage.paths import join

JobType = Literal["presubmit", "postsubmit", "periodic", "batch"]
RepoSegment = Callable[[str, str], str]

PR_LOGS = "pr-logs"
NON_PR_LOGS = "logs"
LATEST_BUILD = "latest-build.txt"


def explicit_repo_segment(org: str, repo: str) -> str:
    """Prow's explicit strategy: always `org_repo`."""
    return f"{org.removeprefix('https://')}_{repo.replace('/', '_')}"


def legacy_repo_segment(default_org: str, default_repo: str) -> RepoSegment:
    """Prow's legacy strategy: nothing for the default repo, `repo` in the default org."""

    def segment(org: str, repo: str) -> str:
        if org == default_org:
            return "" if repo == default_repo else repo
        return explicit_repo_segment(org, repo)

    return segment


def single_default_repo_segment(default_org: str, default_repo: str) -> RepoSegment:
    """Prow's single strategy: nothing for the one default repo, `org_repo` otherwise."""

    def segment(org: str, repo: str) -> str:
        if org == default_org and repo == default_repo:
            return ""
        return explicit_repo_segment(org, repo)

    return segment


def _check(job_type: str, job_name: str, build_id: str | None = None) -> None:
    if job_type not in get_args(JobType):
        raise ValueError(f"unknown job type {job_type!r}; expected one of {get_args(JobType)}")
    for what, value in (("job name", job_name), ("build id", build_id)):
        if value is not None and (not value or "/" in value or value in {".", ".."}):
            raise ValueError(f"invalid {what} {value!r}: must be one non-empty path segment")


def _pr_dir(
    org: str | None, repo: str | None, pr_number: int | None, repo_segment: RepoSegment
) -> str:
    if not org or not repo or pr_number is None:
        raise ValueError("a presubmit path needs org, repo and pr_number")
    if pr_number < 0:
        raise ValueError(f"invalid pr_number {pr_number}")
    return join(PR_LOGS, "pull", repo_segment(org, repo), str(pr_number))


def job_path(
    job_type: JobType,
    org: str | None,
    repo: str | None,
    pr_number: int | None,
    job_name: str,
    build_id: str,
    *,
    repo_segment: RepoSegment = explicit_repo_segment,
) -> str:
    """The directory of one build (Prow's `PathForSpec`, no trailing slash)."""
    _check(job_type, job_name, build_id)
    if job_type == "presubmit":
        return join(_pr_dir(org, repo, pr_number, repo_segment), job_name, build_id)
    if job_type == "batch":
        return join(PR_LOGS, "pull", "batch", job_name, build_id)
    return join(NON_PR_LOGS, job_name, build_id)


def root_path(job_type: JobType, job_name: str) -> str:
    """Where a job's builds are indexed (Prow's `RootForSpec`)."""
    _check(job_type, job_name)
    if job_type in {"presubmit", "batch"}:
        return join(PR_LOGS, "directory", job_name)
    return join(NON_PR_LOGS, job_name)


def latest_build_path(job_type: JobType, job_name: str) -> str:
    """The job-wide `latest-build.txt` (the first of `latest_build_paths`)."""
    return join(root_path(job_type, job_name), LATEST_BUILD)


def latest_build_paths(
    job_type: JobType,
    org: str | None,
    repo: str | None,
    pr_number: int | None,
    job_name: str,
    *,
    repo_segment: RepoSegment = explicit_repo_segment,
) -> list[str]:
    """Every `latest-build.txt` Prow writes (presubmits have a second, per-PR one)."""
    paths = [latest_build_path(job_type, job_name)]
    if job_type == "presubmit":
        pr_dir = _pr_dir(org, repo, pr_number, repo_segment)
        paths.append(join(pr_dir, job_name, LATEST_BUILD))
    return paths


def alias_path(job_type: JobType, job_name: str, build_id: str) -> str | None:
    """`pr-logs/directory/<job>/<build>.txt` for presubmits (Prow's `AliasForSpec`), else None.

    The file holds the storage URL of the build directory, so a job-wide listing can find
    builds that live under per-PR directories.
    """
    _check(job_type, job_name, build_id)
    if job_type != "presubmit":
        return None
    return join(PR_LOGS, "directory", job_name, f"{build_id}.txt")


@dataclass(frozen=True)
class JobPaths:
    """Everything `publish_run` writes for one build."""

    build_id: str
    build_dir: str
    latest_build: tuple[str, ...]
    alias: str | None = None


def job_paths(
    job_type: JobType,
    org: str | None,
    repo: str | None,
    pr_number: int | None,
    job_name: str,
    build_id: str,
    *,
    repo_segment: RepoSegment = explicit_repo_segment,
) -> JobPaths:
    return JobPaths(
        build_id=build_id,
        build_dir=job_path(
            job_type, org, repo, pr_number, job_name, build_id, repo_segment=repo_segment
        ),
        latest_build=tuple(
            latest_build_paths(job_type, org, repo, pr_number, job_name, repo_segment=repo_segment)
        ),
        alias=alias_path(job_type, job_name, build_id),
    )
