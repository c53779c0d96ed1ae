"""Checkout against real repositories made in a temporary directory (no network)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from foredeck.scm.clone_records import CloneRecord, read_clone_records, redact
from foredeck.scm.git import (
    CheckoutError,
    changed_files,
    checkout,
    clone_refs,
    mirror_path,
)
from foredeck.types import Pull, Refs
from tests.kit.git import Repo, git


def make_upstream(path: Path) -> Repo:
    """A repository playing GitHub: branch `main`; pull requests as `refs/pull/N/head`."""
    repo = Repo(path, {"README.md": "hello\n"}, "initial")
    repo.commit("shared file", {"shared.txt": "line 1\n"})
    return repo


@pytest.fixture
def upstream(tmp_path: Path) -> Repo:
    return make_upstream(tmp_path / "upstream" / "org" / "repo")


def refs_for(up: Repo, *pulls: tuple[int, str], base_sha: str | None = None) -> Refs:
    return Refs(
        org="org",
        repo="repo",
        base_ref="main",
        base_sha=up.head() if base_sha is None else base_sha,
        clone_uri=str(up.path),
        pulls=[Pull(number=n, sha=sha, author="someone") for n, sha in pulls],
    )


def commands(record: CloneRecord) -> list[str]:
    return [c.command for c in record.commands]


def ran(record: CloneRecord, fragment: str) -> int:
    return sum(fragment in c for c in commands(record))


async def test_clean_pull_request_merge(upstream: Repo, tmp_path: Path) -> None:
    pr = upstream.pull(1, {"feature.txt": "new\n"})
    base = upstream.head()
    dest = tmp_path / "work"
    record = await checkout(refs_for(upstream, (1, pr)), dest, mirror_root=tmp_path / "mirrors")

    assert (dest / "feature.txt").read_text() == "new\n"
    assert git(dest, "rev-parse", "HEAD") == record.final_sha
    parents = git(dest, "rev-parse", "HEAD^1", "HEAD^2").split()
    assert parents == [base, pr]
    assert git(dest, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(dest, "log", "-1", "--format=%cn <%ce>") == "foredeck <foredeck@localhost>"
    assert git(dest, "status", "--porcelain") == ""
    assert git(dest, "remote", "get-url", "origin") == str(upstream.path)
    assert not record.failed and record.duration > 0
    assert ran(record, "git merge --no-ff --no-edit " + pr) == 1
    assert all(c.duration > 0 for c in record.commands)


async def test_same_refs_give_the_same_merge_sha(upstream: Repo, tmp_path: Path) -> None:
    pr = upstream.pull(1, {"feature.txt": "new\n"})
    refs = refs_for(upstream, (1, pr))
    first = await checkout(refs, tmp_path / "a", mirror_root=tmp_path / "m")
    second = await checkout(refs, tmp_path / "b", mirror_root=tmp_path / "m")
    assert first.final_sha == second.final_sha
    assert first.final_sha not in {pr, upstream.head()}


async def test_batch_merges_pulls_in_order(upstream: Repo, tmp_path: Path) -> None:
    pr1 = upstream.pull(1, {"one.txt": "1\n"})
    pr2 = upstream.pull(2, {"two.txt": "2\n"})
    dest = tmp_path / "work"
    record = await checkout(
        refs_for(upstream, (1, pr1), (2, pr2)), dest, mirror_root=tmp_path / "m"
    )

    assert (dest / "one.txt").exists() and (dest / "two.txt").exists()
    # First-parent history: merge of #2 on top of merge of #1 on top of the base.
    assert git(dest, "rev-parse", "HEAD^2") == pr2
    assert git(dest, "rev-parse", "HEAD^1^2") == pr1
    assert git(dest, "rev-parse", "HEAD^1^1") == upstream.head()
    merges = [c for c in commands(record) if " merge --no-ff " in c]
    assert [m.split()[-1] for m in merges] == [pr1, pr2]


async def test_merge_conflict_names_pull_and_files(upstream: Repo, tmp_path: Path) -> None:
    pr1 = upstream.pull(1, {"ok.txt": "fine\n"})
    pr2 = upstream.pull(2, {"shared.txt": "line 1 from PR\n", "README.md": "PR readme\n"})
    upstream.commit("main moves on", {"shared.txt": "line 1 changed on main\n"})
    upstream.commit("main readme", {"README.md": "main readme\n"})
    refs = refs_for(upstream, (1, pr1), (2, pr2))
    records_path = tmp_path / "out" / "clone-records.json"

    with pytest.raises(CheckoutError) as caught:
        await clone_refs(
            [refs], tmp_path / "src", mirror_root=tmp_path / "m", records_path=records_path
        )

    error = caught.value
    assert "pull #2" in str(error) and pr2[:12] in str(error)
    assert "README.md" in str(error) and "shared.txt" in str(error)
    assert error.conflicts == ["README.md", "shared.txt"]
    assert error.pull is not None and error.pull.number == 2
    dest = tmp_path / "src" / "org" / "repo"
    assert git(dest, "status", "--porcelain") == ""
    # The tree stays on the base with the first (clean) pull merged; the merge was aborted.
    assert git(dest, "rev-parse", "HEAD^2") == pr1
    assert not (dest / ".git" / "MERGE_HEAD").exists()

    saved = json.loads(records_path.read_text())
    assert len(saved) == 1 and saved[0]["failed"] is True
    assert saved[0]["refs"]["pulls"][1]["number"] == 2
    assert any("merge --abort" in c["command"] for c in saved[0]["commands"])
    assert "final_sha" not in saved[0]
    assert read_clone_records(records_path)[0].failed


async def test_mirror_is_reused(upstream: Repo, tmp_path: Path) -> None:
    pr = upstream.pull(1, {"feature.txt": "new\n"})
    mirrors = tmp_path / "m"
    refs = refs_for(upstream, (1, pr))

    first = await checkout(refs, tmp_path / "a", mirror_root=mirrors)
    assert ran(first, "init --bare") == 1 and ran(first, "git fetch") == 1
    mirror = mirror_path(mirrors, "org", "repo")
    objects_before = git(mirror, "count-objects", "-v")

    second = await checkout(refs, tmp_path / "b", mirror_root=mirrors)
    # Everything is already in the mirror: no new clone and no fetch at all.
    assert ran(second, "init --bare") == 0 and ran(second, "git fetch") == 0
    assert git(mirror, "count-objects", "-v") == objects_before
    assert second.final_sha == first.final_sha

    # A moved branch without a pinned sha: one incremental fetch, still no new mirror.
    new_head = upstream.commit("later", {"later.txt": "later\n"})
    third = await checkout(
        refs.model_copy(update={"base_sha": "", "pulls": []}), tmp_path / "c", mirror_root=mirrors
    )
    assert ran(third, "init --bare") == 0 and ran(third, "git fetch") == 1
    assert third.final_sha == new_head
    assert (tmp_path / "c" / "later.txt").exists()


async def test_concurrent_checkouts_share_one_mirror(upstream: Repo, tmp_path: Path) -> None:
    pr = upstream.pull(1, {"feature.txt": "new\n"})
    refs = refs_for(upstream, (1, pr))
    mirrors = tmp_path / "m"

    records = await asyncio.gather(
        *(checkout(refs, tmp_path / f"w{i}", mirror_root=mirrors) for i in range(4))
    )

    assert len({r.final_sha for r in records}) == 1
    assert sum(ran(r, "init --bare") for r in records) == 1
    assert sum(ran(r, "git fetch") for r in records) == 1
    for i in range(4):
        assert (tmp_path / f"w{i}" / "feature.txt").read_text() == "new\n"


async def test_extra_refs_each_in_their_own_directory(upstream: Repo, tmp_path: Path) -> None:
    other = make_upstream(tmp_path / "upstream" / "other" / "tools")
    main_refs = refs_for(upstream)
    extra = Refs(org="other", repo="tools", base_ref="main", clone_uri=str(other.path))
    aliased = extra.model_copy(update={"path_alias": "k8s.io/tools", "base_sha": other.head()})
    base = tmp_path / "src"

    records = await clone_refs(
        [main_refs, extra, aliased],
        base,
        mirror_root=tmp_path / "m",
        records_path=base / "clone-records.json",
    )

    assert [r.final_sha for r in records] == [upstream.head(), other.head(), other.head()]
    assert (base / "org" / "repo" / "README.md").exists()
    assert (base / "other" / "tools" / "README.md").exists()
    assert (base / "k8s.io" / "tools" / "README.md").exists()
    saved = json.loads((base / "clone-records.json").read_text())
    assert [s["refs"]["repo"] for s in saved] == ["repo", "tools", "tools"]
    assert saved[2]["refs"]["path_alias"] == "k8s.io/tools"


async def test_overlapping_destinations_are_rejected(upstream: Repo, tmp_path: Path) -> None:
    refs = refs_for(upstream)
    with pytest.raises(ValueError, match="overlaps"):
        await clone_refs(
            [refs, refs.model_copy(update={"path_alias": "org"})],
            tmp_path / "src",
            mirror_root=tmp_path / "m",
        )
    assert not (tmp_path / "src").exists()


async def test_base_ref_without_sha_and_sha_without_ref(upstream: Repo, tmp_path: Path) -> None:
    head = upstream.head()
    by_ref = await checkout(
        refs_for(upstream, base_sha=""), tmp_path / "a", mirror_root=tmp_path / "m"
    )
    assert by_ref.final_sha == head

    old = upstream.head("main~1")
    detached = Refs(org="org", repo="repo", base_sha=old, clone_uri=str(upstream.path))
    record = await checkout(detached, tmp_path / "b", mirror_root=tmp_path / "m2")
    assert record.final_sha == old
    assert git(tmp_path / "b", "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"


async def test_pull_ref_and_force_pushed_sha(upstream: Repo, tmp_path: Path) -> None:
    old_head = upstream.pull(3, {"v1.txt": "first try\n"})
    # The author force-pushes: the PR ref moves on, the sha we were asked for is unreachable.
    git(upstream.path, "update-ref", "refs/pull/3/head", upstream.head())
    by_ref = upstream.pull(4, {"v2.txt": "x\n"})
    refs = refs_for(upstream, (3, old_head))
    refs.pulls.append(Pull(number=4, ref="pr-4"))

    record = await checkout(refs, tmp_path / "w", mirror_root=tmp_path / "m")

    assert (tmp_path / "w" / "v1.txt").exists() and (tmp_path / "w" / "v2.txt").exists()
    assert git(tmp_path / "w", "rev-parse", "HEAD^2") == by_ref
    assert ran(record, "git fetch") == 2  # the refs, then the unreachable sha by name


async def test_missing_pull_ref_fails_clearly(upstream: Repo, tmp_path: Path) -> None:
    refs = refs_for(upstream)
    refs.pulls.append(Pull(number=99))
    with pytest.raises(CheckoutError) as caught:
        await checkout(refs, tmp_path / "w", mirror_root=tmp_path / "m", fetch_retries=())
    assert "git fetch failed (exit status 128)" in str(caught.value)
    assert "refs/pull/99/head" in str(caught.value)
    assert caught.value.record.failed


async def test_token_in_clone_uri_is_redacted(tmp_path: Path) -> None:
    token = "ghs_SuperSecretToken123"
    refs = Refs(
        org="org",
        repo="repo",
        base_ref="main",
        clone_uri=f"https://x-access-token:{token}@127.0.0.1:9/org/repo.git",
    )
    records_path = tmp_path / "clone-records.json"
    with pytest.raises(CheckoutError) as caught:
        await clone_refs(
            [refs],
            tmp_path / "src",
            mirror_root=tmp_path / "m",
            records_path=records_path,
            fetch_retries=(),
        )
    saved = records_path.read_text()
    assert token not in saved and token not in str(caught.value)
    assert "https://CENSORED@127.0.0.1:9/org/repo.git" in saved
    assert json.loads(saved)[0]["refs"]["clone_uri"] == "https://CENSORED@127.0.0.1:9/org/repo.git"
    assert json.loads(saved)[0]["failed"] is True


async def test_clone_uri_callable_and_origin_without_credentials(
    upstream: Repo, tmp_path: Path
) -> None:
    calls: list[tuple[str, str]] = []

    def uri(org: str, repo: str) -> str:
        calls.append((org, repo))
        return f"file://{upstream.path}"

    refs = refs_for(upstream).model_copy(update={"clone_uri": ""})
    await checkout(refs, tmp_path / "w", mirror_root=tmp_path / "m", clone_uri=uri)
    assert calls == [("org", "repo")]
    assert git(tmp_path / "w", "remote", "get-url", "origin") == f"file://{upstream.path}"


async def test_command_timeout_kills_git(upstream: Repo, tmp_path: Path) -> None:
    refs = refs_for(upstream).model_copy(update={"clone_uri": "ssh://git@example.invalid/o/r"})
    with pytest.raises(CheckoutError, match=r"timed out after 0.5s"):
        await checkout(
            refs,
            tmp_path / "w",
            mirror_root=tmp_path / "m",
            env={"GIT_SSH_COMMAND": "sleep 30; exit 1;"},
            timeout=0.5,
            fetch_retries=(),
        )


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"base_ref": "--upload-pack=touch /tmp/pwned"}, "invalid base_ref"),
        ({"base_ref": "main:refs/heads/x"}, "invalid base_ref"),
        ({"base_sha": "HEAD~1"}, "invalid base_sha"),
        ({"base_ref": "", "base_sha": ""}, "need a base_ref or a base_sha"),
        ({"org": "../evil"}, "invalid org"),
        ({"path_alias": "../../etc"}, "invalid path_alias"),
        ({"clone_uri": "-oProxyCommand=x"}, "invalid clone URI"),
        ({"clone_uri": "relative/repo"}, "must be an absolute path"),
    ],
)
async def test_invalid_refs_are_rejected_before_running_git(
    upstream: Repo, tmp_path: Path, update: dict[str, str], message: str
) -> None:
    refs = refs_for(upstream).model_copy(update=update)
    with pytest.raises(ValueError, match=message):
        await checkout(refs, tmp_path / "w", mirror_root=tmp_path / "m")
    assert not (tmp_path / "m").exists() and not (tmp_path / "w").exists()


async def test_inherited_git_variables_do_not_leak_in(
    upstream: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As inside a git hook: these would otherwise point every command at another repository.
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'merge.ff'='only'")
    pr = upstream.pull(1, {"f.txt": "x\n"})
    record = await checkout(refs_for(upstream, (1, pr)), tmp_path / "w", mirror_root=tmp_path / "m")
    assert record.final_sha and not (tmp_path / "nowhere").exists()


async def test_non_empty_destination_is_rejected(upstream: Repo, tmp_path: Path) -> None:
    dest = tmp_path / "w"
    dest.mkdir()
    (dest / "keep.txt").write_text("precious")
    with pytest.raises(ValueError, match="not an empty directory"):
        await checkout(refs_for(upstream), dest, mirror_root=tmp_path / "m")
    assert (dest / "keep.txt").read_text() == "precious"


async def test_changed_files(upstream: Repo, tmp_path: Path) -> None:
    base = upstream.head()
    git(upstream.path, "checkout", "-q", "-b", "topic")
    upstream.commit("add", {"docs/new.md": "x\n"})
    git(upstream.path, "mv", "shared.txt", "moved.txt")
    git(upstream.path, "commit", "-q", "-m", "rename")
    head = upstream.head("HEAD")
    git(upstream.path, "checkout", "-q", "main")
    upstream.commit("main moves", {"main-only.txt": "m\n"})  # not part of the change

    files = await changed_files(upstream.path, upstream.head(), head)
    assert sorted(files) == ["docs/new.md", "moved.txt", "shared.txt"]
    assert await changed_files(upstream.path, base, base) == []
    with pytest.raises(ValueError, match="git diff"):
        await changed_files(upstream.path, base, "0" * 40)


def test_redact() -> None:
    assert redact("fetch https://tok:x@github.com/o/r") == "fetch https://CENSORED@github.com/o/r"
    assert redact("token abcdefgh1234 here", ["abcdefgh1234"]) == "token CENSORED here"
    assert redact("/local/path and git@github.com:o/r") == "/local/path and git@github.com:o/r"
