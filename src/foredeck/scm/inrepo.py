"""In-repo job config of the tree a job will test: read `.foredeck.yaml` (or `.foredeck/`) of
that tree, merge its jobs into the central ones. Only those files are written out
(`tree_files.checkout_paths`: the pulls merged without a working tree), unless they hold a
symlink or are very large, when the whole tree is checked out as for a job.

The trigger (per event) and Tide (per pull request and per batch) both read it here, with the
same settings (`InRepoOptions`, the in-repo part of `plugin_config.trigger`), so that the jobs
Tide requires are the jobs the trigger runs. The tree is the base with the pulls merged in order,
as clonerefs builds it, checked out from the mirror under `cache_dir/mirrors` (shared, locked per
repository) into a scratch folder under `cache_dir/work`, removed afterwards.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from foredeck.config import Diagnostic, JobConfig, load_in_repo, merge_in_repo
from foredeck.config.inrepo import IN_REPO_DIR, IN_REPO_FILE
from foredeck.scm.git import CheckoutError, checkout
from foredeck.scm.tree_files import checkout_paths
from foredeck.types import Refs
from foredeck.types.scoped import check_scope_keys, per_repo

log = logging.getLogger(__name__)

DEFAULT_CLONE_URI = "https://github.com/{org}/{repo}.git"


class RepoOptions(BaseModel):
    """Options for one organisation (`org`) or repository (`org/repo`); unset means inherit."""

    model_config = ConfigDict(extra="forbid")

    in_repo_config: bool | None = None
    """Read `.foredeck.yaml` / `.foredeck/` from the tested tree (merged PR or pushed commit)."""


class InRepoOptions(BaseModel):
    """Where in-repo config is read and where from: the in-repo settings of
    `plugin_config.trigger`. Other keys are ignored here (the trigger's own model forbids
    unknown ones), so Tide reads the trigger's settings without importing the plugin."""

    model_config = ConfigDict(extra="ignore")

    in_repo_config: bool = False
    """Default for every repository; `repos` overrides it per organisation or repository."""
    repos: dict[str, RepoOptions] = Field(default_factory=dict)
    cache_dir: str = ".foredeck/trigger"
    """Git mirrors (`mirrors/`) and scratch checkouts (`work/`) for in-repo config."""
    clone_uri: str = DEFAULT_CLONE_URI
    """Template with `{org}` and `{repo}`. Left at this default, the SCM provider says
    (`use_clone_uri`): GitHub's URL, or the local provider's repository on disk."""
    clone_uris: dict[str, str] = Field(default_factory=dict)
    """`org/repo` -> clone URI or absolute local path, overriding `clone_uri`."""
    checkout_timeout: float = Field(default=300.0, gt=0)
    _provider_clone_uri: Callable[[str, str], str] | None = PrivateAttr(default=None)

    @field_validator("clone_uri")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format(org="o", repo="r")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"clone_uri {value!r} may only use the fields {{org}} and {{repo}}: {exc}"
            ) from None
        return value

    @field_validator("repos", "clone_uris")
    @classmethod
    def _keys(cls, value: dict[str, object]) -> dict[str, object]:
        check_scope_keys(value)
        return value

    def in_repo_enabled(self, org: str, repo: str) -> bool:
        """The most specific setting wins: `org/repo`, then `org`, then the default."""
        found = per_repo(self.repos, org, repo, lambda options: options.in_repo_config)
        return self.in_repo_config if found is None else found

    def use_clone_uri(self, provider: Callable[[str, str], str]) -> None:
        """Where the SCM provider clones from, used while `clone_uri` is the default."""
        self._provider_clone_uri = provider

    def clone_uri_for(self, org: str, repo: str) -> str:
        wanted = f"{org}/{repo}".lower()
        for key, uri in self.clone_uris.items():
            if key.lower() == wanted:
                return uri
        if self._provider_clone_uri is not None and self.clone_uri == DEFAULT_CLONE_URI:
            return self._provider_clone_uri(org, repo)
        return self.clone_uri.format(org=org, repo=repo)

    @property
    def mirror_root(self) -> Path:
        return Path(self.cache_dir) / "mirrors"

    @property
    def work_root(self) -> Path:
        return Path(self.cache_dir) / "work"


@dataclass(frozen=True)
class TreeConfig:
    """What one tree's in-repo config gave: the merged jobs, or why there are none."""

    jobs: JobConfig | None
    """`central` plus the tree's in-repo jobs; None when the tree could not be read or its
    config is invalid."""
    errors: tuple[Diagnostic, ...] = ()
    """The invalid config's problems, `file:line: message` (relative to the repository)."""
    failure: str = ""
    """Why the tree could not be checked out (a conflict, an unreachable repository)."""
    lasting: bool = False
    """The failure is a merge conflict: the same shas will not merge on a retry either."""


def describe_refs(refs: Refs) -> str:
    """`org/repo@base+#N:head...`, for logs."""
    return f"{refs.org}/{refs.repo}@{refs.base_sha[:12]}" + "".join(
        f"+#{p.number}:{p.sha[:12]}" for p in refs.pulls
    )


async def read_tree_config(central: JobConfig, refs: Refs, options: InRepoOptions) -> TreeConfig:
    """`central` plus the in-repo jobs of `refs`' tree (base sha, pulls merged at their shas)."""
    if not refs.base_sha or any(not p.sha for p in refs.pulls):
        raise ValueError("in-repo config needs the base sha and every pull's sha")
    org_repo = f"{refs.org}/{refs.repo}"
    what = describe_refs(refs)
    work = options.work_root
    try:
        work.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="inrepo-", dir=work))
    except OSError as exc:
        return TreeConfig(None, failure=f"no scratch folder in {work}: {exc.strerror or exc}")
    try:
        dest = scratch / "tree"
        try:
            read = await checkout_paths(
                refs,
                dest,
                (IN_REPO_FILE, IN_REPO_DIR),
                mirror_root=options.mirror_root,
                clone_uri=options.clone_uri_for,
                timeout=options.checkout_timeout,
            )
            if read is None:  # a symlink among them, or very large files: as a job sees them
                shutil.rmtree(dest, ignore_errors=True)
                await checkout(
                    refs,
                    dest,
                    mirror_root=options.mirror_root,
                    clone_uri=options.clone_uri_for,
                    timeout=options.checkout_timeout,
                )
        except CheckoutError as exc:
            return TreeConfig(None, failure=exc.reason, lasting=bool(exc.conflicts))
        except (ValueError, OSError) as exc:
            return TreeConfig(None, failure=str(exc))
        result = load_in_repo(dest, org_repo, central=central)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not result.ok:
        return TreeConfig(None, errors=tuple(result.errors))
    merged, warnings = merge_in_repo(central, result, org_repo)
    for warning in [*result.warnings, *warnings]:
        log.warning("in-repo config of %s: %s", what, warning)
    return TreeConfig(merged)
