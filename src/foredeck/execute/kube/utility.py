"""What decorated pods run (`foredeck util ...`): Prow's clonerefs and its upload sidecar.

- `clonerefs`: the refs argument (`parse_refs`); the checkout itself is the controller's own clone
  code (`scm.git.clone_refs`), called by `foredeck.util_cli`, so a pod's checkout is exactly a
  local run's.
- `upload`: copy a task's `$ARTIFACTS` to an artifact store URL through the `ArtifactStore`
  interface (credentials from the standard chains; symlinks are skipped, so nothing outside
  the directory is published), then exit with the first failing step's exit code read from
  Tekton's `/tekton/steps/<index>/exitCode` files: the upload runs after every step
  (`onError: continue`), yet the task still fails when a step did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from foredeck.storage.store import open_store
from foredeck.types import Refs

UPLOAD_FAILED = 1
"""Exit code of an upload that failed after steps that passed."""


class UtilityError(Exception):
    """Bad input to a utility: the message says what to fix."""


def parse_refs(text: str) -> list[Refs]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UtilityError(f"--refs is not JSON: {exc.msg}") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise UtilityError("--refs must be a JSON refs object or a non-empty list of them")
    try:
        return [Refs.model_validate(item) for item in data]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UtilityError(f"--refs: {where}: {first['msg']}") from None


def first_failure(steps_dir: Path) -> int:
    """The first nonzero `exitCode` under Tekton's step metadata directory, else 0.

    Tekton writes `<dir>/step-<name>/exitCode` and links `<dir>/<index>` to it; the index
    entries give the steps' order. Without them, entries are read in name order.
    """
    if not steps_dir.is_dir():
        return 0
    entries = [p for p in steps_dir.iterdir() if p.is_dir()]
    indexed = sorted((int(p.name), p) for p in entries if p.name.isdigit())
    ordered = [p for _, p in indexed] if indexed else sorted(entries)
    for entry in ordered:
        try:
            text = (entry / "exitCode").read_text().strip()
        except OSError:
            continue  # a step that has not ended (this one) or was skipped
        try:
            code = int(text)
        except ValueError:
            continue
        if code != 0:
            return code if 0 < code < 256 else 1
    return 0


def upload(local_dir: Path, to: str, exit_codes: Path | None, out: TextIO) -> int:
    """Upload `local_dir` to the store URL `to`; returns the exit code for the pod."""
    failed = first_failure(exit_codes) if exit_codes is not None else 0
    if failed:
        print(f"upload: a step failed with exit code {failed}", file=out)
    try:
        if local_dir.is_symlink():
            raise UtilityError(f"{local_dir} is a symlink; refusing to follow it")
        if not local_dir.is_dir():
            print(f"upload: {local_dir} does not exist: nothing to upload", file=out)
            return failed
        store = open_store(to)
        written = store.upload_dir(local_dir, "")
    except (UtilityError, OSError, ValueError, ImportError) as exc:
        print(f"upload: cannot upload {local_dir} to {to}: {exc}", file=out)
        return failed or UPLOAD_FAILED
    print(f"upload: {len(written)} files from {local_dir} to {to}", file=out)
    return failed
