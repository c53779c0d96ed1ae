"""`read_tree_config`: the in-repo jobs of a pull request's tree, read without a working tree,
or by the full checkout where only it reads the files as a job would (a symlinked config)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from foredeck.config import JobConfig
from foredeck.scm import inrepo
from foredeck.scm.inrepo import InRepoOptions, read_tree_config
from foredeck.types import Pull, Refs
from tests.kit.git import Repo

LINT = "presubmits:\n- {name: lint, always_run: true, spec: {containers: [{image: a}]}}\n"


def refs_for(up: Repo, *pulls: tuple[int, str]) -> Refs:
    return Refs(
        org="acme",
        repo="widget",
        base_ref="main",
        base_sha=up.head("main"),
        pulls=[Pull(number=n, sha=sha, author="someone") for n, sha in pulls],
    )


def options(up: Repo, tmp_path: Path) -> InRepoOptions:
    return InRepoOptions(
        in_repo_config=True,
        cache_dir=str(tmp_path / "cache"),
        clone_uris={"acme/widget": str(up.path)},
    )


def names(jobs: JobConfig | None) -> list[str]:
    assert jobs is not None
    return sorted(p.name for p in jobs.presubmits.get("acme/widget", []))


async def test_a_pulls_jobs_are_read_without_a_full_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    up = Repo(tmp_path / "up", {"README.md": "hi\n"})
    head = up.pull(1, {".foredeck.yaml": LINT})

    async def no_checkout(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the whole tree was checked out")

    monkeypatch.setattr(inrepo, "checkout", no_checkout)
    tree = await read_tree_config(JobConfig(), refs_for(up, (1, head)), options(up, tmp_path))
    assert tree.failure == "" and names(tree.jobs) == ["lint"]


async def test_a_symlinked_config_is_read_from_the_full_checkout(tmp_path: Path) -> None:
    """The link's target is elsewhere in the tree: written alone, the link would dangle and
    the config would read as missing, where the job's checkout reads the target."""
    up = Repo(tmp_path / "up", {"README.md": "hi\n", "ci/jobs.yaml": LINT})
    os.symlink("ci/jobs.yaml", up.path / ".foredeck.yaml")
    up.git("add", ".foredeck.yaml")
    up.git("commit", "-q", "-m", "config is a link")
    tree = await read_tree_config(JobConfig(), refs_for(up), options(up, tmp_path))
    assert tree.failure == "" and names(tree.jobs) == ["lint"]


async def test_a_conflict_is_a_lasting_failure(tmp_path: Path) -> None:
    up = Repo(tmp_path / "up", {".foredeck.yaml": LINT})
    one = up.pull(1, {".foredeck.yaml": LINT + "# one\n"})
    two = up.pull(2, {".foredeck.yaml": LINT + "# two\n"})
    refs = refs_for(up, (1, one), (2, two))
    tree = await read_tree_config(JobConfig(), refs, options(up, tmp_path))
    assert tree.jobs is None and tree.lasting
    assert "does not merge cleanly" in tree.failure and ".foredeck.yaml" in tree.failure
