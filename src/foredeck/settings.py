"""Global settings: one typed model, read from a YAML file and overridden by environment variables.

Constructing `Settings(...)` directly never reads the environment, so tests and embedders get
exactly what they pass; only `load_settings()` merges the file and `FOREDECK_*` variables.
Secrets are `SecretStr` so that they never show up in a repr, a log line or a traceback.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)

from foredeck import __version__
from foredeck.api_settings import ApiSettings as ApiSettings  # re-exported: `api.*` lives there
from foredeck.api_settings import MetricsSettings as MetricsSettings
from foredeck.censor.config import CensorSettings
from foredeck.validation import problems

ENV_PREFIX = "FOREDECK_"
CONFIG_ENV = "FOREDECK_CONFIG"
DEFAULT_DATABASE_URL = "sqlite:///./.foredeck/foredeck.db"
DEFAULT_BODY_LIMIT = 25 * 1024 * 1024  # GitHub caps payloads at 25 MiB.
MAX_SETTINGS_BYTES = 1024 * 1024
DEFAULT_GITHUB_API_URL = "https://api.github.com"
MAX_LEASE_TTL = 7 * 24 * 3600.0


class SettingsError(Exception):
    """Settings could not be loaded; the message names the file or variable to fix."""


class HttpTimeouts(BaseModel):
    """How long the HTTP server (`hook.host:port`) waits for a slow or idle client, in seconds,
    so that no client can hold a connection forever."""

    model_config = ConfigDict(extra="forbid")

    keep_alive: int = Field(default=5, ge=1)
    """An idle connection is closed this long after its last response."""
    head: float = Field(default=10.0, gt=0)
    """A request's line and headers must have arrived this long after the connection was made
    (or its previous response sent); otherwise the connection is closed."""
    body_idle: float = Field(default=30.0, gt=0)
    """A request body that pauses longer than this between two chunks is answered 408."""
    body: float = Field(default=120.0, gt=0)
    """A request body that takes longer than this in all is answered 408."""


class HookSettings(BaseModel):
    """The webhook endpoint (and the HTTP server around it).

    Secrets are lists so that a secret can be rotated: during a rotation both the old and the new
    one verify. The most specific configured level wins: `repo_secrets["org/repo"]`, else
    `org_secrets["org"]`, else `secrets`.
    """

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8888, ge=0, le=65535)
    body_limit: int = Field(default=DEFAULT_BODY_LIMIT, ge=1024)
    secrets: list[SecretStr] = Field(default_factory=list)
    org_secrets: dict[str, list[SecretStr]] = Field(default_factory=dict)
    repo_secrets: dict[str, list[SecretStr]] = Field(default_factory=dict)
    timeouts: HttpTimeouts = Field(default_factory=HttpTimeouts)

    def has_any_secret(self) -> bool:
        return bool(
            self.secrets or any(self.org_secrets.values()) or any(self.repo_secrets.values())
        )


class WorkerSettings(BaseModel):
    """The event worker that hands logged events to plugins."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    own_process: bool = True
    """`foredeck serve --role all` runs the worker in a child process, so that plugin work does
    not hold up the hook's event loop (one GIL per process); False: a thread beside the hook."""
    niceness: int = Field(default=10, ge=0, le=19)
    """How much lower than the hook's the child process's CPU priority is (`nice`): on a small
    machine the hook must answer GitHub first (it gives up after 10 s), while an event only
    waits a little longer in the durable log."""
    plugins: list[str] = Field(default_factory=list)
    """Plugin factories as `module:callable`; each is called with the `Settings`."""
    max_attempts: int = Field(default=5, ge=1)
    """After this many failed attempts an event is left unprocessed with its `last_error`."""
    poll_interval: float = Field(default=2.0, gt=0)
    retry_backoff: float = Field(default=5.0, ge=0)
    """Seconds before the first retry of a failed event; doubles on each attempt (max 10 min)."""
    batch_size: int = Field(default=64, ge=1)
    batch_budget: float = Field(default=0.02, gt=0)
    """Seconds of handling after which a batch of cheap events is committed."""


class GitHubSettings(BaseModel):
    """How foredeck reaches the GitHub API: a token (inline or in a file) or a GitHub App (id,
    key file, optional installation).

    Data only: `foredeck.scm.github.client_from_settings` builds the client and
    `foredeck.scm.github_auth.auth_from_settings` the credentials. Secret *files* are read only
    then, so that a rotated token file is picked up by the next client.
    """

    model_config = ConfigDict(extra="forbid")

    base_url: str = DEFAULT_GITHUB_API_URL
    """api.github.com, a GitHub Enterprise Server's `https://HOST/api/v3`, or a test double."""
    token: SecretStr | None = None
    token_file: str | None = None
    app_id: str | None = None
    private_key_file: str | None = None
    installation_id: int | None = Field(default=None, ge=1)
    timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _one_kind_of_credentials(self) -> GitHubSettings:
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError(f"github.base_url must be an http(s) URL, got {self.base_url!r}")
        if self.token is not None and self.token_file is not None:
            raise ValueError("github: give token or token_file, not both")
        has_token = self.token is not None or self.token_file is not None
        has_app = self.app_id is not None or self.private_key_file is not None
        if has_token and has_app:
            raise ValueError("github: give a token or a GitHub App (app_id, private_key_file)")
        if has_app and (self.app_id is None or self.private_key_file is None):
            raise ValueError("github: a GitHub App needs both app_id and private_key_file")
        if self.installation_id is not None and not has_app:
            raise ValueError("github: installation_id is only meaningful with a GitHub App")
        return self

    @property
    def configured(self) -> bool:
        """Whether any credentials are set (a client can be built)."""
        return any(v is not None for v in (self.token, self.token_file, self.app_id))


class ScmSettings(BaseModel):
    """Which SCM foredeck talks to: GitHub or `local` repositories on disk (no GitHub).

    `foredeck.scm.providers.provider_from_settings` is the one place that reads `provider`."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["github", "local"] = "github"
    local_root: str = "./.foredeck/repos"
    """`local`: a folder of git repositories as `ORG/REPO` (bare or not)."""
    local_base_branch: str = "main"
    """`local`: pushes to this branch run postsubmits; every other branch is a pull request."""
    local_poll_interval: float = Field(default=1.0, gt=0)
    """`local`: seconds between scans of the repositories for new commits."""
    bot_login: str = "foredeck"
    """The login foredeck comments and reports as (`local`); ignored on GitHub."""


class SandboxSettings(BaseModel):
    """What a job's host steps can see and touch (see docs/security.md)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "bwrap", "none"] = "auto"
    """`bwrap`: steps run in bubblewrap, or the controller does not start; `auto`: bubblewrap
    when it works on this machine, else unsandboxed with a warning; `none`: unsandboxed."""
    user: str | None = "nobody"
    """When foredeck runs as root, steps run as this user (`name`, `uid` or `uid:gid`);
    null keeps root (with no capabilities inside bubblewrap)."""
    network: bool = True
    """False: steps get a network namespace of their own with loopback only."""
    hide: list[str] = Field(default_factory=list)
    """More paths steps must not see, besides foredeck's own state and credentials."""
    bind: list[str] = Field(default_factory=list)
    """Host directories every step may write, shared by all jobs (a download cache): never
    one that holds anything secret. foredeck's own state inside them stays hidden."""
    pass_env: list[str] = Field(default_factory=list)
    """Variables of the controller's environment steps also get (e.g. `HTTPS_PROXY`); by
    default only `PATH`, `LANG`, `LC_*` and `TZ` pass."""


class ContainerSettings(BaseModel):
    """Where steps that name an image run: on the host, or in that image with podman
    (docs/containers.md). Read by the controller's local executor and by `foredeck run`."""

    model_config = ConfigDict(extra="forbid")

    runtime: Literal["host", "podman", "auto"] = "host"
    """`host`: every step is a host process (images are recorded, not used); `podman`: a step
    with an image runs in it; `auto`: podman when it is installed and the image is in its store
    or can be pulled, else the host, with a note in the run log. `host` is the default so that
    a machine without podman, and every existing pipeline, behaves as before."""
    podman: str = "podman"
    """The podman binary (a name looked up in `PATH`, or a path)."""
    storage_root: str | None = None
    """podman's `--root` (images and containers); unset: podman's own default."""
    storage_runroot: str | None = None
    """podman's `--runroot` (its state while containers run)."""
    storage_driver: str | None = None
    """podman's `--storage-driver` (`overlay`, or `vfs` where overlay cannot mount)."""
    oci_runtime: str | None = None
    """podman's `--runtime` (`runc`, `crun`); some machines only work with `runc`."""
    global_args: list[str] = Field(default_factory=list)
    """More podman flags, before the command (`--cgroup-manager=cgroupfs`, ...)."""
    run_args: list[str] = Field(default_factory=list)
    """More `podman run` flags for every step (`--network=host`, `--ulimit=nofile=4096:4096`)."""
    pull: Literal["missing", "always", "never", "newer"] = "missing"
    """podman's `--pull`; a step's `imagePullPolicy` overrides it."""
    pull_timeout: float = Field(default=600.0, gt=0)
    """Seconds `auto` waits for a pull before it runs the image's steps on the host."""
    pass_env: list[str] = Field(default_factory=list)
    """Variables of foredeck's own environment that container steps also get (`HTTPS_PROXY`);
    otherwise a container sees only what the pipeline and the job set."""
    daemon_network: str | None = None
    """A podman network (`podman`, its default bridge) on which each Argo daemon's container
    gets an address of its own, as a pod does, so that two daemons may serve the same port;
    unset: daemons share the steps' network (`run_args`) and are at 127.0.0.1. The host must
    reach that network (rootful podman's bridge; not rootless slirp4netns)."""


class ControllerSettings(BaseModel):
    """The controller: runs triggered jobs with the local executor."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_concurrency: int = Field(default=0, ge=0)
    """Jobs running at once in this process; 0 means the number of CPUs."""
    poll_interval: float = Field(default=1.0, gt=0)
    heartbeat_interval: float = Field(default=5.0, gt=0)
    stale_after: float = Field(default=30.0, gt=0)
    """A `pending` job whose owner has not heartbeat for this long is recovered."""
    requeue_on_recovery: bool = False
    """Re-queue (once) a job whose controller died, instead of ending it as `error`."""
    default_timeout: float = Field(default=2 * 3600.0, gt=0)
    """Seconds, when the job has no `decoration_config.timeout`."""
    default_grace_period: float = Field(default=15.0, ge=0)
    workdir: str = "./.foredeck/runs"
    """Per-job workspaces (checkout + executor output), removed by the sinker."""
    mirror_dir: str = "./.foredeck/mirrors"
    parallel: int | None = Field(default=None, ge=1)
    """Tasks of one pipeline running at once (the executor's `--parallel`)."""
    live_publish_interval: float = Field(default=10.0, ge=0)
    """Seconds between live snapshots of a running job's logs and `pipeline-run.json` to its
    build directory in the store (what a dashboard without the workspace shows); 0: none."""
    live_publish_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Bytes one live snapshot of one job uploads at most (files left over wait for the next)."""
    live_publish_max_file_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    """A longer log is snapshotted as its last this-many bytes, after a line saying so."""
    max_output_bytes: int = Field(default=1024 * 1024 * 1024, ge=0)
    """Bytes of step output a job's build log holds at most (stamps and prefixes included);
    what a job prints beyond is dropped, and a line says so. 0: no limit."""
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)


class KubeSettings(BaseModel):
    """Where jobs with `agent: argo` or `agent: tekton` run (see docs/kube-executors.md)."""

    model_config = ConfigDict(extra="forbid")

    default_agent: Literal["local", "argo", "tekton"] = "local"
    """Where jobs with no agent or Prow's default `agent: kubernetes` run."""
    utility_image: str = f"ghcr.io/foredeck/foredeck:{__version__}"
    """The image remote pods run `foredeck util clonerefs` / `upload` from (needs git)."""
    namespace: str = "default"
    auth: Literal["kubeconfig", "in-cluster", "eks"] = "kubeconfig"
    kubeconfig: str | None = None
    context: str | None = None
    cluster: str | None = None
    """`eks`: the EKS cluster name (endpoint and CA come from DescribeCluster)."""
    region: str | None = None
    aws_profile: str | None = None
    ui_url: str | None = None
    """The Argo UI or Tekton Dashboard base URL: the job's link to its remote run."""


class ImageSettings(BaseModel):
    """How the local executor builds and pushes images (`build-image` tasks, docs/images.md)."""

    model_config = ConfigDict(extra="forbid")

    buildah: str = "buildah"
    """The buildah program (a name on PATH or a path)."""
    global_args: list[str] = Field(default_factory=list)
    """More global buildah flags, before the subcommand."""
    storage_driver: str | None = None
    """`vfs` or `overlay`; None: buildah's own default (storage.conf)."""
    root: str | None = None
    """The image store (`--root`); None: buildah's default for the user."""
    runroot: str | None = None
    isolation: Literal["chroot", "oci", "rootless"] = "chroot"
    """`BUILDAH_ISOLATION` of `RUN` instructions: chroot needs no OCI runtime nor namespaces."""
    insecure_registries: list[str] = Field(default_factory=lambda: ["127.0.0.1:*", "localhost:*"])
    """Registries (`HOST:PORT`, `*` patterns allowed) reached over plain HTTP, without TLS
    verification (`--tls-verify=false`); by default those on this machine's loopback."""
    auth_file: str | None = None
    """A docker `config.json` with the credentials of the registries pushed to."""
    registry_kinds: dict[str, Literal["config", "ecr", "google"]] = Field(default_factory=dict)
    """Registry host -> where its credentials come from, when its name does not say: `ecr`
    (boto3, for `*.dkr.ecr.*.amazonaws.com`), `google` (Application Default Credentials, for
    `gcr.io` and `*-docker.pkg.dev`), `config` (`auth_file`)."""


class ArtifactSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = "./.foredeck/artifacts"
    """Where finished runs are published in Prow's layout: a path, `file:///...`, `s3://`, `gs://`."""


class ReporterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    poll_interval: float = Field(default=1.0, gt=0)
    dashboard_url: str = "http://127.0.0.1:8888"
    """Base of the `target_url` of commit statuses: `{dashboard_url}/jobs/{id}`."""


class PeriodicSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    tick: float = Field(default=1.0, gt=0)


class TideSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Run the merge pool when the job config has a `tide:` section (docs/tide.md)."""


class SinkerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_age: float = Field(default=7 * 24 * 3600.0, gt=0)
    """Seconds after which finished jobs and their workspaces are removed."""
    interval: float = Field(default=3600.0, gt=0)
    cluster_engines: list[Literal["argo", "tekton"]] | None = None
    """Engines whose runs are swept in `kube.namespace` (None: `kube.default_agent`'s, if any)."""
    cluster_grace: float = Field(default=60.0, ge=0)
    """Seconds a run object is left alone after its creation, whatever its job says."""


class PostgresDatabaseProvider(BaseModel):
    """`postgres-database`: a database per lease on a PostgreSQL server foredeck administers."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["postgres-database"]
    url: SecretStr
    """An admin URL (`postgresql://user:password@host/postgres`) with the CREATEDB privilege."""


class EksProvider(BaseModel):
    """`eks`: an EKS cluster and a managed node group per lease (the `eks` extra)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["eks"]
    region: str | None = None
    aws_profile: str | None = None
    role_arn: str
    """The cluster's IAM role."""
    node_role_arn: str
    subnets: list[str] = Field(min_length=1)
    version: str | None = None
    instance_types: list[str] = Field(default_factory=lambda: ["m5.large"])
    nodes: int = Field(default=2, ge=1)
    create_timeout: float = Field(default=1800.0, gt=0)
    delete_timeout: float = Field(default=1800.0, gt=0)
    poll_delay: float = Field(default=30.0, gt=0)
    """Seconds between the waiters' checks."""


class NamespaceProvider(BaseModel):
    """`namespace`: a namespace with a RoleBinding and a ResourceQuota in an existing cluster."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["namespace"]
    kubeconfig: str | None = None
    context: str | None = None
    cluster_role: str = "edit"
    """The ClusterRole the lease's subjects get in the namespace."""
    service_account: str = "default"
    """The service account (in the leased namespace) the RoleBinding names."""
    quota: dict[str, str] = Field(default_factory=lambda: {"limits.cpu": "4", "pods": "20"})


LeaseProvider = PostgresDatabaseProvider | EksProvider | NamespaceProvider


class LeaseType(BaseModel):
    """A resource type: static `resources` (names), or dynamic ones a `provider` makes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    resources: list[str] = Field(default_factory=list)
    provider: LeaseProvider | None = Field(default=None, discriminator="kind")
    min_count: int = Field(default=0, ge=0)
    """Dynamic: resources kept made in advance (free)."""
    max_count: int = Field(default=10, ge=1)
    """Dynamic: resources at most (free, busy, dirty or cleaning)."""
    lifespan: float | None = Field(default=None, gt=0)
    """Dynamic: seconds after which a free resource is deleted (and made anew if needed)."""

    @model_validator(mode="after")
    def _static_or_dynamic(self) -> LeaseType:
        if self.resources and self.provider is not None:
            raise ValueError(f"lease type {self.name}: give resources or a provider, not both")
        if self.min_count > self.max_count:
            raise ValueError(f"lease type {self.name}: min_count is above max_count")
        return self


class LeaseSettings(BaseModel):
    """Leases (foredeck/leases, docs/leases.md): resource types and the reaper and janitor."""

    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(default="foredeck", pattern=r"^[a-z][a-z0-9]{0,15}$")
    """What names and tags of made resources start with: the janitor owns all of them."""
    types: list[LeaseType] = Field(default_factory=list)
    reap_interval: float = Field(default=5.0, gt=0)
    """Seconds between passes of the reaper (expired leases) and the cleaners."""
    janitor_interval: float = Field(default=600.0, gt=0)
    janitor_dry_run: bool = False
    clean_timeout: float = Field(default=1800.0, gt=0)
    """A `cleaning` resource whose cleaner has not finished in this long is cleaned again."""
    max_ttl: float = Field(default=24 * 3600.0, gt=0, le=MAX_LEASE_TTL)
    """Longer TTLs asked for are cut to this."""
    job_ttl: float = Field(default=300.0, gt=0)
    """TTL of a job's leases that name none: how soon a dead controller's leases are reaped."""
    tombstone_retention: float = Field(default=7 * 24 * 3600.0, gt=0)
    """Seconds a `tombstone` resource row (a deleted dynamic resource, a static one no longer
    configured) is kept before the reaper deletes it: one row per dynamic lease otherwise."""
    job_wait: float = Field(default=3600.0, gt=0)
    """Seconds a job waits for its leases at most (then it ends `error`); the job's own
    timeout starts once it holds them all."""
    prices: dict[str, float] = Field(default_factory=dict)
    """Estimated cost per hour held, by type: the run page and the API show a lease's cost."""

    @model_validator(mode="after")
    def _unique_types(self) -> LeaseSettings:
        names = [t.name for t in self.types]
        if len(names) != len(set(names)):
            raise ValueError("leases.types: each type name must be unique")
        return self


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database_url: str = DEFAULT_DATABASE_URL
    hook: HookSettings = Field(default_factory=HookSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    plugin_config: dict[str, Any] = Field(default_factory=dict)
    """Free-form configuration per plugin name, read by the plugins themselves."""
    github: GitHubSettings = Field(default_factory=GitHubSettings)
    """The GitHub API endpoint and credentials (token, token file or GitHub App)."""
    config_path: str | None = None
    """The central Prow job config: a YAML file or a directory tree of them."""
    config_allow_empty: bool = False
    """Accept a reload of `config_path` that has no jobs at all. Off by default: an emptied file
    (an editor truncating it before writing) is refused and the last good config stays."""
    scm: ScmSettings = Field(default_factory=ScmSettings)
    controller: ControllerSettings = Field(default_factory=ControllerSettings)
    containers: ContainerSettings = Field(default_factory=ContainerSettings)
    """Whether steps run in their images (podman), for the controller and `foredeck run`."""
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)
    kube: KubeSettings = Field(default_factory=KubeSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    reporter: ReporterSettings = Field(default_factory=ReporterSettings)
    periodics: PeriodicSettings = Field(default_factory=PeriodicSettings)
    sinker: SinkerSettings = Field(default_factory=SinkerSettings)
    tide: TideSettings = Field(default_factory=TideSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    leases: LeaseSettings = Field(default_factory=LeaseSettings)
    censor: CensorSettings = Field(default_factory=CensorSettings)
    """More secrets masked in logs and artifacts (docs/security.md)."""
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The settings file these were loaded from (steps must never read it)."""
        return self._source


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from `path` (or `$FOREDECK_CONFIG`), then `FOREDECK_*` variables on top.

    A variable names a field path joined by `__`: `FOREDECK_DATABASE_URL`,
    `FOREDECK_HOOK__BODY_LIMIT`, `FOREDECK_HOOK__SECRETS='["new", "old"]'`. Values that start
    with `[` or `{` are read as JSON. Variables whose first segment is not a settings field (such
    as `FOREDECK_TEST_PG_URL`) are ignored.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    data: dict[str, Any] = _read_yaml(Path(path)) if path is not None else {}
    from_env: dict[tuple[str | int, ...], str] = {}
    for key, value in sorted(env.items()):
        if not key.startswith(ENV_PREFIX) or key == CONFIG_ENV:
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        if parts[0] not in Settings.model_fields:
            continue
        _set_path(data, parts, _env_value(key, value))
        from_env[tuple(parts)] = f"${key}"
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        # pydantic's own text quotes inputs: a secret whose type is wrong would be printed.
        where = str(path) if path is not None else "environment"
        lines = "".join(f"\n  {line}" for line in problems(exc, Settings, from_env))
        raise SettingsError(f"{where}: invalid settings:{lines}") from None
    if path is not None:
        settings._source = Path(path).absolute()
    return settings


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_SETTINGS_BYTES:
            raise SettingsError(f"{path}: settings file is larger than {MAX_SETTINGS_BYTES} bytes")
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read settings: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(_yaml_error(path, exc)) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SettingsError(f"{path}: settings must be a mapping, not {type(loaded).__name__}")
    return loaded


# PyYAML quotes characters, token names ('<stream end>') and, in a few problems, names taken from
# the document (an undefined alias or tag), which could be part of a secret.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _elide_names(match: re.Match[str]) -> str:
    inner = match.group()[1:-1]
    return match.group() if len(inner) <= 2 or inner.startswith("<") else "'...'"


def _yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """`file:line:column: problem`: PyYAML's own text quotes the line, which may hold a token."""
    if isinstance(exc, yaml.reader.ReaderError):  # a control character; no line or column
        return f"{path}: invalid YAML: {exc.reason} (character {exc.position + 1})"
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return f"{path}: invalid YAML"
    problem = _QUOTED.sub(_elide_names, getattr(exc, "problem", None) or "")
    return f"{path}:{mark.line + 1}:{mark.column + 1}: invalid YAML" + (
        f": {problem}" if problem else ""
    )


def _env_value(key: str, value: str) -> Any:
    if value.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"${key}: invalid JSON: {exc.msg}") from None
    return value


def _set_path(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value
