"""`InRepoTrees`: what its cache gives back is what a read of the same refs gives."""

from __future__ import annotations

import pytest

from foredeck.config import JobConfig
from foredeck.scm.inrepo import InRepoOptions, TreeConfig
from foredeck.tide import inrepo
from foredeck.tide.inrepo import InRepoTrees
from foredeck.types import Pull, Refs


async def test_a_repository_named_in_another_case_gets_jobs_under_its_own_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The merged jobs are keyed by `org/repo` as the refs spell it, and looked up so: a tree
    read for `Acme/Widget` is not the jobs of `acme/widget`."""

    async def read(central: JobConfig, refs: Refs, options: InRepoOptions) -> TreeConfig:
        return TreeConfig(JobConfig(presubmits={f"{refs.org}/{refs.repo}": []}))

    monkeypatch.setattr(inrepo, "read_tree_config", read)
    trees, central = InRepoTrees(InRepoOptions(in_repo_config=True)), JobConfig()
    for org, repo in (("Acme", "Widget"), ("acme", "widget")):
        refs = Refs(
            org=org,
            repo=repo,
            base_ref="main",
            base_sha="a" * 40,
            pulls=[Pull(number=1, sha="b" * 40, author="someone")],
        )
        found = await trees.jobs(central, refs)
        assert isinstance(found, JobConfig) and list(found.presubmits) == [f"{org}/{repo}"]
