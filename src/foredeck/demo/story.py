"""The story: import a repository, open a failing pull request, fix it, merge, say where to look."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlparse

import yaml
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from foredeck.demo.delivery import MANIFESTS, BumpPull, bump_pull, import_manifests, recorded_image
from foredeck.demo.gitops import commit_all, copy_tree, git, import_repo
from foredeck.demo.observe import Api, ScmView, read_scm, wait_for
from foredeck.demo.options import MAINTAINER, ORG, PR, REPO, DemoError, Options
from foredeck.demo.printing import build_dir, jobs_table, log_excerpt, statuses_table, visible_text
from foredeck.demo.server import Server
from foredeck.demo.workdir import demo_settings, free_port, prepare_workdir

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from foredeck.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class JobNames:
    presubmits: set[str]
    postsubmits: set[str]


def job_names(in_repo_config: Path) -> JobNames:
    """The jobs the sample repository declares: what each step waits for."""
    data = yaml.safe_load(in_repo_config.read_text()) or {}
    presubmits = {str(j["name"]) for j in data.get("presubmits", []) if j.get("always_run")}
    postsubmits = {str(j["name"]) for j in data.get("postsubmits", [])}
    if not presubmits or not postsubmits:
        raise DemoError(f"{in_repo_config}: needs always_run presubmits and a postsubmit")
    return JobNames(presubmits, postsubmits)


class Demo:
    def __init__(self, options: Options, console: Console) -> None:
        self.options = options
        self.console = console
        self.workdir = prepare_workdir(options.workdir)
        self.repo = self.workdir / "repos" / ORG / REPO
        self.manifests = self.workdir / "repos" / ORG / MANIFESTS
        self.clone = self.workdir / "clone"
        self.settings_path = self.workdir / "foredeck.yaml"
        port = options.port or free_port()
        self.server = Server(self.settings_path, port, self.workdir / "serve.log", self.workdir)
        self.api = Api(self.server.url)
        self.names = job_names(options.examples / "repo" / ".foredeck.yaml")
        self._db: tuple[Settings, Engine] | None = None
        self.artifacts = self.workdir / "artifacts"
        """The `file://` artifact store (set from the settings written by `setup`)."""

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def jobs_table(self, title: str, jobs: Sequence[dict[str, Any]]) -> Table:
        return jobs_table(title, jobs, self.workdir, self.artifacts)

    def step(self, number: int, title: str) -> None:
        self.console.rule(f"[bold]{number}. {title}")

    def setup(self) -> None:
        examples = self.options.examples
        template = yaml.safe_load((examples / "foredeck.yaml").read_text())
        settings = demo_settings(
            template, self.workdir, self.server.port, secrets.token_urlsafe(24)
        )
        self.artifacts = Path(unquote(urlparse(settings["artifacts"]["url"]).path))
        fd = os.open(self.settings_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:  # it holds the API token
            yaml.safe_dump(settings, out, sort_keys=False)
        shutil.copy(examples / "jobs.yaml", self.workdir / "jobs.yaml")
        import_repo(examples / "repo", self.repo, "Import the calculator")
        import_manifests(examples, self.manifests)
        git(self.workdir, "clone", "-q", str(self.repo), str(self.clone))

    def run(self) -> None:
        self.start()
        failed = self.open_failing_pull()
        self.push_fix(failed)
        self.merge()
        self.step(5, "Where to look")
        self.where_to_look(failed[0])

    def wait(self, what: str, check: Callable[[], T | None]) -> T:
        return wait_for(what, check, self.options.timeout, self.server)

    def start(self) -> None:
        self.step(1, "Start foredeck")
        self.setup()
        self.server.start(self.options.timeout)
        pid = self.server.proc.pid if self.server.proc else "?"
        self.say(
            f"foredeck serve is up at [bold]{self.server.url}[/] (pid {pid}), "
            f"settings {self.settings_path}, log {self.server.log_path}"
        )
        self.say(f"The dashboard: [bold]{self.server.url}/[/]")
        main_sha = git(self.repo, "rev-parse", "main")
        self.say(
            f"Sample repository [bold]{ORG}/{REPO}[/] at {self.repo}; main is {main_sha[:7]}. "
            "The watcher sees main for the first time: a push, so the postsubmit runs."
        )
        first = self.wait(
            "the postsubmit of the first commit",
            lambda: self.api.runs("postsubmit", main_sha, self.names.postsubmits),
        )
        self.console.print(self.jobs_table("postsubmit on main", first))
        self.first_bump = self.delivered(first, opened=True)

    def open_failing_pull(self) -> list[dict[str, Any]]:
        """Returns the presubmits that failed."""
        self.step(2, f"Open pull request #{PR} (branch pr/{PR}) with a failing test")
        copy_tree(self.options.examples / "changes" / "1-broken", self.clone)
        head = commit_all(self.clone, "Add multiplication\n\nWith tests in tests/mul.cases.")
        git(self.clone, "push", "-q", "origin", f"HEAD:refs/heads/pr/{PR}")
        self.say(
            f"pushed {head[:7]} to pr/{PR}; waiting for presubmits {sorted(self.names.presubmits)}"
        )
        failed = self.wait(
            "the presubmits of the pull request",
            lambda: self.api.runs("presubmit", head, self.names.presubmits, pr=PR),
        )
        self.console.print(self.jobs_table(f"presubmits on {head[:7]}", failed))
        bad = [j for j in failed if j["state"] != "success"]
        if not bad:
            raise DemoError("expected a presubmit to fail on the broken commit; all passed")
        for job in bad:
            self.say(f"[red]{job['name']} failed[/]; from its build log:")
            self.say(escape(log_excerpt(job, self.artifacts, "FAIL") or "(no FAIL lines)"))
        view = self.wait(
            "the failure report on the pull request",
            lambda: self._reported(head, want_report=True),
        )
        self.console.print(statuses_table(f"commit statuses on {head[:7]}", view))
        comment = escape(visible_text(view.report or ""))
        self.console.print(Panel(comment, title="report comment on the pull request"))
        return bad

    def push_fix(self, bad: list[dict[str, Any]]) -> None:
        self.step(3, "Push a fix to the pull request")
        copy_tree(self.options.examples / "changes" / "2-fix", self.clone)
        fixed = commit_all(self.clone, "Fix multiplication")
        git(self.clone, "push", "-q", "origin", f"HEAD:refs/heads/pr/{PR}")
        self.say(f"pushed {fixed[:7]} to pr/{PR}")
        passed = self.wait(
            "the presubmits of the fix",
            lambda: self.api.runs("presubmit", fixed, self.names.presubmits, pr=PR),
        )
        self.console.print(self.jobs_table(f"presubmits on {fixed[:7]}", passed))
        still = [j["name"] for j in passed if j["state"] != "success"]
        if still:
            raise DemoError(f"expected every presubmit to pass after the fix: {still} did not")
        view = self.wait(
            "the report comment to go away",
            lambda: self._reported(fixed, want_report=False),
        )
        self.console.print(statuses_table(f"commit statuses on {fixed[:7]}", view))
        names = ", ".join(sorted(j["name"] for j in bad))
        self.say(f"[green]{names} now passes[/]; the failure report comment is gone.")

    def merge(self) -> None:
        self.step(4, f"Merge pull request #{PR} (fast-forward main)")
        git(self.repo, "merge", "-q", "--ff-only", f"pr/{PR}", who=MAINTAINER)
        git(self.repo, "branch", "-q", "-d", f"pr/{PR}", who=MAINTAINER)
        merged = git(self.repo, "rev-parse", "main")
        post = self.wait(
            "the postsubmit of the merge",
            lambda: self.api.runs("postsubmit", merged, self.names.postsubmits),
        )
        self.console.print(self.jobs_table(f"postsubmit on main {merged[:7]}", post))
        if any(j["state"] != "success" for j in post):
            raise DemoError("expected the postsubmit of the merge to pass")
        second = self.delivered(post, opened=False)
        if second.number != self.first_bump.number:
            raise DemoError(
                f"expected the merge to update bump pull request #{self.first_bump.number} "
                f"in place, not #{second.number}"
            )

    def delivered(self, post: Sequence[dict[str, Any]], opened: bool) -> BumpPull:
        """CD after a postsubmit: the image it recorded, in the bump pull request."""
        image = next(
            (found for job in post if (found := recorded_image(build_dir(job, self.artifacts)))),
            None,
        )
        if image is None:
            raise DemoError("expected the postsubmit to record an image (metadata.json)")
        self.say(
            f"The postsubmit recorded [bold]{image}[/] in $ARTIFACTS/metadata.json: no image "
            "builder runs in this demo (no registry), so the reference names its package's "
            "sha256; a real job pushes an image (a build-image task)."
        )
        pull = self.wait(
            f"the bump pull request in {ORG}/{MANIFESTS} to hold {image}",
            lambda: bump_pull(self.manifests, image),
        )
        how = "opened" if opened else "updated in place (force-pushed, same number)"
        self.say(
            f"CD {how} pull request [bold]#{pull.number}[/] in {ORG}/{MANIFESTS} "
            f"(branch pr/{pull.number}): {escape(pull.title)}"
        )
        self.console.print(escape(pull.diff), soft_wrap=True, highlight=False)
        return pull

    def where_to_look(self, failed: dict[str, Any]) -> None:
        url = self.server.url
        cli = ["jobs", "--server", url, "list", "--repo", f"{ORG}/{REPO}"]
        self.say(f"$ foredeck {' '.join(cli)}")
        listing = subprocess.run(
            [sys.executable, "-m", "foredeck.cli", *cli],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "COLUMNS": str(self.console.width)},
            check=False,
        )
        self.console.print(escape(listing.stdout.rstrip() or listing.stderr.rstrip()))
        artifacts = self.artifacts
        failed_dir = build_dir(failed, artifacts)
        lines = [
            f"artifacts (Prow layout): {artifacts}/pr-logs/pull/{ORG}_{REPO}/{PR}/JOB/BUILD/"
            f" and {artifacts}/logs/JOB/BUILD/",
        ]
        if failed_dir is not None:
            files = sorted(p.name for p in failed_dir.iterdir() if not p.name.startswith("."))
            lines += [
                f"the failed run of {failed['name']}: {failed_dir}/",
                f"  holds {', '.join(files)}",
                f"  its build log: {failed_dir / 'build-log.txt'}",
            ]
        keep = (
            ""
            if self.options.keep_running
            else " (while it runs: make demo DEMO_ARGS=--keep-running)"
        )
        lines += [
            f"dashboard: {url}/ (the failed run: {url}/view/{failed['id']}){keep}",
            f"JSON API: {url}/api/jobs, OpenAPI {url}/docs",
            f"CLI: foredeck jobs --server {url} list | show ID | logs ID",
            f"server log: {self.server.log_path}",
            f"settings: {self.settings_path} (API token inside)",
        ]
        for line in lines:
            self.console.print(escape(line), soft_wrap=True, highlight=False)

    def _reported(self, sha: str, want_report: bool) -> ScmView | None:
        """The SCM's view once every status on `sha` is final and the report is (not) there."""
        if self._db is None:
            from foredeck.db.engine import make_engine
            from foredeck.settings import load_settings

            settings = load_settings(self.settings_path, environ={})
            self._db = (settings, make_engine(settings.database_url))
        view = read_scm(*self._db, sha)
        contexts = {c for c, state, _ in view.statuses if state != "pending"}
        if not self.names.presubmits <= contexts or (view.report is not None) != want_report:
            return None
        return view

    def close(self) -> int | None:
        self.api.close()
        if self._db is not None:
            self._db[1].dispose()
        return self.server.stop()
