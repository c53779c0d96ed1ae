"""A few files of the tree a checkout would make, without making the checkout: in-repo config.

`git.checkout` writes the whole working tree, every file of a large repository, where reading
the in-repo config needs `.foredeck.yaml` or `.foredeck/` only. Here the mirror is brought up to
date as for a checkout (same fetches, same lock), each pull is merged with
`git merge-tree --write-tree` (the merge machinery of `git merge`, no working tree; successive
pulls are chained through merge commits, as the checkout's `--no-ff` merges are), and only the
asked paths of the result are written to `dest` (`git checkout TREE -- PATHS` with a scratch
index). Objects the merges make go to a scratch object directory, with the mirror's objects as
alternates: the shared mirror gains nothing.

`None` tells the caller to make the full checkout instead, where these files alone could read
differently from a checkout: a symlink (its target is elsewhere in the tree) or a submodule
among the paths, or more than `max_bytes` of them (the full checkout then meets the loader's
own size limits on disk rather than in memory here).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from foredeck.scm.clone_records import CloneRecord, CommandFailed, RecordingGit, redact, url_secrets
from foredeck.scm.git import (
    DEFAULT_FETCH_RETRIES,
    DEFAULT_TIMEOUT,
    CheckoutError,
    CloneUriFunc,
    check_dest,
    identity_env,
    merge_failed,
    mirror_lock,
    mirror_path,
    resolve_clone_uri,
    update_mirror,
    validate_refs,
)
from foredeck.types import Refs

MAX_BYTES = 16 * 1024 * 1024
"""More than this in the asked paths: the full checkout reads them (see the module docstring)."""
_LINK_MODES = ("120000", "160000")  # a symlink, a submodule (gitlink)
_FILE_MODES = ("100644", "100755")
_ATTRIBUTES = ".gitattributes"


async def checkout_paths(
    refs: Refs,
    dest: Path,
    paths: Sequence[str],
    *,
    mirror_root: Path,
    clone_uri: CloneUriFunc | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    fetch_retries: Sequence[float] = DEFAULT_FETCH_RETRIES,
    max_bytes: int = MAX_BYTES,
) -> CloneRecord | None:
    """Write the files under `paths` (relative to the repository's root) of the tree `checkout`
    would make for `refs` into `dest` (absent or empty; created); paths the tree lacks are left
    out. The record of the git commands run, or None when only a full checkout reads them as a
    job would (see the module docstring). Raises what `checkout` raises: `ValueError` for
    invalid refs or destination, `CheckoutError` when a pull does not merge or git fails."""
    validate_refs(refs)
    dest = Path(dest).absolute()
    check_dest(dest)
    uri = resolve_clone_uri(refs, clone_uri)
    secrets = url_secrets(uri)
    record = CloneRecord(
        refs=refs.model_copy(update={"clone_uri": redact(refs.clone_uri, secrets)})
    )
    git = RecordingGit(record, identity_env(None), timeout, secrets)
    mirror = mirror_path(Path(mirror_root).absolute(), refs.org, refs.repo)
    mirror.parent.mkdir(parents=True, exist_ok=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tree-", dir=dest.parent))
    env = {
        "GIT_OBJECT_DIRECTORY": str(scratch / "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(mirror / "objects"),
        "GIT_INDEX_FILE": str(scratch / "index"),
    }
    try:
        (scratch / "objects").mkdir()
        async with mirror_lock(mirror, timeout):
            base_sha, pull_shas = await update_mirror(git, refs, mirror, uri, fetch_retries)
            if refs.pulls and await _merge_attributes(git, mirror, base_sha, paths, env):
                return None
            head = await _merged(git, refs, mirror, base_sha, pull_shas, env)
            listing = await git.run(
                ["ls-tree", "-r", "-l", "-z", "--full-tree", head, "--", *paths, _ATTRIBUTES],
                mirror,
                extra_env=env,
            )
            # "<mode> <type> <object> <size>\t<path>", NUL-terminated (paths unquoted)
            listed = [e.split(None, 4) for e in listing.output.split("\0") if e]
            entries = [e for e in listed if any(_under(e[4], p) for p in paths)]
            attributes = [e for e in listed if e[4] == _ATTRIBUTES and e[0] in _FILE_MODES]
            if any(e[0] in _LINK_MODES for e in entries):
                return None
            if sum(int(e[3]) for e in entries if e[3].isdigit()) > max_bytes:
                return None
            dest.mkdir(exist_ok=True)
            present = [p for p in paths if any(_under(e[4], p) for e in entries)]
            if present:
                # The checkout converts files as the root `.gitattributes` says (line ends,
                # encoding): in the scratch index, git reads it there, without writing it.
                for mode, _, obj, _, name in attributes[:1]:
                    await git.run(
                        ["update-index", "--add", "--cacheinfo", f"{mode},{obj},{name}"],
                        mirror,
                        extra_env=env,
                    )
                await git.run(
                    ["--work-tree", str(dest), "checkout", head, "--", *present],
                    mirror,
                    extra_env=env,
                )
    except (TimeoutError, CommandFailed) as exc:  # the lock's wait, a git command: as checkout
        record.failed = True
        raise CheckoutError(f"{refs.org}/{refs.repo}: {exc}", record) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record.final_sha = head
    return record


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


async def _merge_attributes(
    git: RecordingGit, mirror: Path, base_sha: str, paths: Sequence[str], env: dict[str, str]
) -> bool:
    """Whether the base's `.gitattributes` (at the root, or in an asked directory) may choose
    a merge driver (`merge=union`, ...): `git merge` in the checkout honours it, `merge-tree`
    in a bare mirror cannot (git before 2.40 has no `--attr-source`), so the full checkout
    merges those pulls."""
    wheres = [_ATTRIBUTES, *(f"{path}/{_ATTRIBUTES}" for path in paths)]
    found = await git.run(  # one process for them all: 0 found, 1 not (nor any such file)
        ["grep", "-q", "-w", "-e", "merge", base_sha, "--", *wheres],
        mirror,
        check=False,
        extra_env=env,
    )
    return found.rc == 0


async def _merged(
    git: RecordingGit,
    refs: Refs,
    mirror: Path,
    base_sha: str,
    pull_shas: Sequence[str],
    env: dict[str, str],
) -> str:
    """The commit of the base with every pull merged in order (the base itself without pulls):
    a merge commit per pull, dated as `checkout` dates its merges (base commit time + n)."""
    head = base_sha
    if not refs.pulls:
        return head
    stamp = await git.run(["show", "-s", "--format=%ct", base_sha], mirror, extra_env=env)
    timestamp = int(stamp.output.strip() or 0)
    for index, (pull, sha) in enumerate(zip(refs.pulls, pull_shas, strict=True), start=1):
        # Already in `head` (the base, an earlier pull): `git merge` is "already up to date"
        # and makes no merge commit (nor may one have the same parent twice).
        ancestor = await git.run(
            ["merge-base", "--is-ancestor", sha, head], mirror, check=False, extra_env=env
        )
        if ancestor.rc == 0:
            continue
        merge = await git.run(
            # Conflicting names unquoted, as the checkout lists them (`core.quotePath=false`).
            [
                *("-c", "core.quotePath=false"),
                *("merge-tree", "--write-tree", "--no-messages", "--name-only", head, sha),
            ],
            mirror,
            check=False,
            extra_env=env,
        )
        lines = merge.output.splitlines()
        if merge.rc != 0 or not lines:
            conflicts = sorted(set(lines[1:])) if merge.rc == 1 else []
            raise merge_failed(git, refs, pull, sha, base_sha, conflicts, merge.output)
        date = f"@{timestamp + index} +0000"
        dates = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        commit = await git.run(
            ["commit-tree", lines[0], "-p", head, "-p", sha, "-m", f"Merge commit '{sha}'"],
            mirror,
            extra_env={**env, **dates},
        )
        head = commit.output.strip()
    return head
