"""`checkout_paths` writes exactly the files a full checkout has under the asked paths, for the
same refs, without a working tree, and leaves the shared mirror as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from foredeck.scm.git import CheckoutError, checkout, mirror_path
from foredeck.scm.tree_files import checkout_paths
from foredeck.types import Pull, Refs
from tests.kit.git import Repo

PATHS = (".foredeck.yaml", ".foredeck")
CONFIG = "presubmits:\n  - name: unit\n    script: make test\n"


def files_under(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def refs_for(up: Repo, *pulls: tuple[int, str]) -> Refs:
    return Refs(
        org="org",
        repo="repo",
        base_ref="main",
        base_sha=up.head("main"),
        clone_uri=str(up.path),
        pulls=[Pull(number=n, sha=sha, author="someone") for n, sha in pulls],
    )


async def both(refs: Refs, tmp_path: Path, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The asked paths' files from `checkout_paths` and from a full checkout of `refs`."""
    mirrors = tmp_path / "mirrors"
    record = await checkout_paths(refs, tmp_path / f"{name}-paths", PATHS, mirror_root=mirrors)
    assert record is not None and not record.failed
    await checkout(refs, tmp_path / f"{name}-full", mirror_root=mirrors)
    full = files_under(tmp_path / f"{name}-full")
    wanted = {k: v for k, v in full.items() if k == PATHS[0] or k.startswith(PATHS[1] + "/")}
    return files_under(tmp_path / f"{name}-paths"), wanted


@pytest.fixture
def upstream(tmp_path: Path) -> Repo:
    return Repo(
        tmp_path / "up" / "org" / "repo",
        {"README.md": "hi\n", "src/app.py": "print(1)\n", ".foredeck.yaml": CONFIG},
    )


async def test_a_pulls_config_is_read_as_the_checkout_has_it(
    upstream: Repo, tmp_path: Path
) -> None:
    head = upstream.pull(1, {".foredeck.yaml": CONFIG + "  - name: lint\n    script: make lint\n"})
    got, full = await both(refs_for(upstream, (1, head)), tmp_path, "one")
    assert got == full and "lint" in got[".foredeck.yaml"]
    assert not (tmp_path / "one-paths" / "src").exists()  # nothing but the asked paths


async def test_two_pulls_merge_into_one_file_as_sequential_merges_do(
    upstream: Repo, tmp_path: Path
) -> None:
    """Each pull changes another end of the same file: the merged file holds both, as the
    checkout's `--no-ff` merges make it (the second merged onto the first's merge commit)."""
    base = "\n".join(f"# line {i}" for i in range(20)) + "\n"
    upstream.commit("long config", {".foredeck/jobs.yaml": base + CONFIG, ".foredeck.yaml": None})
    one = upstream.pull(1, {".foredeck/jobs.yaml": "# first\n" + base + CONFIG})
    two = upstream.pull(2, {".foredeck/jobs.yaml": base + CONFIG + "# last\n"})
    three = upstream.pull(3, {".foredeck/more.yml": "postsubmits: []\n"})
    got, full = await both(refs_for(upstream, (1, one), (2, two), (3, three)), tmp_path, "chain")
    assert got == full
    text = got[".foredeck/jobs.yaml"]
    assert text.startswith("# first\n") and text.endswith("# last\n")
    assert got[".foredeck/more.yml"] == "postsubmits: []\n"


async def test_no_config_writes_nothing_and_a_push_reads_the_base(
    upstream: Repo, tmp_path: Path
) -> None:
    upstream.commit("drop config", {".foredeck.yaml": None})
    got, full = await both(refs_for(upstream), tmp_path, "none")
    assert got == full == {}


@pytest.mark.parametrize("name", [".foredeck.yaml", ".foredeck/é ü.yaml"])
async def test_a_conflict_is_the_checkouts_error(upstream: Repo, tmp_path: Path, name: str) -> None:
    """Listed as the checkout lists it: a file name outside ASCII unquoted too."""
    one = upstream.pull(1, {name: CONFIG + "# one\n"})
    two = upstream.pull(2, {name: CONFIG + "# two\n"})
    refs = refs_for(upstream, (1, one), (2, two))
    with pytest.raises(CheckoutError) as fast:
        await checkout_paths(refs, tmp_path / "paths", PATHS, mirror_root=tmp_path / "m")
    with pytest.raises(CheckoutError) as slow:
        await checkout(refs, tmp_path / "full", mirror_root=tmp_path / "m")
    assert fast.value.reason == slow.value.reason
    assert fast.value.conflicts == slow.value.conflicts == [name]
    assert fast.value.pull is not None
    assert fast.value.pull.number == 2 and fast.value.record.failed


async def test_a_symlink_or_too_much_leaves_it_to_the_full_checkout(
    upstream: Repo, tmp_path: Path
) -> None:
    (upstream.path / "jobs.yaml").write_text(CONFIG)
    os.symlink("../jobs.yaml", upstream.path / "link.yaml")
    upstream.git("add", "jobs.yaml", "link.yaml")
    upstream.git("commit", "-q", "-m", "prepare")
    upstream.git("mv", "link.yaml", ".foredeck.yaml", "-f")
    upstream.git("commit", "-q", "-m", "config is a link")
    mirrors = tmp_path / "m"
    linked = await checkout_paths(refs_for(upstream), tmp_path / "a", PATHS, mirror_root=mirrors)
    assert linked is None
    upstream.commit("no link", {".foredeck.yaml": None})
    upstream.commit("plain again", {".foredeck.yaml": CONFIG * 50})
    big = await checkout_paths(
        refs_for(upstream), tmp_path / "b", PATHS, mirror_root=mirrors, max_bytes=len(CONFIG)
    )
    assert big is None


async def test_the_mirror_gains_no_objects(upstream: Repo, tmp_path: Path) -> None:
    """The merges' trees and commits go to a scratch object directory, removed after."""
    one = upstream.pull(1, {".foredeck.yaml": CONFIG + "# one\n"})
    two = upstream.pull(2, {"README.md": "hello\n"})
    refs = refs_for(upstream, (1, one), (2, two))
    mirrors = tmp_path / "m"
    await checkout_paths(refs, tmp_path / "first", PATHS, mirror_root=mirrors)
    mirror = mirror_path(mirrors, "org", "repo")
    before = sorted(p.name for p in (mirror / "objects").rglob("*"))
    await checkout_paths(refs, tmp_path / "second", PATHS, mirror_root=mirrors)
    assert sorted(p.name for p in (mirror / "objects").rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tree-")] == []


async def test_a_pull_already_in_the_base_reads_as_the_checkout(
    upstream: Repo, tmp_path: Path
) -> None:
    """A pull at the base (or at an older commit of it) is "already up to date" for the
    checkout's merge: no merge commit, the base's files and sha."""
    old = upstream.head("main")
    upstream.commit("more config", {".foredeck.yaml": CONFIG + "# more\n"})
    at_base = upstream.head("main")
    upstream.git("update-ref", "refs/pull/1/head", at_base)
    upstream.git("update-ref", "refs/pull/2/head", old)
    refs = refs_for(upstream, (1, at_base), (2, old))
    got, full = await both(refs, tmp_path, "merged")
    assert got == full and got[".foredeck.yaml"].endswith("# more\n")
    record = await checkout_paths(refs, tmp_path / "again", PATHS, mirror_root=tmp_path / "m")
    assert record is not None and record.final_sha == at_base


async def test_the_root_gitattributes_apply_as_in_the_checkout(
    upstream: Repo, tmp_path: Path
) -> None:
    """The checkout converts the files as the tree's `.gitattributes` says (here CRLF line
    ends): the files written alone are converted the same way."""
    upstream.commit("crlf", {".gitattributes": ".foredeck.yaml text eol=crlf\n"})
    await both(refs_for(upstream), tmp_path, "attrs")
    written = (tmp_path / "attrs-paths" / ".foredeck.yaml").read_bytes()
    assert written == (tmp_path / "attrs-full" / ".foredeck.yaml").read_bytes()
    assert b"\r\n" in written and not (tmp_path / "attrs-paths" / ".gitattributes").exists()


async def test_a_merge_driver_in_the_attributes_leaves_it_to_the_full_checkout(
    upstream: Repo, tmp_path: Path
) -> None:
    """`merge=union` in the base's `.gitattributes`: `git merge` in the checkout keeps both
    pulls' lines where `merge-tree` in the bare mirror would call it a conflict, so the full
    checkout reads it (None), and reads it merged."""
    upstream.commit("union", {".gitattributes": ".foredeck.yaml merge=union\n"})
    one = upstream.pull(1, {".foredeck.yaml": CONFIG + "# one\n"})
    two = upstream.pull(2, {".foredeck.yaml": CONFIG + "# two\n"})
    refs = refs_for(upstream, (1, one), (2, two))
    mirrors = tmp_path / "m"
    assert await checkout_paths(refs, tmp_path / "paths", PATHS, mirror_root=mirrors) is None
    await checkout(refs, tmp_path / "full", mirror_root=mirrors)
    merged = (tmp_path / "full" / ".foredeck.yaml").read_text()
    assert "# one" in merged and "# two" in merged
    upstream.commit("no driver", {".gitattributes": ".foredeck.yaml text\n"})
    three = upstream.pull(3, {".foredeck.yaml": CONFIG + "# three\n"})
    got, full = await both(refs_for(upstream, (3, three)), tmp_path, "plain")  # read here
    assert got == full and "# three" in got[".foredeck.yaml"]
