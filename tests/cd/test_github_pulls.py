"""The GitHub side of a bump, request by request, against the contract-checked double."""

from __future__ import annotations

from pathlib import Path

import pytest

from foredeck.scm.branches import GitIdentity
from foredeck.scm.github_types import GitHubError
from tests.doubles.github_api import GitHubDouble

ME = GitIdentity("foredeck", "foredeck@example.com")
FILES = {"deploy/app.yaml": "image: a:1\n", "deploy/db.yaml": "image: db:1\n", "src/x": "x\n"}


@pytest.fixture
def gh(github_double: GitHubDouble) -> GitHubDouble:
    github_double.add_repo("acme", "manifests")
    github_double.commit_files("acme", "manifests", "main", dict(FILES))
    return github_double


async def test_a_checkout_reads_only_the_blobs_under_its_paths(
    gh: GitHubDouble, tmp_path: Path
) -> None:
    async with gh.client() as client:
        checkout = await client.checkout_tree("acme", "manifests", "main", ["deploy"], tmp_path)
        assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.yaml")) == [
            "deploy/app.yaml",
            "deploy/db.yaml",
        ]
        assert not (tmp_path / "src").exists()
        assert len(gh.calls("git/get-blob")) == 2
        (tmp_path / "deploy/app.yaml").write_text("image: a:2\n")
        (tmp_path / "deploy/db.yaml").unlink()
        (tmp_path / "deploy/new.yaml").write_text("kind: New\n")
        sha = await checkout.push("foredeck/bump/app", "Bump", ME)
    assert sha is not None and gh.repo("acme", "manifests").branches["foredeck/bump/app"] == sha
    assert gh.files_at("acme", "manifests", sha) == {
        "deploy/app.yaml": b"image: a:2\n",
        "deploy/new.yaml": b"kind: New\n",
        "src/x": b"x\n",  # outside the paths: the base's, untouched
    }
    commit = gh.commit("acme", "manifests", sha)
    assert commit.parents == [gh.repo("acme", "manifests").branches["main"]]
    assert commit.author["email"] == commit.committer["email"] == ME.email
    assert len(gh.calls("git/create-blob")) == 2  # the changed and the new file only
    assert gh.calls("git/create-ref") == ["POST /repos/acme/manifests/git/refs"]


async def test_an_unchanged_checkout_pushes_nothing(gh: GitHubDouble, tmp_path: Path) -> None:
    async with gh.client() as client:
        checkout = await client.checkout_tree("acme", "manifests", "main", [], tmp_path)
        assert await checkout.push("foredeck/bump/app", "Bump", ME) is None
    assert gh.calls(method="POST") == [] and gh.calls(method="PATCH") == []


async def test_a_ref_moves_by_fast_forward_unless_forced(gh: GitHubDouble) -> None:
    repo = gh.repo("acme", "manifests")
    base = repo.branches["main"]
    side = gh.commit_files("acme", "manifests", "side", {"a": "1"})  # no common history
    async with gh.client() as client:
        await client.force_branch("acme", "manifests", "main", side)
        assert repo.branches["main"] == side
        with pytest.raises(GitHubError, match="Update is not a fast forward"):
            await client._api.call(
                "PATCH",
                "/repos/acme/manifests/git/refs/heads/main",
                body={"sha": base, "force": False},
            )
    assert repo.branches["main"] == side


async def test_a_tree_path_that_climbs_out_is_refused(gh: GitHubDouble, tmp_path: Path) -> None:
    """GitHub never lists one, but a checkout writes files: it does not trust the listing."""
    gh.commit_files("acme", "manifests", "main", {"deploy/../../escape": "x"})
    async with gh.client() as client:
        with pytest.raises(ValueError, match=r"without '\.\.'"):
            await client.checkout_tree("acme", "manifests", "main", [], tmp_path / "tree")
    assert not (tmp_path / "escape").exists()
