"""Prow's clone records: every git command a checkout ran, with its output, tokens redacted.

`CloneRecord` is one entry of `clone-records.json` (durations in nanoseconds, as Go's
`time.Duration`); `RecordingGit` runs git for one checkout (through `scm.gitrun`) and appends
each command to its record.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from foredeck.scm.gitrun import run_git_async
from foredeck.types import Refs

MAX_RECORDED_OUTPUT = 64 * 1024
REDACTED = "CENSORED"

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


class Command(BaseModel):
    """One command run while reaching the desired git state."""

    command: str
    output: str = ""
    error: str = ""
    duration: int = 0
    """Nanoseconds."""


class CloneRecord(BaseModel):
    """What was asked for, what was run, and the sha it ended on."""

    refs: Refs
    commands: list[Command] = Field(default_factory=list)
    failed: bool = False
    final_sha: str = ""
    duration: int = 0
    """Nanoseconds."""

    def to_prow_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"refs": self.refs.to_prow_json()}
        if self.commands:
            data["commands"] = [c.model_dump(exclude_defaults=True) for c in self.commands]
        if self.failed:
            data["failed"] = True
        if self.final_sha:
            data["final_sha"] = self.final_sha
        if self.duration:
            data["duration"] = self.duration
        return data


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Hide URL userinfo (`https://TOKEN@host` → `https://CENSORED@host`) and known secrets."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _URL_USERINFO.sub(rf"\1{REDACTED}@", text)


def url_secrets(uri: str) -> list[str]:
    """The credential parts of a URL, to be scrubbed wherever git echoes them back."""
    if "://" not in uri:
        return []
    parts = urlsplit(uri)
    found = [parts.username or "", parts.password or ""]
    # Short names such as `git` or `oauth2` are not secrets and would mangle ordinary output.
    return sorted({s for s in found if len(s) >= 8}, key=len, reverse=True)


def write_clone_records(records: Sequence[CloneRecord], path: Path) -> None:
    """Write `clone-records.json` atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps([r.to_prow_json() for r in records], indent=2) + "\n")
    os.replace(tmp, path)


def read_clone_records(path: Path) -> list[CloneRecord]:
    return [CloneRecord.model_validate(item) for item in json.loads(Path(path).read_text())]


def _truncate(text: str) -> str:
    if len(text) <= MAX_RECORDED_OUTPUT:
        return text
    cut = len(text) - MAX_RECORDED_OUTPUT
    return f"[... {cut} characters truncated ...]\n" + text[cut:]


@dataclass
class GitOutput:
    rc: int
    output: str


class CommandFailed(Exception):
    """A step failed; the message already names the command, its error and last output line."""


class RecordingGit:
    """Runs git for one checkout and appends every run to the record."""

    def __init__(
        self, record: CloneRecord, env: dict[str, str], timeout: float, secrets: list[str]
    ) -> None:
        self.record = record
        self.env = env
        self.timeout = timeout
        self.secrets = secrets

    async def run(
        self,
        args: Sequence[str],
        cwd: Path,
        *,
        check: bool = True,
        stdin: bytes | None = None,
        extra_env: Mapping[str, str] | None = None,
        retries: Sequence[float] = (),
    ) -> GitOutput:
        for delay in (*retries, None):
            result = await self._run_once(args, cwd, stdin, extra_env)
            if result.rc == 0 or delay is None:
                break
            await asyncio.sleep(delay)
        if check and result.rc != 0:
            last = self.record.commands[-1]
            lines = result.output.strip().splitlines()
            detail = f": {redact(lines[-1], self.secrets)}" if lines else ""
            raise CommandFailed(f"git {args[0]} failed ({last.error}){detail}")
        return result

    async def _run_once(
        self,
        args: Sequence[str],
        cwd: Path,
        stdin: bytes | None,
        extra_env: Mapping[str, str] | None,
    ) -> GitOutput:
        env = {**self.env, **extra_env} if extra_env else self.env
        started = time.monotonic_ns()
        result = await run_git_async(
            args, env=env, timeout=self.timeout, cwd=cwd, stdin=stdin, merge_stderr=True
        )
        raw, rc = result.stdout, result.rc
        error = f"timed out after {self.timeout:g}s" if result.timed_out else ""
        output = raw.decode("utf-8", "replace")
        if rc != 0 and not error:
            error = f"exit status {rc}"
        self.record.commands.append(
            Command(
                command=redact(f"PWD={cwd} {shlex.join(['git', *args])}", self.secrets),
                output=_truncate(redact(output, self.secrets)),
                error=error,
                duration=time.monotonic_ns() - started,
            )
        )
        return GitOutput(rc, output)
