"""A real OpenID Connect provider for the browser tests: panva's `oidc-provider` (a certified
implementation), vendored as `tests/oidc/` (package.json, package-lock.json with the version
pinned, server.mjs).

`install()` runs `npm ci` once into a cache outside the repository (`FOREDECK_TEST_CACHE`, else
`~/.cache/foredeck-tests`), keyed by the lock file's digest, and copies `server.mjs` beside it.
Without node or npm the tests skip with the reason, unless `BROWSER_TESTS_REQUIRED` is set (CI):
then they fail, so they never skip silently there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

from tests.child import ROOT
from tests.kit.wait import wait_for

PACKAGE = ROOT / "tests" / "oidc"
NPM_TIMEOUT = 300


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("BROWSER_TESTS_REQUIRED"):
        pytest.fail(f"browser tests required but {reason}")
    print(f"\nskipping the OIDC browser tests: {reason}")
    pytest.skip(reason)


def cache_root() -> Path:
    found = os.environ.get("FOREDECK_TEST_CACHE")
    return Path(found) if found else Path.home() / ".cache" / "foredeck-tests"


def install() -> Path:
    """The directory holding `node_modules/oidc-provider` and `server.mjs`."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed for the OIDC provider (apt-get install nodejs npm)")
    lock = (PACKAGE / "package-lock.json").read_bytes()
    where = cache_root() / f"oidc-provider-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (where / "node_modules" / "oidc-provider" / "package.json").is_file():
        where.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="oidc-provider-", dir=where.parent))
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(PACKAGE / name, staging / name)
        argv = [str(npm), "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
        argv += ["--prefix", str(staging)]
        done = subprocess.run(argv, capture_output=True, timeout=NPM_TIMEOUT, check=False)
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.fail(f"npm ci of tests/oidc failed: {done.stderr.decode()[-2000:]}")
        try:
            staging.rename(where)
        except OSError:  # another worker installed it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    shutil.copyfile(PACKAGE / "server.mjs", where / "server.mjs")
    return where


@dataclass
class OidcProvider:
    """`node server.mjs` on 127.0.0.1:`port`, with one client and `users` (login -> groups)."""

    port: int
    redirect_uri: str
    client_id: str
    client_secret: str
    users: dict[str, list[str]]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OidcProvider:
        home = install()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            "PORT": str(self.port),
            "REDIRECT_URI": self.redirect_uri,
            "CLIENT_ID": self.client_id,
            "CLIENT_SECRET": self.client_secret,
            "USERS": json.dumps(self.users),
        }
        log = (self.workdir / "oidc-provider.log").open("wb")
        self.proc = subprocess.Popen(
            ["node", str(home / "server.mjs")], cwd=home, env=env, stdout=log, stderr=log
        )
        wait_for("the OIDC provider to answer", self._ready, timeout=30)
        return self

    def _ready(self) -> bool | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = (self.workdir / "oidc-provider.log").read_text(errors="replace")
            raise AssertionError(f"the OIDC provider exited {self.proc.returncode}: {log}")
        try:
            url = f"{self.issuer}/.well-known/openid-configuration"
            return httpx.get(url, timeout=2).status_code == 200 or None
        except httpx.HTTPError:
            return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
