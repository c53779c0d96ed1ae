"""The refs a job tests: Prow's presubmit and postsubmit refs from an event, completed with the
job's own clone settings, and the job's extra refs."""

from __future__ import annotations

from collections.abc import Iterable

from foredeck.config import Refs as ExtraRefs
from foredeck.config import RepoJob
from foredeck.types import Pull, Refs

GITHUB_PULL_REF = "refs/pull/{number}/head"
"""Where GitHub serves a pull request's head (a template with `{number}`)."""


def pull_refs(
    *,
    org: str,
    repo: str,
    repo_link: str,
    base_ref: str,
    base_sha: str,
    number: int,
    head_sha: str,
    author: str,
    author_link: str = "",
    title: str = "",
    link: str = "",
    base_link: str = "",
    commit_link: str = "",
    pull_ref: str = GITHUB_PULL_REF,
) -> Refs:
    """Prow's presubmit refs; the pull's `ref` is the fetchable `refs/pull/N/head`. The links
    are the SCM's (`base_link`: the base commit, `commit_link`: the pull's head commit)."""
    return Refs(
        org=org,
        repo=repo,
        repo_link=repo_link,
        base_ref=base_ref,
        base_sha=base_sha,
        base_link=base_link,
        pulls=[
            Pull(
                number=number,
                author=author,
                sha=head_sha,
                title=title,
                ref=pull_ref.format(number=number),
                link=link,
                commit_link=commit_link,
                author_link=author_link,
            )
        ],
    )


def push_refs(
    *, org: str, repo: str, repo_link: str, ref: str, branch: str, sha: str, compare: str
) -> Refs:
    """Prow's postsubmit refs. A tag keeps its full `refs/tags/...` name so that it can be
    fetched; a branch is named as in Prow (`main`)."""
    return Refs(
        org=org,
        repo=repo,
        repo_link=repo_link,
        base_ref=ref if ref.startswith("refs/tags/") else branch,
        base_sha=sha,
        base_link=compare,
    )


def complete_refs(job: RepoJob, refs: Refs) -> Refs:
    """Prow's `CompletePrimaryRefs`: the job's clone settings apply to its main repository."""
    return refs.model_copy(
        update={
            "path_alias": job.path_alias,
            "clone_uri": job.clone_uri,
            "skip_submodules": job.skip_submodules,
            "clone_depth": job.clone_depth,
            "skip_fetch_head": job.skip_fetch_head,
        }
    )


def extra_refs(extra: Iterable[ExtraRefs]) -> list[Refs]:
    """A job's `extra_refs` as the row's refs (Prow's: no shas, cloned at their base ref)."""
    return [
        Refs(
            org=r.org,
            repo=r.repo,
            base_ref=r.base_ref,
            path_alias=r.path_alias,
            workdir=r.workdir,
            clone_uri=r.clone_uri,
            skip_submodules=r.skip_submodules,
            clone_depth=r.clone_depth,
            skip_fetch_head=r.skip_fetch_head,
        )
        for r in extra
    ]
