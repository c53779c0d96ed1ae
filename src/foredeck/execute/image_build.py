"""A `build-image` task on the host: `buildah bud`, then `buildah push` for each tag.

buildah runs as foredeck's own tool, not as a step: with foredeck's environment (not the
step's), `BUILDAH_ISOLATION` from the settings (`chroot` needs no OCI runtime), the settings'
store, and argv lists (nothing goes through a shell). Its output goes to the task's log as a
step's would, under the step name `build-image`; each process is in its own session, so a
timeout or a cancel kills its whole group, as for a step. Push credentials come from an auth
file (`images/auth.py`), never the command line, and are censored from buildah's output with
the run's other secrets (`foredeck.censor`). The digest `buildah push --digestfile` writes
is the task's `IMAGE_DIGEST`; `IMAGE_URL` is the first tag's reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from foredeck.censor import Censor
from foredeck.censor.values import secrets_in
from foredeck.execute import lookups
from foredeck.execute.logs import TaskLogger
from foredeck.execute.process import ProcessGroups, run_process
from foredeck.execute.scheduler import earliest
from foredeck.execute.steps import judge
from foredeck.execute.workspace import RunLayout
from foredeck.images.auth import Login, RegistryAuthError, auth_file
from foredeck.images.registry import insecure, registry_host
from foredeck.pipeline.expressions import Lookup, SubstitutionError
from foredeck.pipeline.model import IMAGE_DIGEST, IMAGE_URL, ImageBuild, TaskStatus

if TYPE_CHECKING:  # not imported at run time: `foredeck run` stays without pydantic
    from foredeck.settings import ImageSettings

STEP = "build-image"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_REPOSITORY = re.compile(r"[\w.-]+(:\d+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+")
"""`HOST[:PORT]/path`, as a distribution reference's name (a tag goes in `tags`)."""

BuildOutcome = tuple[TaskStatus, str, bool]
"""(status, reason, whether a retry may help) of a build that did not succeed."""


class BuildInputError(ValueError):
    """The build's resolved inputs are unusable (a context outside the run, no Dockerfile)."""


@dataclass(frozen=True)
class BuildPlan:
    """An `ImageBuild` with its references substituted and its paths checked."""

    context: Path
    dockerfile: Path
    references: list[str]  # `destination:tag`, one per tag
    build_args: dict[str, str]
    target: str
    cache: bool
    cache_repo: str


@dataclass
class Built:
    """A pushed image: the task's results and the references pushed, each with its digest."""

    digest: str
    references: list[str]

    @property
    def results(self) -> dict[str, str]:
        return {IMAGE_DIGEST: self.digest, IMAGE_URL: self.references[0]}

    @property
    def pinned(self) -> list[str]:
        return [f"{ref}@{self.digest}" for ref in self.references]


def plan_build(
    build: ImageBuild, lookup: Lookup, layout: RunLayout, roots: Sequence[str] = ()
) -> BuildPlan:
    """Substitute the build's texts and check its paths lie in the run's directories (the
    work tree, a workspace bound to a directory, or `roots`: the checkout): a context names
    what is pushed."""

    def text(value: str) -> str:
        return lookups.text(value, lookup)

    destination = text(build.destination).strip()
    if not _REPOSITORY.fullmatch(destination):
        raise BuildInputError(f"destination {destination!r} is not a repository REGISTRY/NAME")
    tags = [text(tag) for tag in build.tags]
    bad = [tag for tag in tags if not _TAG.fullmatch(tag)]
    if bad:
        raise BuildInputError(f"{bad[0]!r} is not a valid image tag")
    references = [f"{destination}:{tag}" for tag in tags]
    context = _local_path(text(build.context), layout)
    allowed = [layout.work, *layout.bound_dirs(), *map(Path, roots)]
    resolved = [path.resolve() for path in allowed]
    real = context.resolve()
    if not any(real.is_relative_to(root) for root in resolved):
        raise BuildInputError(f"context {str(context)!r} is not in the run's workspaces")
    if not real.is_dir():
        raise BuildInputError(f"context {str(context)!r} is not a directory")
    dockerfile = (real / text(build.dockerfile)).resolve()
    if not any(dockerfile.is_relative_to(root) for root in resolved) or not dockerfile.is_file():
        raise BuildInputError(f"no Dockerfile {build.dockerfile!r} in context {str(context)!r}")
    return BuildPlan(
        context=real,
        dockerfile=dockerfile,
        references=references,
        build_args={name: text(value) for name, value in build.build_args.items()},
        target=text(build.target),
        cache=build.cache,
        cache_repo=text(build.cache_repo),
    )


def _local_path(value: str, layout: RunLayout) -> Path:
    """A step's view of a path: `/workspace/...` and relative paths are in the workspaces."""
    if value == "/workspace" or value.startswith("/workspace/"):
        value = layout.workspaces_str + value[len("/workspace") :]
    return layout.workspaces / value


def buildah(settings: ImageSettings) -> list[str]:
    """The buildah program and its global flags (the store)."""
    argv = [settings.buildah]
    for flag, value in (
        ("--root", settings.root),
        ("--runroot", settings.runroot),
        ("--storage-driver", settings.storage_driver),
    ):
        if value:
            argv += [flag, value]
    return argv + list(settings.global_args)


def bud_argv(plan: BuildPlan, settings: ImageSettings) -> list[str]:
    argv = [*buildah(settings), "bud", f"--layers={str(plan.cache).lower()}"]
    argv += ["-f", str(plan.dockerfile)]
    if settings.auth_file:  # a base image from a private registry
        argv += ["--authfile", str(Path(settings.auth_file).expanduser())]
    for reference in plan.references:
        argv += ["-t", reference]
    for name, value in plan.build_args.items():
        argv += ["--build-arg", f"{name}={value}"]
    if plan.target:
        argv += ["--target", plan.target]
    if plan.cache_repo:
        argv += ["--cache-from", plan.cache_repo, "--cache-to", plan.cache_repo]
        if insecure(registry_host(plan.cache_repo), settings):
            argv.append("--tls-verify=false")
    return [*argv, str(plan.context)]


def _with_credentials(censor: Censor, authfile: Path | None) -> Censor:
    """`censor` and the credentials of the push's auth file: a token fetched for this push
    (ECR, Google) is in no settings, and buildah's errors may quote it."""
    if authfile is None:
        return censor
    try:
        config = json.loads(authfile.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return censor
    return censor.extended(secrets_in(config))


def push_argv(
    reference: str, settings: ImageSettings, digestfile: Path, authfile: Path | None
) -> list[str]:
    argv = [*buildah(settings), "push", "--digestfile", str(digestfile)]
    if insecure(registry_host(reference), settings):
        argv.append("--tls-verify=false")
    if authfile is not None:
        argv += ["--authfile", str(authfile)]
    return [*argv, reference, f"docker://{reference}"]


UNSHARE = "unshare"  # util-linux
OFFLINE_BUILD = (
    "build-image: the run's steps have no network, so neither have its RUN lines: buildah bud"
    " runs in a network namespace of its own (base images must be in the image store; the"
    " push is made outside it)"
)
"""buildah's `chroot` isolation runs `RUN` lines in the host's network namespace whatever
`--network` says; a namespace of the build's own is what keeps them off the host's loopback
(where foredeck's database or API may listen). Making one needs root (CAP_SYS_ADMIN): where
it cannot be made, the build fails, never runs with the network."""


class ImageBuilder:
    """Builds and pushes the images of one run's `build-image` tasks."""

    def __init__(
        self,
        settings: ImageSettings | None,
        layout: RunLayout,
        groups: ProcessGroups,
        kill_grace: float,
        logins: Mapping[str, Login] | None = None,
        roots: Sequence[str] = (),
        network: bool = True,
    ) -> None:
        """`roots`: directories besides the run's that a context may be in (the checkout);
        `network`: False when the run's steps have none (then neither have `RUN` lines)."""
        self._settings = settings
        self.layout = layout
        self.groups = groups
        self.kill_grace = kill_grace
        self.logins = dict(logins or {})
        self.roots = tuple(roots)
        self.network = network

    @property
    def settings(self) -> ImageSettings:
        """The settings given, else the defaults (made on first use: pydantic is imported
        only by runs that build an image)."""
        if self._settings is None:
            from foredeck.settings import ImageSettings

            self._settings = ImageSettings()
        return self._settings

    @property
    def env(self) -> dict[str, str]:
        """foredeck's own environment (not a step's), with the isolation of RUN lines."""
        return {**os.environ, "BUILDAH_ISOLATION": self.settings.isolation}

    async def run(
        self,
        build: ImageBuild,
        lookup: Lookup,
        logger: TaskLogger,
        stop: asyncio.Future[None],
        deadlines: list[tuple[float | None, str]],
    ) -> tuple[BuildOutcome | None, Built | None]:
        """Build and push: (None, what was pushed), or (the outcome, None) when it failed."""
        try:
            plan = plan_build(build, lookup, self.layout, self.roots)
        except (SubstitutionError, BuildInputError, OSError) as exc:
            message = f"build-image: {exc}"
            logger.message(message)
            return ("Failed", message, False), None
        deadline, which = earliest(deadlines)
        argv = bud_argv(plan, self.settings)
        if not self.network:
            logger.message(OFFLINE_BUILD)
            argv = [UNSHARE, "--net", "--", *argv]
        failed = await self._process(argv, logger, stop, deadline, which)
        if failed is not None:
            return failed, None
        digests: list[str] = []
        for reference in plan.references:
            failed, digest = await self._push(reference, logger, stop, deadline, which)
            if failed is not None:
                return failed, None
            digests.append(digest)
        if len(set(digests)) > 1:  # one image: a registry that rewrites it is worth a note
            logger.message(f"build-image: tags were pushed with different digests {digests}")
        logger.message(f"build-image: pushed {', '.join(plan.references)} at {digests[0]}")
        return None, Built(digests[0], plan.references)

    async def _push(
        self,
        reference: str,
        logger: TaskLogger,
        stop: asyncio.Future[None],
        deadline: float | None,
        which: str,
    ) -> tuple[BuildOutcome | None, str]:
        host = registry_host(reference)
        with tempfile.TemporaryDirectory(prefix="foredeck-push-") as folder:
            digestfile = Path(folder) / "digest"
            with contextlib.ExitStack() as stack:
                try:
                    credentials = auth_file(host, self.settings, self.logins)
                    authfile = await asyncio.to_thread(stack.enter_context, credentials)
                except RegistryAuthError as exc:
                    message = f"build-image: push to {host}: {exc}"
                    logger.message(message)
                    return ("Failed", message, True), ""
                argv = push_argv(reference, self.settings, digestfile, authfile)
                censor = await asyncio.to_thread(_with_credentials, logger.censor, authfile)
                failed = await self._process(argv, logger, stop, deadline, which, censor)
            if failed is not None:
                return failed, ""
            digest = digestfile.read_text(encoding="utf-8").strip() if digestfile.exists() else ""
        if not _DIGEST.fullmatch(digest):
            message = f"build-image: push of {reference} wrote no sha256 digest ({digest[:80]!r})"
            logger.message(message)
            return ("Failed", message, True), ""
        return None, digest

    async def _process(
        self,
        argv: list[str],
        logger: TaskLogger,
        stop: asyncio.Future[None],
        deadline: float | None,
        which: str,
        censor: Censor | None = None,
    ) -> BuildOutcome | None:
        """Run buildah with its output in the task's log (censored by `censor` if given)."""
        loop = asyncio.get_running_loop()
        if stop.done():
            return "Cancelled", "cancelled", False
        if deadline is not None and deadline <= loop.time():
            message = f"{which} timeout expired before build-image"
            logger.message(message)
            return "TimedOut", message, which != "pipeline"
        logger.message(f"build-image: {shlex.join(argv)}")
        output = logger.step_output(STEP, censor)
        try:
            outcome = await run_process(
                argv,
                cwd=str(self.layout.workspaces),
                env=self.env,
                sink=output.feed,
                groups=self.groups,
                deadline=deadline,
                cancel=stop,
                grace=self.kill_grace,
            )
        except OSError as exc:
            output.flush()
            message = f"build-image: could not start {argv[0]!r}: {exc.strerror}"
            logger.message(message)
            return "Failed", message, False
        output.flush()
        command = f"build-image: buildah {argv[len(buildah(self.settings))]}"
        return judge(outcome, logger, which, "build-image", command)
