"""Source checkout like Prow's clonerefs, from a local mirror per repository.

Every checkout first brings a bare mirror (`<mirror_root>/<org>/<repo>.git`) up to date, fetching
only the refs it does not already hold, under an exclusive `flock` so that concurrent jobs of one
repository share a single fetch. The working tree is then a local clone of the mirror: git
hard-links the object files, so it is fast and stays valid whatever later happens to the mirror.
The base is checked out and each pull merged in order with `--no-ff`, with a fixed identity and
Prow's fake timestamps (base commit time + n) so that the same refs always give the same sha.

Every command is recorded, with tokens redacted, into a `CloneRecord` in Prow's
`clone-records.json` shape (`scm.clone_records`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path

from foredeck.scm.clone_records import (
    CloneRecord,
    CommandFailed,
    RecordingGit,
    redact,
    url_secrets,
    write_clone_records,
)
from foredeck.scm.github_types import valid_name
from foredeck.scm.gitrun import git_env, valid_ref_name, valid_sha
from foredeck.types import Pull, Refs, path_for_refs, public_uri

CloneUriFunc = Callable[[str, str], str]

DEFAULT_TIMEOUT = 600.0
"""Seconds one git command (and the wait for a mirror lock) may take."""
DEFAULT_FETCH_RETRIES: tuple[float, ...] = (1.0, 4.0)
"""Back-off delays before re-running a failed network fetch."""
COMMITTER_NAME = "foredeck"
COMMITTER_EMAIL = "foredeck@localhost"


class CheckoutError(Exception):
    """A checkout that could not reach the desired state; `str()` says why, for humans."""

    def __init__(
        self,
        reason: str,
        record: CloneRecord,
        *,
        pull: Pull | None = None,
        conflicts: Sequence[str] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record = record
        self.pull = pull
        self.conflicts = list(conflicts)


# --- URLs and names ----------------------------------------------------------------


def resolve_clone_uri(refs: Refs, clone_uri: CloneUriFunc | None = None) -> str:
    """`refs.clone_uri` wins, then the provider's callable, then `repo_link`, then GitHub."""
    if refs.clone_uri:
        uri = refs.clone_uri
    elif clone_uri is not None:
        uri = clone_uri(refs.org, refs.repo)
    elif refs.repo_link:
        uri = refs.repo_link.rstrip("/") + ".git"
    else:
        uri = f"https://github.com/{refs.org}/{refs.repo}.git"
    if not uri or uri.startswith("-") or any(ord(c) < 0x20 for c in uri):
        raise ValueError(f"invalid clone URI for {refs.org}/{refs.repo}: {redact(uri)!r}")
    scp_like = ":" in uri.split("/", 1)[0]  # git@github.com:org/repo
    if "://" not in uri and not scp_like and not uri.startswith("/"):
        raise ValueError(f"local clone URI {uri!r} must be an absolute path")
    return uri


def _check_name(kind: str, value: str) -> None:
    if not valid_name(value):
        raise ValueError(f"invalid {kind} {value!r}: use letters, digits, '.', '_' and '-'")


def _check_ref(kind: str, value: str) -> None:
    if not valid_ref_name(value):
        raise ValueError(f"invalid {kind} {value!r}: not a valid git ref name")


def _check_sha(kind: str, value: str) -> None:
    if not valid_sha(value, abbreviated=True):
        raise ValueError(f"invalid {kind} {value!r}: expected a hexadecimal commit sha")


def validate_refs(refs: Refs) -> None:
    """Reject refs that could not be fetched or could smuggle options into git's argv."""
    _check_name("org", refs.org)
    _check_name("repo", refs.repo)
    if not refs.base_ref and not refs.base_sha:
        raise ValueError(f"{refs.org}/{refs.repo}: refs need a base_ref or a base_sha")
    if refs.base_ref:
        _check_ref("base_ref", refs.base_ref)
    if refs.base_sha:
        _check_sha("base_sha", refs.base_sha)
    for pull in refs.pulls:
        if pull.ref:
            _check_ref(f"ref of pull #{pull.number}", pull.ref)
        if pull.sha:
            _check_sha(f"sha of pull #{pull.number}", pull.sha)
    path_for_refs(refs)


def mirror_path(mirror_root: Path, org: str, repo: str) -> Path:
    _check_name("org", org)
    _check_name("repo", repo)
    return Path(mirror_root) / org / f"{repo}.git"


def _base_dest_ref(base_ref: str) -> str:
    return base_ref if base_ref.startswith("refs/") else f"refs/heads/{base_ref}"


def _branch_name(base_ref: str) -> str | None:
    if base_ref.startswith("refs/heads/"):
        return base_ref.removeprefix("refs/heads/")
    if base_ref.startswith("refs/"):
        return None
    return base_ref


def _pull_dest_ref(pull: Pull) -> str:
    return f"refs/pull/{pull.number}/head"


# --- running git ------------------------------------------------------------------------------


def identity_env(overrides: Mapping[str, str] | None) -> dict[str, str]:
    """`gitrun.git_env` with a fixed identity: merges and their commit shas are reproducible."""
    identity = {
        "GIT_AUTHOR_NAME": COMMITTER_NAME,
        "GIT_AUTHOR_EMAIL": COMMITTER_EMAIL,
        "GIT_COMMITTER_NAME": COMMITTER_NAME,
        "GIT_COMMITTER_EMAIL": COMMITTER_EMAIL,
    }
    return git_env({**identity, **(overrides or {})})


@contextlib.asynccontextmanager
async def mirror_lock(mirror: Path, timeout: float) -> AsyncIterator[None]:
    """Exclusive `flock` on `<mirror>.lock`; polled so that waiting never blocks the loop."""
    lock_path = mirror.with_name(mirror.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"waited {timeout:g}s for lock {lock_path}") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)
        yield
    finally:
        os.close(fd)


# --- checkout ---------------------------------------------------------------------------------


async def _missing(git: RecordingGit, repo: Path, shas: Sequence[str]) -> set[str]:
    """Which of `shas` are not commits in `repo` (one `cat-file --batch-check` for all)."""
    if not shas:
        return set()
    query = "".join(f"{s}^{{commit}}\n" for s in shas).encode()
    result = await git.run(["cat-file", "--batch-check"], repo, stdin=query)
    lines = result.output.splitlines()
    return {sha for sha, line in zip(shas, lines, strict=False) if line.endswith(" missing")} | set(
        shas[len(lines) :]
    )


async def _rev_parse(git: RecordingGit, repo: Path, rev: str) -> str:
    result = await git.run(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], repo)
    return result.output.strip()


async def update_mirror(
    git: RecordingGit, refs: Refs, mirror: Path, uri: str, retries: Sequence[float]
) -> tuple[str, list[str]]:
    """Fetch into the mirror what it lacks; return the base sha and each pull's sha."""
    if not (mirror / "HEAD").exists():
        mirror.mkdir(parents=True, exist_ok=True)
        await git.run(["init", "--bare", "--quiet", "--template=", "."], mirror)

    known = [s for s in [refs.base_sha, *(p.sha for p in refs.pulls)] if s]
    missing = await _missing(git, mirror, known)
    refspecs: list[str] = []
    if refs.base_ref and (not refs.base_sha or refs.base_sha in missing):
        refspecs.append(f"+{refs.base_ref}:{_base_dest_ref(refs.base_ref)}")
    for pull in refs.pulls:
        if not pull.sha or pull.sha in missing:
            source = pull.ref or _pull_dest_ref(pull)
            refspecs.append(f"+{source}:{_pull_dest_ref(pull)}")
    if refspecs:
        args = ["fetch", "--quiet"]
        if not refs.skip_fetch_head:
            args.append("--tags")
        await git.run([*args, "--", uri, *refspecs], mirror, retries=retries)
        missing = await _missing(git, mirror, known)
    if missing:
        # A sha no longer reachable from its ref (force-push) or given without a ref.
        await git.run(["fetch", "--quiet", "--", uri, *sorted(missing)], mirror, retries=retries)
        still = await _missing(git, mirror, known)
        if still:
            where = redact(uri, git.secrets)
            raise CommandFailed(f"commits {', '.join(sorted(still))} not found in {where}")

    base_sha = refs.base_sha or await _rev_parse(git, mirror, _base_dest_ref(refs.base_ref))
    pull_shas = [p.sha or await _rev_parse(git, mirror, _pull_dest_ref(p)) for p in refs.pulls]
    return base_sha, pull_shas


async def _merge_pulls(
    git: RecordingGit, refs: Refs, dest: Path, base_sha: str, pull_shas: Sequence[str]
) -> None:
    stamp = await git.run(["show", "-s", "--format=%ct", "HEAD"], dest)
    timestamp = int(stamp.output.strip() or 0)
    for index, (pull, sha) in enumerate(zip(refs.pulls, pull_shas, strict=True), start=1):
        dates = {"GIT_AUTHOR_DATE": f"@{timestamp + index} +0000"}
        dates["GIT_COMMITTER_DATE"] = dates["GIT_AUTHOR_DATE"]
        merge = await git.run(
            ["merge", "--no-ff", "--no-edit", sha], dest, check=False, extra_env=dates
        )
        if merge.rc == 0:
            continue
        unmerged = await git.run(
            ["-c", "core.quotePath=false", "diff", "--name-only", "--diff-filter=U"],
            dest,
            check=False,
        )
        files = [line for line in unmerged.output.splitlines() if line]
        await git.run(["merge", "--abort"], dest, check=False)
        raise merge_failed(git, refs, pull, sha, base_sha, files, merge.output)


def merge_failed(
    git: RecordingGit,
    refs: Refs,
    pull: Pull,
    sha: str,
    base_sha: str,
    conflicts: Sequence[str],
    output: str,
) -> CheckoutError:
    """The error of a pull that did not merge: its conflicting files, else git's last line."""
    onto = refs.base_ref or base_sha[:12]
    if conflicts:
        reason = (
            f"{refs.org}/{refs.repo}: pull #{pull.number} ({sha[:12]}) does not merge cleanly"
            f" onto {onto}: conflicts in {', '.join(conflicts)}"
        )
    else:
        lines = output.strip().splitlines()
        reason = f"{refs.org}/{refs.repo}: merging pull #{pull.number} ({sha[:12]}) failed"
        reason += f": {redact(lines[-1], git.secrets)}" if lines else ""
    git.record.failed = True
    return CheckoutError(reason, git.record, pull=pull, conflicts=conflicts)


async def _checkout(
    refs: Refs,
    dest: Path,
    *,
    mirror_root: Path,
    clone_uri: CloneUriFunc | None,
    env: Mapping[str, str] | None,
    timeout: float,
    fetch_retries: Sequence[float],
) -> CloneRecord:
    started = time.monotonic_ns()
    uri = resolve_clone_uri(refs, clone_uri)
    secrets = url_secrets(uri)
    safe_refs = refs.model_copy(update={"clone_uri": redact(refs.clone_uri, secrets)})
    record = CloneRecord(refs=safe_refs)
    git = RecordingGit(record, identity_env(env), timeout, secrets)
    mirror = mirror_path(mirror_root.absolute(), refs.org, refs.repo)
    dest = dest.absolute()
    mirror.parent.mkdir(parents=True, exist_ok=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            async with mirror_lock(mirror, timeout):
                base_sha, pull_shas = await update_mirror(git, refs, mirror, uri, fetch_retries)
                # No template: hooks and sample files are never used here (saves ~5 ms).
                await git.run(
                    [
                        "clone",
                        "--quiet",
                        "--no-checkout",
                        "--template=",
                        "--",
                        str(mirror),
                        str(dest),
                    ],
                    dest.parent,
                )
        except TimeoutError as exc:
            raise CommandFailed(str(exc)) from None
        branch = _branch_name(refs.base_ref) if refs.base_ref else None
        if branch:
            switch = ["checkout", "--quiet", "--force", "-B", branch, base_sha]
        else:
            switch = ["checkout", "--quiet", "--force", "--detach", base_sha]
        # Independent (config vs. index and HEAD, each behind its own lock file): run together,
        # since every git process costs several ms on the path from webhook to first step.
        outcomes = await asyncio.gather(
            git.run(["remote", "set-url", "origin", public_uri(uri)], dest),
            git.run(switch, dest),
            return_exceptions=True,  # both finish before a failure is raised: no stray git
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        if refs.pulls:
            await _merge_pulls(git, refs, dest, base_sha, pull_shas)
        if not refs.skip_submodules and (dest / ".gitmodules").exists():
            await git.run(
                ["submodule", "update", "--init", "--recursive"], dest, retries=fetch_retries
            )
        record.final_sha = await _rev_parse(git, dest, "HEAD")
    except CommandFailed as exc:
        record.failed = True
        raise CheckoutError(f"{refs.org}/{refs.repo}: {exc}", record) from None
    finally:
        record.duration = time.monotonic_ns() - started
    return record


def check_dest(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"checkout destination {dest} exists and is not an empty directory")


async def checkout(
    refs: Refs,
    dest: Path,
    *,
    mirror_root: Path,
    clone_uri: CloneUriFunc | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    fetch_retries: Sequence[float] = DEFAULT_FETCH_RETRIES,
) -> CloneRecord:
    """Check `refs` out at `dest` (absent or empty) and merge its pulls.

    Raises `ValueError` for invalid refs or destination (before running anything) and
    `CheckoutError` (carrying the failed `record`) when git cannot produce the state.
    """
    validate_refs(refs)
    dest = Path(dest)
    check_dest(dest)
    return await _checkout(
        refs,
        dest,
        mirror_root=Path(mirror_root),
        clone_uri=clone_uri,
        env=env,
        timeout=timeout,
        fetch_retries=fetch_retries,
    )


async def clone_refs(
    all_refs: Sequence[Refs],
    base_dir: Path,
    *,
    mirror_root: Path,
    clone_uri: CloneUriFunc | None = None,
    env: Mapping[str, str] | None = None,
    records_path: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    fetch_retries: Sequence[float] = DEFAULT_FETCH_RETRIES,
) -> list[CloneRecord]:
    """clonerefs: check each refs out under `base_dir/<path_alias or org/repo>` concurrently.

    The records of all of them are written to `records_path` (when given) before the first
    failure, if any, is raised as `CheckoutError`.
    """
    dests: list[Path] = []
    for refs in all_refs:
        validate_refs(refs)
        dest = Path(base_dir) / path_for_refs(refs)
        check_dest(dest)
        if any(dest == d or d in dest.parents or dest in d.parents for d in dests):
            raise ValueError(f"{refs.org}/{refs.repo}: checkout path {dest} overlaps another refs")
        dests.append(dest)

    async def one(refs: Refs, dest: Path) -> CloneRecord | CheckoutError:
        try:
            return await _checkout(
                refs,
                dest,
                mirror_root=Path(mirror_root),
                clone_uri=clone_uri,
                env=env,
                timeout=timeout,
                fetch_retries=fetch_retries,
            )
        except CheckoutError as exc:
            return exc

    outcomes = await asyncio.gather(*(one(r, d) for r, d in zip(all_refs, dests, strict=True)))
    records = [o.record if isinstance(o, CheckoutError) else o for o in outcomes]
    if records_path is not None:
        write_clone_records(records, records_path)
    for outcome in outcomes:
        if isinstance(outcome, CheckoutError):
            raise outcome
    return records


async def changed_files(
    repo_dir: Path,
    base_sha: str,
    head_sha: str,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[str]:
    """Files a change touches: `git diff --name-only base...head` (from the merge base).

    Renames are listed as a deletion and an addition, so that both the old and the new path can
    trigger `run_if_changed` jobs.
    """
    _check_sha("base sha", base_sha)
    _check_sha("head sha", head_sha)
    record = CloneRecord(refs=Refs(org="local", repo="local", base_sha=base_sha))
    git = RecordingGit(record, identity_env(env), timeout, [])
    result = await git.run(
        ["diff", "--name-only", "--no-renames", "-z", f"{base_sha}...{head_sha}", "--"],
        Path(repo_dir),
        check=False,
    )
    if result.rc != 0:
        raise ValueError(
            f"git diff {base_sha[:12]}...{head_sha[:12]} failed in {repo_dir}: "
            + (result.output.strip() or record.commands[-1].error)
        )
    return [name for name in result.output.split("\0") if name]
