"""In-repo job config: `.foredeck.yaml` or `.foredeck/` in the tested repository.

Like Prow's `.prow.yaml`, it adds presubmits and postsubmits for that repository only, read from
the pull request's merged tree when the trigger runs. Its content comes from an untrusted pull
request: files must stay inside the checkout (no symlinks out), sizes are capped, and regexes
are RE2 (linear time). The central config wins a name clash, with a warning.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from foredeck.config.jobconfig import JobConfig
from foredeck.config.loader import YAML_SUFFIXES, ConfigBuilder, paused_gc
from foredeck.config.models import RepoJob
from foredeck.config.result import ConfigResult, Diagnostic
from foredeck.types import Source

IN_REPO_FILE = ".foredeck.yaml"
IN_REPO_DIR = ".foredeck"
MAX_IN_REPO_FILES = 200


def in_repo_files(repo_dir: Path) -> tuple[list[tuple[Path, str]], list[Diagnostic]]:
    """(path, display name relative to the repository) of every in-repo config file."""
    root = repo_dir.resolve()
    single = repo_dir / IN_REPO_FILE
    folder = repo_dir / IN_REPO_DIR
    errors: list[Diagnostic] = []
    if single.exists() and folder.is_dir():
        msg = f"both {IN_REPO_FILE} and {IN_REPO_DIR}/ exist; use only one"
        return [], [Diagnostic(Source(IN_REPO_FILE, 1), msg)]
    if single.exists():
        candidates = [single]
    elif folder.is_dir():
        candidates = []
        for dirpath, dirnames, filenames in os.walk(folder):  # does not follow symlinked dirs
            dirnames.sort()
            candidates += [
                Path(dirpath) / n for n in sorted(filenames) if n.endswith(YAML_SUFFIXES)
            ]
            if len(candidates) > MAX_IN_REPO_FILES:
                msg = f"more than {MAX_IN_REPO_FILES} in-repo config files"
                return [], [Diagnostic(Source(IN_REPO_DIR, 0), msg)]
    else:
        return [], []
    found: list[tuple[Path, str]] = []
    for path in candidates:
        display = path.relative_to(repo_dir).as_posix()
        if not path.resolve().is_relative_to(root):
            errors.append(Diagnostic(Source(display, 0), "points outside the repository"))
        elif not path.is_file():
            errors.append(Diagnostic(Source(display, 0), "is not a regular file"))
        else:
            found.append((path, display))
    return found, errors


def load_in_repo(
    repo_dir: Path, org_repo: str, *, central: JobConfig | None = None
) -> ConfigResult:
    """Load the in-repo jobs of `org_repo` from the checkout at `repo_dir`.

    `central` supplies the presets (applied before the file's own), `decorate_all_jobs` and the
    lease types jobs may name. File names in diagnostics are relative to the repository, ready
    for a PR comment.
    """
    files, errors = in_repo_files(repo_dir)
    lease_types = central.lease_types if central is not None else None
    builder = ConfigBuilder(in_repo=org_repo, lease_types=lease_types)
    builder.errors += errors
    presets = central.presets if central is not None else []
    decorate_all = central.decorate_all_jobs if central is not None else False
    with paused_gc():
        for path, display in files:
            builder.add_file(path, display)
        return builder.build(presets=presets, decorate_all_jobs=decorate_all)


J = TypeVar("J", bound=RepoJob)


def _merge_jobs(central: list[J], extra: list[J], what: str, warnings: list[Diagnostic]) -> list[J]:
    merged = list(central)
    for job in extra:
        clash = next((c for c in central if c.name == job.name and c.intersects(job)), None)
        if clash is not None:
            msg = f"in-repo {what} ignored: the central config defines it at {clash.source}"
            warnings.append(Diagnostic(job.source, msg, job.name, "in-repo-shadowed"))
        else:
            merged.append(job)
    return merged


def merge_in_repo(
    central: JobConfig, in_repo: JobConfig | ConfigResult, org_repo: str
) -> tuple[JobConfig, list[Diagnostic]]:
    """`central` plus the in-repo jobs of `org_repo` (central wins a clash, with a warning).

    The result shares everything but `org_repo`'s job lists with `central`, so it is cheap to
    build per event.
    """
    extra = in_repo.jobs if isinstance(in_repo, ConfigResult) else in_repo
    warnings: list[Diagnostic] = []
    presubmits = dict(central.presubmits)
    postsubmits = dict(central.postsubmits)
    presubmits[org_repo] = _merge_jobs(
        central.presubmits.get(org_repo, []),
        extra.presubmits.get(org_repo, []),
        "presubmit",
        warnings,
    )
    postsubmits[org_repo] = _merge_jobs(
        central.postsubmits.get(org_repo, []),
        extra.postsubmits.get(org_repo, []),
        "postsubmit",
        warnings,
    )
    merged = replace(central, presubmits=presubmits, postsubmits=postsubmits)
    return merged, warnings
