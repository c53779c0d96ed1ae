"""Pydantic models of Prow's job configuration (`presubmits`, `postsubmits`, `periodics`, presets).

Field names and defaults follow Prow's `pkg/config/jobs.go` so that a real Prow config loads
unchanged. Every model keeps fields it does not declare (`extra="allow"`): foredeck must never drop
part of a user's config, and the loader reports such fields as warnings instead of failing.

Matching helpers (`could_run`, `should_run`, `trigger_matches`, ...) live on the models. Their
regexes are compiled once into `compile_go_regex`'s shared cache (validation compiles them at load
time), not stored on the job, so that two loads of the same config compare equal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from foredeck.config.cd import CdTarget, check_targets
from foredeck.config.decoding import Coerce, decode, field_coercers
from foredeck.config.durations import optional_seconds
from foredeck.config.regex import Matcher, compile_go_regex
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import UNKNOWN, Source

ChangedFiles = Sequence[str] | Callable[[], Sequence[str]]
"""Changed file paths, or a function fetching them only when a job actually needs them."""


def memoize_changes(changes: ChangedFiles) -> Callable[[], Sequence[str]]:
    """A provider that fetches the changed files at most once, however many jobs ask."""
    if not callable(changes):
        return lambda: changes
    cache: list[Sequence[str]] = []

    def provider() -> Sequence[str]:
        if not cache:
            cache.append(tuple(changes()))
        return cache[0]

    return provider


KNOWN_AGENTS = frozenset({"kubernetes", "local", "argo", "tekton", "tekton-pipeline", "jenkins"})
"""Prow's agents plus foredeck's executors; another agent loads with a warning."""


def default_trigger(name: str) -> str:
    """Prow's `DefaultTriggerFor`: a line starting `/test`, naming NAME among other words."""
    return rf"(?m)^/test( | .* ){name},?($|\s.*)"


def default_rerun_command(name: str) -> str:
    return f"/test {name}"


_DECODING: dict[type[BaseModel], dict[str, Coerce]] = {}


class ProwModel(BaseModel):
    """Base: keeps unknown fields, accepts Kubernetes' camelCase aliases and our snake_case, and
    reads values as Prow's sigs.k8s.io/yaml does (`config.decoding`: a key with no value is the
    field's zero value, a number or boolean in a string field is its text)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _decode_like_prow(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        plan = _DECODING.get(cls)
        if plan is None:
            plan = _DECODING[cls] = field_coercers(cls)
        return decode(plan, data)

    PROW_FIELDS: ClassVar[frozenset[str]] = frozenset()
    """Prow fields not declared here: kept as extras without an 'unknown field' warning."""

    def unknown_fields(self) -> list[str]:
        """Extra fields that are neither declared nor Prow's own (likely typos)."""
        extra = self.model_extra or {}
        return [k for k in extra if k not in self.PROW_FIELDS]

    def to_dict(self) -> dict[str, Any]:
        """The config as Prow spells it (aliases, no unset optional values)."""
        return self.model_dump(by_alias=True, exclude_none=True)


# --- Kubernetes pod spec (the part foredeck reads; everything else is kept)


class EnvVar(ProwModel):
    name: str
    value: str = ""
    value_from: dict[str, Any] | None = Field(default=None, alias="valueFrom")
    _from_preset: bool = PrivateAttr(default=False)

    @property
    def from_preset(self) -> bool:
        """Merged in from a preset: problems with it are reported once, at the preset."""
        return self._from_preset


class Container(ProwModel):
    name: str = ""
    image: str = ""
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    working_dir: str | None = Field(default=None, alias="workingDir")
    resources: dict[str, Any] = Field(default_factory=dict)
    volume_mounts: list[dict[str, Any]] = Field(default_factory=list, alias="volumeMounts")
    security_context: dict[str, Any] | None = Field(default=None, alias="securityContext")


class PodSpec(ProwModel):
    containers: list[Container] = Field(default_factory=list)
    init_containers: list[dict[str, Any]] = Field(default_factory=list, alias="initContainers")
    volumes: list[dict[str, Any]] = Field(default_factory=list)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    service_account_name: str | None = Field(default=None, alias="serviceAccountName")


# --- Prow sub-objects


class Refs(ProwModel):
    """A repository to clone (`extra_refs` entries)."""

    PROW_FIELDS = frozenset({"repo_link", "base_link", "pulls", "base_sha"})

    org: str
    repo: str
    base_ref: str = ""
    path_alias: str = ""
    workdir: bool = False
    clone_uri: str = ""
    skip_submodules: bool = False
    clone_depth: int = 0
    skip_fetch_head: bool = False

    @property
    def org_repo(self) -> str:
        return f"{self.org}/{self.repo}"


class DecorationConfig(ProwModel):
    """Pod-utility settings. foredeck reads the timeouts; the rest is kept for Prow parity."""

    PROW_FIELDS = frozenset(
        {
            "resources",
            "default_service_account_name",
            "ssh_key_secrets",
            "ssh_host_fingerprints",
            "blobless_fetch",
            "cookiefile_secret",
            "oauth_token_secret",
            "github_api_endpoints",
            "github_app_id",
            "github_app_private_key_secret",
            "censor_secrets",
            "censoring_options",
            "upload_ignores_interrupts",
            "set_limit_equals_memory_request",
            "default_memory_request",
            "scheduling_options",
            "pod_pending_timeout",
            "pod_running_timeout",
            "pod_unscheduled_timeout",
            "run_as_user",
            "run_as_group",
            "fs_group",
        }
    )

    timeout: str | None = None
    grace_period: str | None = None
    utility_images: dict[str, Any] | None = None
    gcs_configuration: dict[str, Any] | None = None
    gcs_credentials_secret: str | None = None
    s3_credentials_secret: str | None = None
    skip_cloning: bool | None = None

    @property
    def timeout_seconds(self) -> float | None:
        return optional_seconds(self.timeout)

    @property
    def grace_period_seconds(self) -> float | None:
        return optional_seconds(self.grace_period)


class SlackReporterConfig(ProwModel):
    PROW_FIELDS = frozenset({"host"})

    channel: str = ""
    job_states_to_report: list[str] | None = None
    report_template: str = ""
    report: bool | None = None


class ReporterConfig(ProwModel):
    slack: SlackReporterConfig | None = None


class Preset(ProwModel):
    """Env, volumes and mounts merged into every container of jobs carrying all `labels`."""

    labels: dict[str, str] = Field(default_factory=dict)
    env: list[EnvVar] = Field(default_factory=list)
    volumes: list[dict[str, Any]] = Field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = Field(default_factory=list, alias="volumeMounts")
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    _source: Source = PrivateAttr(default_factory=lambda: UNKNOWN)  # frozen: no deep copy

    def model_post_init(self, context: Any, /) -> None:
        for env in self.env:
            env._from_preset = True

    @property
    def source(self) -> Source:
        return self._source

    def applies_to(self, labels: dict[str, str]) -> bool:
        """Prow: every preset label must be on the job with the same value (none: all jobs)."""
        return all(labels.get(k) == v for k, v in self.labels.items())


# --- jobs


class LeaseRequest(ProwModel):
    """foredeck extension: a resource the job leases before its first step (docs/leases.md).

    Named `leases`, not `resources`: that word is Kubernetes' CPU and memory in a container."""

    type: str = Field(min_length=1)
    count: int = Field(default=1, ge=1, le=20)
    ttl: float | None = Field(default=None, gt=0)
    """Seconds the lease lives without a heartbeat (the controller beats every third of it)."""


class JobBase(ProwModel):
    """Fields common to every job type (Prow's `JobBase` and `UtilityConfig`)."""

    KIND: ClassVar[str] = "job"
    PROW_FIELDS = frozenset(
        {
            "pipeline_run_spec",
            "tekton_pipeline_run_spec",
            "rerun_auth_config",
            "prowjob_defaults",
            "job_queue_name",
            "jenkins_spec",
        }
    )
    UNUSED_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "pipeline_run_spec",
            "tekton_pipeline_run_spec",
            "rerun_auth_config",
            "prowjob_defaults",
            "job_queue_name",
            "jenkins_spec",
        }
    )
    """Prow fields that foredeck keeps but does not act on yet (reported as warnings)."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    max_concurrency: int = 0
    agent: str = "kubernetes"
    cluster: str = "default"
    namespace: str | None = None
    error_on_eviction: bool = False
    hidden: bool = False
    spec: PodSpec | None = None
    reporter_config: ReporterConfig | None = None
    # UtilityConfig
    decorate: bool | None = None
    path_alias: str = ""
    clone_uri: str = ""
    skip_submodules: bool = False
    clone_depth: int = 0
    skip_fetch_head: bool = False
    extra_refs: list[Refs] = Field(default_factory=list)
    decoration_config: DecorationConfig | None = None
    # foredeck extension: a pipeline instead of (never with) a pod spec
    pipeline: str | dict[str, Any] | list[Any] | None = None
    pipeline_params: dict[str, str | list[str] | dict[str, str]] = Field(default_factory=dict)
    # foredeck extension: resources leased for the run (its steps, pipeline or pod)
    leases: list[LeaseRequest] = Field(default_factory=list)

    _source: Source = PrivateAttr(default_factory=lambda: UNKNOWN)  # frozen: no deep copy
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)
    _preset_env: dict[str, str] = PrivateAttr(default_factory=dict)
    _inline_pipeline: PipelineRunSpec | None = PrivateAttr(default=None)

    @property
    def source(self) -> Source:
        """Where the job's mapping starts: the `file:line` every message about it names."""
        return self._source

    @property
    def raw(self) -> dict[str, Any]:
        """The mapping as loaded (a `SourceMap` when it came from a file)."""
        return self._raw

    @property
    def preset_env(self) -> dict[str, str]:
        """Env from matching presets, given to every step of a `pipeline:` job too."""
        return self._preset_env

    @property
    def inline_pipeline(self) -> PipelineRunSpec | None:
        """The parsed inline `pipeline:` (set at load time when the pipeline loader exists)."""
        return self._inline_pipeline

    @property
    def timeout_seconds(self) -> float | None:
        dc = self.decoration_config
        return dc.timeout_seconds if dc is not None else None

    @property
    def pipeline_path(self) -> str | None:
        """`pipeline:` as a path in the tested repository (one line), else None."""
        p = self.pipeline
        return p if isinstance(p, str) and "\n" not in p.strip() else None

    def unused_fields(self) -> list[str]:
        extra = self.model_extra or {}
        return [k for k in extra if k in self.UNUSED_FIELDS]


class _Brancher:
    """Prow's `Brancher`: `branches` / `skip_branches` as unanchored regexes (Go `MatchString`).

    Exactly as in Prow, `branches: [main]` also matches `main-old`; write `^main$` for an
    exact branch. When both lists are set, `skip_branches` wins.
    """

    if TYPE_CHECKING:
        branches: list[str]
        skip_branches: list[str]

    def _branch_re(self) -> Matcher | None:
        return compile_go_regex("|".join(self.branches)) if self.branches else None

    def _skip_re(self) -> Matcher | None:
        return compile_go_regex("|".join(self.skip_branches)) if self.skip_branches else None

    def runs_against_all_branches(self) -> bool:
        return not self.branches and not self.skip_branches

    def could_run(self, branch: str) -> bool:
        """Whether the job may run against `branch` at all (Prow's `Brancher.ShouldRun`)."""
        skip = self._skip_re()
        if skip is not None and skip.search(branch):
            return False
        pos = self._branch_re()
        return pos is None or pos.search(branch) is not None

    def intersects(self, other: _Brancher) -> bool:
        """Whether both could run against one branch (Prow's `Brancher.Intersects`)."""
        if self.runs_against_all_branches() or other.runs_against_all_branches():
            return True
        if self.branches:
            if other.branches:
                return bool(set(self.branches) & set(other.branches))
            return any(other.could_run(b) for b in sorted(set(self.branches)))
        if not other.branches:
            return True  # both only skip some branches
        return other.intersects(self)


class _ChangeMatcher:
    """Prow's `RegexpChangeMatcher`: `run_if_changed` xor `skip_if_only_changed`."""

    if TYPE_CHECKING:
        run_if_changed: str
        skip_if_only_changed: str

    def _changes_re(self) -> Matcher | None:
        pattern = self.run_if_changed or self.skip_if_only_changed
        return compile_go_regex(pattern) if pattern else None

    def could_run_on_changes(self) -> bool:
        """Whether changed files decide this job (Prow's `CouldRun`)."""
        return bool(self.run_if_changed or self.skip_if_only_changed)

    def runs_against_changes(self, changes: Sequence[str]) -> bool:
        """Any file matches `run_if_changed`, or any file falls outside `skip_if_only_changed`."""
        regex = self._changes_re()
        if regex is None:
            return False
        search = regex.search
        if self.run_if_changed:
            return any(search(f) is not None for f in changes)
        return any(search(f) is None for f in changes)

    def _determined(self, changes: ChangedFiles) -> bool | None:
        if not self.could_run_on_changes():
            return None
        files = changes() if callable(changes) else changes
        return self.runs_against_changes(files)


class RepoJob(JobBase, _Brancher, _ChangeMatcher):
    """A job bound to one repository: presubmits and postsubmits."""

    branches: list[str] = Field(default_factory=list)
    skip_branches: list[str] = Field(default_factory=list)
    run_if_changed: str = ""
    skip_if_only_changed: str = ""
    context: str = ""
    skip_report: bool = False
    report: bool | None = None  # ProwJobSpec's spelling; `report: false` means `skip_report`

    _org_repo: str = PrivateAttr(default="")

    @property
    def org_repo(self) -> str:
        return self._org_repo

    def finalize(self, org_repo: str) -> None:
        """Apply Prow's defaults (regexes compile on first use; `rules.check_job` forces that)."""
        self._org_repo = org_repo
        if not self.context:
            self.context = self.name
        if self.report is False:
            self.skip_report = True


class Presubmit(RepoJob):
    """A job run against pull requests."""

    KIND: ClassVar[str] = "presubmit"

    always_run: bool = False
    optional: bool = False
    trigger: str = ""
    rerun_command: str = ""
    run_before_merge: bool = False

    def finalize(self, org_repo: str) -> None:
        """Defaults trigger/rerun command like Prow; only when both are unset."""
        super().finalize(org_repo)
        if not self.trigger and not self.rerun_command:
            self.trigger = default_trigger(self.name)
            self.rerun_command = default_rerun_command(self.name)

    def _trigger_re(self) -> Matcher | None:
        return compile_go_regex(self.trigger) if self.trigger else None

    def needs_explicit_trigger(self) -> bool:
        """Runs only when asked (`/test NAME`): neither always_run nor file-conditional."""
        return not self.always_run and not self.could_run_on_changes()

    def triggers_conditionally(self) -> bool:
        return self.needs_explicit_trigger() or self.could_run_on_changes()

    def should_run(self, changes: ChangedFiles) -> bool | None:
        """Run on a PR event without a command? True/False, or None: only when requested.

        `changes` may be a callable so that the changed files are fetched only for jobs with
        `run_if_changed` / `skip_if_only_changed` (branch matching is `could_run`).
        """
        if self.always_run:
            return True
        return self._determined(changes)

    def runs_for(
        self, branch: str, changes: ChangedFiles, *, forced: bool = False, defaults: bool = False
    ) -> bool:
        """Prow's `Presubmit.ShouldRun(baseRef, changes, forced, defaults)`."""
        if not self.could_run(branch):
            return False
        if self.always_run or forced:
            return True
        determined = self._determined(changes)
        return bool(determined) or defaults

    def trigger_matches(self, body: str) -> bool:
        """Whether a comment asks for this job (`/test NAME` by default)."""
        regex = self._trigger_re()
        return regex is not None and regex.search(body) is not None

    def context_required(self) -> bool:
        """Whether the status context must pass before merge."""
        return not self.optional and not self.skip_report


class Postsubmit(RepoJob):
    """A job run after a push to a branch (or tag)."""

    KIND: ClassVar[str] = "postsubmit"

    always_run: bool | None = None
    cd: list[CdTarget] = Field(default_factory=list)
    """foredeck's own: manifests repositories the images it pushed are bumped in (docs/cd.md)."""

    @field_validator("cd")
    @classmethod
    def _cd(cls, value: list[CdTarget]) -> list[CdTarget]:
        return check_targets(value)

    def should_run(self, branch: str, changes: ChangedFiles) -> bool:
        """Prow's `Postsubmit.ShouldRun`: branch, then changed files, then always_run (default
        true: a postsubmit runs on every push unless told otherwise)."""
        if not self.could_run(branch):
            return False
        determined = self._determined(changes)
        if determined is not None:
            return determined
        return self.always_run if self.always_run is not None else True


class Periodic(JobBase):
    """A job run on a timer: exactly one of `cron`, `interval`, `minimum_interval`."""

    KIND: ClassVar[str] = "periodic"

    cron: str = ""
    interval: str = ""
    minimum_interval: str = ""
    tags: list[str] = Field(default_factory=list)
    retry: dict[str, Any] | None = None

    @property
    def interval_seconds(self) -> float | None:
        return optional_seconds(self.interval)

    @property
    def minimum_interval_seconds(self) -> float | None:
        return optional_seconds(self.minimum_interval)


AnyJob = Presubmit | Postsubmit | Periodic
