"""A job's local directory, its source checkout, and where the clone URIs come from.

```
<workdir>/<job id>/src/<path_alias or org/repo>   the checkouts (refs, then extra_refs)
<workdir>/<job id>/clone-records.json              Prow's records, copied into out/ when done
<workdir>/<job id>/out/                            the executor's output: what gets published
```

The id is the job row's, so a re-queued job finds the directory of its dead run; that run's
files are moved aside (one rename) and deleted, never mixed into the new run.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from foredeck.db.models import Job
from foredeck.scm.git import CheckoutError, CloneUriFunc
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import Settings
from foredeck.types import Refs, path_for_refs

SRC = "src"
OUT = "out"
CLONE_RECORDS = "clone-records.json"
TRASH_PREFIX = ".trash-"


def clone_uri_for(settings: Settings) -> CloneUriFunc:
    """Where to clone `org/repo` from when the refs carry no `clone_uri` of their own: the SCM
    provider's answer (`scm.local_root/ORG/REPO`, or a bare `ORG/REPO.git`, for the `local`
    provider; `https://github.com/ORG/REPO.git` for GitHub). Replace it
    (`Controller(clone_uri=)`) for authenticated clones."""
    return provider_from_settings(settings).clone_uri


def all_refs(job: Job) -> list[Refs]:
    """The job's refs then its extra refs, as Prow's clonerefs gets them."""
    found = [Refs.model_validate(job.refs)] if job.refs else []
    found += [Refs.model_validate(extra) for extra in job.extra_refs or []]
    return found


def checkout_dir(src: Path, refs: Refs) -> Path:
    return src / path_for_refs(refs)


def move_aside(path: str | Path | None, root: Path) -> Path | None:
    """Rename a dead run's directory (inside `root`) to a trash name; returns the new path.

    The rename is atomic and quick, so it may run inside a transaction; delete the returned
    path afterwards. Paths outside `root` (another host's workdir, a bogus column) and missing
    ones are left alone (None).
    """
    if not path:
        return None
    real = Path(os.path.realpath(path))
    real_root = Path(os.path.realpath(root))
    if real_root not in real.parents or not real.is_dir():
        return None
    trash = real_root / f"{TRASH_PREFIX}{real.name}-{secrets.token_hex(4)}"
    try:
        os.rename(real, trash)
    except FileNotFoundError:
        return None
    return trash


def remove(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def prepare(workspace: Path, root: Path) -> None:
    """An empty workspace for a run: leftovers of a dead run of the same job are removed."""
    remove(move_aside(workspace, root))
    workspace.mkdir(parents=True)


def describe_checkout_error(exc: CheckoutError) -> str:
    """A one-line description for the job and its commit status."""
    pull = exc.pull
    if pull is not None and exc.conflicts:
        base = exc.record.refs.base_ref or exc.record.refs.base_sha[:12]
        sha = f" ({pull.sha[:12]})" if pull.sha else ""
        files = ", ".join(exc.conflicts[:10]) + (" ..." if len(exc.conflicts) > 10 else "")
        return f"merge conflict merging #{pull.number}{sha} into {base}: conflicts in {files}"
    return f"checkout failed: {exc.reason}"
