"""The pipeline IR: one model that every front end produces and every back end consumes.

Front ends (Tekton, Argo, a Prow job's `spec`, Python) build these objects; the local executor
interprets them and the Argo/Tekton emitters compile them. Every node keeps the `Source` it came
from so that an error anywhere downstream can still name the file and line a user must fix.

Values keep Tekton's substitution syntax (`$(params.x)`, `$(tasks.T.results.R)`, ...) as the one
canonical expression language of the IR; other front ends translate into it. Where a value needs
computing (Argo's `{{=...}}`), it holds `$(= EXPR)`: EXPR is expr-lang (`pipeline/exprlang`) whose
variables are written as those same references (`$(=asInt($(params.n)) + 1)`), so validation and
dependency inference see them as in any value; the executor evaluates it at run time, Argo's
emitter writes it back as `{{=...}}`, and Tekton's refuses it. A `WhenExpression` with
`govaluate` set is an Argo `when`: its `input` is substituted as text, then evaluated as a
govaluate boolean expression.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from foredeck.pipeline.predicates import NO_CONTINUE, ContinueOn, Predicate
from foredeck.pipeline.run_objects import ClusterObject as ClusterObject
from foredeck.pipeline.run_objects import ConfigMapVolume as ConfigMapVolume
from foredeck.types import UNKNOWN, PipelineError, Source

ParamType = Literal["string", "array", "object"]
ParamValue = str | list[str] | dict[str, str]
WhenOperator = Literal["in", "notin"]
StepOnError = Literal["stopAndFail", "continue"]
TaskStatus = Literal["Succeeded", "Failed", "Skipped", "Cancelled", "TimedOut"]
RunStatus = Literal["Succeeded", "Failed", "Cancelled", "TimedOut"]
ResultSource = Literal["file", "stdout", "exit-code"]
FailurePolicy = Literal["stop", "continue"]


def value_type(value: ParamValue) -> ParamType:
    """The type of a param value: a list is an array, a mapping an object."""
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def over_default(value: ParamValue, default: ParamValue | None) -> ParamValue:
    """A param's value as Tekton binds it: an object's keys over its default's, one by one (a
    partial object keeps the default's other keys); any other value as given."""
    if isinstance(value, dict) and isinstance(default, dict):
        return {**default, **value}
    return value


@dataclass
class ParamSpec:
    name: str
    type: ParamType = "string"
    default: ParamValue | None = None
    description: str = ""
    source: Source = UNKNOWN
    properties: list[str] = field(default_factory=list)  # an object param's declared keys
    enum: list[str] = field(default_factory=list)  # the values allowed, when not empty


@dataclass
class ResultSpec:
    """A task result: written by a step to `$(results.NAME.path)` (`value_from="file"`), or a
    step's standard output (`"stdout"`: Argo's `outputs.result`) or exit code (`"exit-code"`),
    of the step named `step` (None: the task's last step). Stdout and exit-code results are
    also set when the task fails, so that tasks running after a failure can read them."""

    name: str
    type: ParamType = "string"
    description: str = ""
    source: Source = UNKNOWN
    value_from: ResultSource = "file"
    step: str | None = None
    # What the result reads when the task does not write it, or does not run (Tekton's
    # `default` of a result, `enable-default-results`); None: a consumer of the missing
    # result is skipped or fails, as without it.
    default: ParamValue | None = None


@dataclass
class PipelineResult:
    """A pipeline result: a value expression over task results."""

    name: str
    value: ParamValue
    description: str = ""
    source: Source = UNKNOWN


@dataclass
class WorkspaceDecl:
    name: str
    optional: bool = False
    description: str = ""
    source: Source = UNKNOWN


@dataclass
class Step:
    """One process. `script` wins over `command`/`args` when set (run via its shebang or sh)."""

    name: str
    image: str = ""
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    script: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    timeout: float | None = None  # seconds
    source: Source = UNKNOWN
    display_name: str = ""
    on_error: str = "stopAndFail"  # `continue`: a failure is recorded, not fatal
    """A `StepOnError`, or text with `$(params...)` that resolves to one when the step runs
    (Tekton lets a param choose: `onError: $(params.CONTINUE)`)."""
    stdout_path: str | None = None  # the step's stdout is also written there (Tekton)
    stderr_path: str | None = None
    cluster: dict[str, Any] = field(default_factory=dict)
    """Container fields that only mean something in a pod (`computeResources`,
    `securityContext`, `imagePullPolicy`): kept for the emitters, ignored on a host."""
    after: list[str] | None = None
    """The steps this one waits for, when a task's steps form a DAG (Argo's containerSet
    `dependencies`); None: the step before it. Steps are kept in an order that respects these
    edges, and a host runs them one by one in that order."""
    init: bool = False
    """An init container (Argo `initContainers`): runs before the task's other steps, as Tekton
    runs every step."""
    action: str = ""
    """The Tekton StepAction this step runs (`ref.name`), resolved into the fields above, where
    the StepAction's own params are written `$(step.params.NAME…)` (a scope of their own)."""
    action_params: list[ParamSpec] = field(default_factory=list)  # the StepAction's params
    params: dict[str, ParamValue] = field(default_factory=dict)
    """What the step passes the StepAction's params, written in the task's scope; bound when the
    step runs (`step_actions.bind`), an object's keys over its default's, as Tekton does."""

    def texts(self) -> list[str]:
        """Every value of the step that may hold `$(...)` references."""
        values = [self.image, *self.command, *self.args, *self.env.values()]
        for value in self.params.values():
            values.extend([value] if isinstance(value, str) else value)
        if self.script is not None:
            values.append(self.script)
        if self.working_dir is not None:
            values.append(self.working_dir)
        values.extend(p for p in (self.stdout_path, self.stderr_path) if p is not None)
        if "$(" in self.on_error:
            values.append(self.on_error)
        return values


ArtifactArchive = Literal["tgz", "none"]


@dataclass
class ArtifactSpec:
    """An Argo artifact of a task: a file or directory at `path` (a container path) that the
    task reads (`direction="input"`) or leaves for others (`"output"`).

    `location` is the artifact's source or destination as written (`{"s3": {"key": ...}}`,
    `{"raw": {"data": ...}}`, `{"http": {"url": ...}}`, ...; empty: passed by the caller, or
    stored at the default key). On a host the task's `argo-artifacts-in`/`-out` steps
    (`pipeline/artifacts.py`) do the work against the run's artifact repository; emitters that
    know artifacts compile these declarations instead of those steps.
    """

    name: str
    path: str
    direction: Literal["input", "output"]
    archive: ArtifactArchive = "tgz"
    optional: bool = False
    location: dict[str, Any] = field(default_factory=dict)
    mode: int | None = None
    source: Source = UNKNOWN
    archive_fields: dict[str, Any] = field(default_factory=dict)  # `archive` as written


IMAGE_DIGEST = "IMAGE_DIGEST"
IMAGE_URL = "IMAGE_URL"
BUILD_RESULTS = (IMAGE_DIGEST, IMAGE_URL)
"""The results of an image build: the pushed manifest's digest (`sha256:...`) and the image
reference with the first tag (`REPO:TAG`), as Tekton's catalog build tasks name them."""


@dataclass
class ImageBuild:
    """A task that builds a Dockerfile and pushes the image (`build-image:`), instead of steps.

    A host builds it with buildah (`execute/image_build.py`), a cluster with Kaniko
    (`pipeline/emit_kaniko.py`). `context` is a directory (`/workspace/...` and relative paths
    lie in the run's workspaces, as a step's working directory); `dockerfile` is relative to
    it. The image is pushed as `destination:TAG` for each of `tags`. Every text may hold
    `$(params.x)` and `$(workspaces.w.path)`.
    """

    destination: str
    context: str = "."
    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=lambda: ["latest"])
    build_args: dict[str, str] = field(default_factory=dict)
    target: str = ""
    cache: bool = False
    cache_repo: str = ""
    docker_config_secret: str = "docker-config"  # noqa: S105 (a Secret's name)
    """On a cluster: the Secret (`kubernetes.io/dockerconfigjson`) mounted at
    `/kaniko/.docker`, optional (IRSA and workload identity need none)."""
    source: Source = UNKNOWN

    def texts(self) -> list[str]:
        """Every value that may hold `$(...)` references."""
        values = [self.destination, self.context, self.dockerfile, self.target, self.cache_repo]
        return [*values, *self.tags, *self.build_args.values()]


ResourceAction = Literal["get", "create", "apply", "delete", "replace", "patch"]


@dataclass
class KubeResource:
    """A task that acts on one Kubernetes object (Argo's `resource` template), instead of steps.

    `manifest` (the object, or for `patch` the patch) and `flags` may hold `$(...)`
    references. The run waits until `success_condition` holds (all its comma-separated
    requirements) or `failure_condition` does (any of them): Kubernetes label-selector
    requirements over the object's JSON paths (`status.succeeded > 0`). `outputs` are results
    read from the object by a kubectl JSONPath (`{.metadata.name}`) or a jq path (`jq`), with
    `defaults` when there is no object (a delete).
    A host runs it through the API of the `kube:` settings' cluster (`execute/kube_resource`).
    """

    action: ResourceAction
    manifest: str = ""
    merge_strategy: Literal["strategic", "merge", "json"] = "strategic"
    success_condition: str = ""
    failure_condition: str = ""
    set_owner_reference: bool = False
    flags: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # result -> JSONPath
    jq: dict[str, str] = field(default_factory=dict)  # result -> jq path filter (`.a.b`)
    defaults: dict[str, str] = field(default_factory=dict)  # result -> its default
    source: Source = UNKNOWN

    def texts(self) -> list[str]:
        """Every value that may hold `$(...)` references."""
        return [self.manifest, *self.flags, self.success_condition, self.failure_condition]


@dataclass
class HttpHeader:
    """A request header: `value` as written, or read from a Kubernetes Secret (`secret`:
    (name, key)), which only a cluster has."""

    name: str
    value: str = ""
    secret: tuple[str, str] | None = None


@dataclass
class HttpCall:
    """An Argo `http` template: one request instead of steps (`steps` is empty), made by the
    executor itself (`execute/http_call.py`), by Argo's agent on a cluster. Its one result is
    the response body (`outputs.result`); it succeeds on a 2xx status, or when
    `success_condition` (expr-lang over `request.*` and `response.statusCode/body/headers`)
    holds. Texts may hold `$(params.x)`; `body_bytes` is `bodyFrom.bytes` (base64)."""

    url: str
    method: str = ""  # as written; empty: GET
    headers: list[HttpHeader] = field(default_factory=list)
    body: str = ""
    body_bytes: str | None = None
    timeout_seconds: int | None = None  # None: Argo's default, 30 s
    success_condition: str = ""
    insecure_skip_verify: bool = False
    source: Source = UNKNOWN

    def texts(self) -> list[str]:
        """Every value that may hold `$(...)` references."""
        values = [self.url, self.method, self.body, self.success_condition]
        return [*values, *(h.value for h in self.headers)]


@dataclass
class TaskSpec:
    """A reusable task: a Tekton `Task`, an Argo container/script template, a Prow pod spec."""

    name: str
    steps: list[Step]
    params: list[ParamSpec] = field(default_factory=list)
    results: list[ResultSpec] = field(default_factory=list)
    workspaces: list[WorkspaceDecl] = field(default_factory=list)
    description: str = ""
    source: Source = UNKNOWN
    artifacts: list[ArtifactSpec] = field(default_factory=list)  # Argo artifacts, in and out
    sidecars: list[Step] = field(default_factory=list)
    """Processes that run beside the steps and are stopped (SIGTERM, then SIGKILL) once the
    last step ends (Argo and Tekton `sidecars`)."""
    cluster: dict[str, Any] = field(default_factory=dict)
    """Pod-level fields of an Argo template that only a cluster acts on (`podSpecPatch`,
    `nodeSelector`, `memoize`, `synchronization`, ...), as written (Argo's own `{{...}}` tags
    included): carried to the emitters, noted once by a host run."""
    deadline_params: dict[str, str] = field(default_factory=dict)
    """An Argo deadline given by an input param (`timeout` / `activeDeadlineSeconds` -> the
    param): each call's `PipelineTask.timeout` holds its value; the Argo emitter writes it back."""
    empty_dirs: list[str] = field(default_factory=list)
    """Workspaces that are the task's own emptyDir (Argo template `volumes`): bound by no
    pipeline workspace, fresh for each run of the task."""
    global_names: dict[str, str] = field(default_factory=dict)
    """Results an Argo template exports as workflow outputs (result -> `globalName`)."""
    daemon: bool = False
    """An Argo daemon (`daemon: true`): a service that runs in the background from when it is
    ready (its step's `readinessProbe` in `Step.cluster`, else once started) until the phase
    that started it ends; the task counts as Succeeded once ready, and `$(tasks.T.ip)` is its
    address (`execute/daemons.py`)."""
    build: ImageBuild | None = None
    """An image build run instead of steps (`steps` is empty); its results are
    `BUILD_RESULTS`."""
    http: HttpCall | None = None
    """An HTTP request made instead of steps (`steps` is empty): Argo's `http` template."""
    resource: KubeResource | None = None
    """A Kubernetes object acted on instead of steps (`steps` is empty)."""


@dataclass
class WhenExpression:
    """`input` is an expression (e.g. `$(params.env)`), compared after substitution.

    With `govaluate`, `input` is an Argo `when` (a govaluate expression over `$(...)`s, see
    `govaluate_guard`), substituted as text and then evaluated to `true` or `false`; the
    guard holds when that is in `values` (`in ["true"]`).
    """

    input: str
    operator: WhenOperator
    values: list[str]
    source: Source = UNKNOWN
    govaluate: bool = False
    cel: str = ""  # a Tekton CEL `when` this govaluate guard was translated from


def govaluate_guard(text: str, source: Source = UNKNOWN) -> WhenExpression:
    """An Argo `when` (govaluate text whose tags are IR references) as an IR guard."""
    return WhenExpression(text, "in", ["true"], source, govaluate=True)


@dataclass
class Matrix:
    """Fan-out: the cross product of `params`, plus each `include` combination as one more run.

    A param's values are a literal list, or one expression string resolved at run time to an
    array (`$(tasks.gen.results.items[*])`; a JSON array text also works, for Argo `withParam`).
    """

    params: dict[str, list[str] | str] = field(default_factory=dict)
    include: list[dict[str, str]] = field(default_factory=list)
    # One more run per item of a list known at run time (Argo's `withParam` over JSON objects):
    # `items` resolves to a JSON list; each of `item_params` is a text where `$(item)` and
    # `$(item.key)` stand for the item and its fields.
    items: str | None = None
    item_params: dict[str, str] = field(default_factory=dict)
    # Guards of each `include` entry, by its index (Tekton's `matrix.include[].when`): an entry
    # whose guards are false runs no instance; an index absent has none.
    include_when: dict[int, list[WhenExpression]] = field(default_factory=dict)


RetryPolicy = Literal["Always", "OnFailure", "OnError", "OnTransientError"]


@dataclass(frozen=True)
class RetryStrategy:
    """How a task spends its `retries` (Argo's `retryStrategy` beyond `limit`).

    `policy`: which failed attempts are retried (on a host, OnFailure and Always retry any
    failure; OnError and OnTransientError only a step that could not start). Before retry `n`
    (1-based) the task waits `backoff * factor**(n-1)` seconds, at most `cap`; no retry starts
    once `max_duration` seconds have passed since the first attempt started. With `expression`
    (Argo's expr-lang over `lastRetry.exitCode`, `.status`, `.duration`, `.message`, all text),
    a failed attempt is retried only while it is true (`execute/retry.py`).
    """

    policy: RetryPolicy = "Always"
    backoff: float | None = None
    factor: float = 1.0
    max_duration: float | None = None
    cap: float | None = None
    expression: str | None = None


NODE_FACTS = ("ip", "startedAt", "finishedAt", "hostNodeName", "phase")
"""`$(tasks.T.<fact>)` of a DAG task that ran before the reader (Argo's node facts): a daemon's
address, its times, the host it ran on, and its Argo phase (Succeeded, Failed, Error, Skipped
or Omitted: Argo's `{{tasks.T.status}}` outside the exit handler, where Tekton's
`$(tasks.T.status)` is not defined)."""


@dataclass
class PipelineTask:
    """A node of the DAG: a task (by reference or inline) with its bindings and guards."""

    name: str
    task_ref: str | None = None
    task_spec: TaskSpec | None = None
    params: dict[str, ParamValue] = field(default_factory=dict)
    run_after: list[str] = field(default_factory=list)
    when: list[WhenExpression] = field(default_factory=list)
    retries: int = 0
    timeout: float | None = None  # seconds, per attempt
    matrix: Matrix | None = None
    workspaces: dict[str, str] = field(default_factory=dict)  # task workspace -> pipeline workspace
    source: Source = UNKNOWN
    workspace_sub_paths: dict[str, str] = field(default_factory=dict)
    """Task workspace -> the directory inside the pipeline workspace it is bound to (`subPath`,
    may hold `$(params.x)`)."""

    # When the task runs, over upstream outcomes (`predicates.py`); None: after every task it
    # waits for Succeeded or was guarded off by its own `when` (Tekton's `runAfter`). The tasks
    # a predicate reads are also in `run_after`.
    depends: Predicate | None = None
    # Outcomes of this task that neither fail the run nor stop its dependents (Argo continueOn).
    continue_on: ContinueOn = NO_CONTINUE

    # A sub-graph call: the `Pipeline.graph_library` entry this node runs instead of a task
    # (its `params` bind the graph's params, its results are the graph's results, its
    # `workspaces` map the graph's onto this pipeline's; one it leaves unbound is this
    # pipeline's workspace of the same name, if any, as an Argo template sees the workflow's).
    graph_ref: str | None = None
    retry: RetryStrategy | None = None  # how `retries` are spent; None: at once, on any failure
    # Guards of a matrix task evaluated per instance, where `$(params.p)` is the instance's
    # value of its matrix param `p` (Argo's `when` over `{{item}}`).
    item_when: list[WhenExpression] = field(default_factory=list)
    # A lifecycle hook (Argo `hooks.<name>` other than `exit`): `trigger` is an expression
    # (`$(= ...)`) over live statuses, where a task that has started reads "Running" and
    # `$(tasks.status)` reads "Running" until the run ends. The task starts at most once, when
    # it first holds while `hook_of` (None: the whole run) has not ended or as it ends; else it
    # is Skipped. The dependents of `hook_of` also wait for its hooks (`execute/hooks.py`).
    trigger: str | None = None
    hook_of: str | None = None
    # An Argo step (of a `steps` template): skipped or omitted, it fails nothing on a failure an
    # earlier step continues on, as a step group fails only on a step that failed and does not
    # continue (Argo's steps.go); a DAG task so kept from running inherits that failure (dag.go).
    step_rule: bool = False


@dataclass
class TaskRunSettings:
    """How a cluster runs a task's pod: Tekton's `taskRunTemplate` and `taskRunSpecs` entries.

    Plain data (Kubernetes objects as parsed YAML) carried to the emitters; none of it changes
    what a step does on a host, where the run log says so once.
    """

    service_account: str = ""
    pod_template: dict[str, Any] = field(default_factory=dict)
    compute_resources: dict[str, Any] = field(default_factory=dict)
    step_specs: list[dict[str, Any]] = field(default_factory=list)  # {name, computeResources}
    sidecar_specs: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # labels, annotations
    source: Source = UNKNOWN
    timeout: float | None = None  # a `taskRunSpecs` timeout: the task's, on a host too

    def fields(self) -> list[str]:
        """The Tekton field names that are set, for messages."""
        named = [
            ("serviceAccountName", self.service_account),
            ("podTemplate", self.pod_template),
            ("computeResources", self.compute_resources),
            ("stepSpecs", self.step_specs),
            ("sidecarSpecs", self.sidecar_specs),
            ("metadata", self.metadata),
        ]
        return [name for name, value in named if value]


@dataclass(frozen=True)
class LeaseNeed:
    """A resource the pipeline leases before its first task (its `foredeck.dev/leases`
    annotation, `pipeline/leases.py`), as a job's `leases:` entry is."""

    type: str
    count: int = 1
    ttl: float | None = None
    source: Source = UNKNOWN


@dataclass
class Pipeline:
    """A DAG of tasks plus `finally` tasks that always run once the DAG is done.

    `task_library` holds the `TaskSpec`s that `task_ref`s point to; after validation every
    `task_ref` resolves there. `timeout` bounds the whole run (Tekton's `timeouts.pipeline`);
    `tasks_timeout` and `finally_timeout` bound the two phases.

    `failure_policy` is what a failed DAG task does to the rest. "stop" (Tekton): no new task
    starts, and the run fails. "continue" (Argo): tasks keep starting as their predicates allow,
    and the run fails when a failure reaches a leaf of the DAG, that is a leaf task failed, or
    was kept from running by a failure upstream, and does not continue on that failure.
    """

    name: str
    tasks: list[PipelineTask]
    finally_tasks: list[PipelineTask] = field(default_factory=list)
    params: list[ParamSpec] = field(default_factory=list)
    workspaces: list[WorkspaceDecl] = field(default_factory=list)
    results: list[PipelineResult] = field(default_factory=list)
    task_library: dict[str, TaskSpec] = field(default_factory=dict)
    timeout: float | None = None
    tasks_timeout: float | None = None
    finally_timeout: float | None = None
    description: str = ""
    source: Source = UNKNOWN
    task_run_template: TaskRunSettings | None = None
    task_run_specs: dict[str, TaskRunSettings] = field(default_factory=dict)  # by task name
    ignored_params: list[str] = field(default_factory=list)
    """Run params the pipeline does not declare: Tekton ignores them, and so does a run."""
    config_map_workspaces: dict[str, ConfigMapVolume] = field(default_factory=dict)
    """Workspaces the PipelineRun binds to a ConfigMap, by workspace name."""
    unbound_workspaces: set[str] = field(default_factory=set)
    """Optional workspaces the PipelineRun binds nothing to: `$(workspaces.W.bound)` is false
    in the tasks given them, as in Tekton (unless `--workspace` binds one)."""
    failure_policy: FailurePolicy = "stop"
    # Sub-graphs that `graph_ref` nodes call, shared by the root and every graph in it (a
    # graph may call itself: recursion is a reference, expanded at run time up to a depth).
    graph_library: dict[str, Pipeline] = field(default_factory=dict)
    # Argo's `artifactRepositoryRef` as written (which configured repository a cluster uses;
    # a host run uses its own): kept for the Argo emitter.
    artifact_repository_ref: dict[str, Any] = field(default_factory=dict)
    parallelism: int | None = None
    """At most this many of the DAG's tasks (each matrix instance and sub-graph call counts
    one) run at once: Argo's `parallelism` of the dag/steps template the graph is."""
    pod_limit: int | None = None
    """At most this many task attempts at once in the whole run: Argo's `spec.parallelism`."""
    cluster: dict[str, Any] = field(default_factory=dict)
    """Workflow-level fields that only a cluster acts on (Argo `podSpecPatch`,
    `synchronization`, `nodeSelector`, ...), as written: carried to
    the emitters, noted once by a host run."""
    leases: list[LeaseNeed] = field(default_factory=list)
    """What the controller leases for a job running it, besides the job's own `leases:`."""

    def all_tasks(self) -> list[PipelineTask]:
        return [*self.tasks, *self.finally_tasks]

    def spec_of(self, task: PipelineTask) -> TaskSpec:
        """The task's spec, inline or by reference (call after validation); for a sub-graph
        call, a step-less spec with the graph's params and results (its interface)."""
        if task.graph_ref is not None:
            return self.graph_interface(task)
        if task.task_spec is not None:
            return task.task_spec
        if task.task_ref is None or task.task_ref not in self.task_library:
            message = f"task {task.name!r}: unknown taskRef {task.task_ref!r}"
            raise PipelineError(task.source, message)
        return self.task_library[task.task_ref]

    def graph_of(self, task: PipelineTask) -> Pipeline:
        """The sub-graph a `graph_ref` node calls."""
        if task.graph_ref is None or task.graph_ref not in self.graph_library:
            message = f"task {task.name!r}: unknown sub-graph {task.graph_ref!r}"
            raise PipelineError(task.source, message)
        return self.graph_library[task.graph_ref]

    def graph_interface(self, task: PipelineTask) -> TaskSpec:
        graph = self.graph_of(task)
        results = [ResultSpec(r.name, source=r.source) for r in graph.results]
        workspaces = list(graph.workspaces)
        return TaskSpec(
            graph.name, [], list(graph.params), results, workspaces, source=graph.source
        )


@dataclass
class PipelineRunSpec:
    """What a run supplies: a pipeline plus param values (a Tekton `PipelineRun`, or `-p k=v`).

    `cluster_objects` are the other Kubernetes objects of the input, in input order;
    `config_maps` the `data` of its ConfigMaps by name (what `configMapKeyRef`s read locally).
    """

    pipeline: Pipeline
    params: dict[str, ParamValue] = field(default_factory=dict)
    name: str = ""
    cluster_objects: list[ClusterObject] = field(default_factory=list)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)


def needs_entrypoint(step: Step, why: str = "") -> str:
    """Why a host cannot run `step`: with no command and no script, it runs what its image's
    entrypoint says, which only a container runtime knows (clusters run it as written).
    `why`: why this run put it on the host."""
    image = f"image {step.image!r}" if step.image else "its image"
    return (
        f"no command or script: it runs the entrypoint of {image}, which needs a container"
        " runtime; run it with --runtime podman or on a cluster (--emit argo|tekton): the host"
        " cannot" + (f" ({why})" if why else "")
    )
