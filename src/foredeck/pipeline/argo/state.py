"""What the conversion of one workflow has built so far, shared by every part of the front end.

`Workflow` collects the IR pieces (params, workspaces, the task library, the flat DAG); `Scope`
is the dag/steps template being inlined and `Node` what each of its tasks became; `Leaf` is a
container/script/containerSet template converted once into a library spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from foredeck.pipeline.argo_manifest import unique_name
from foredeck.pipeline.model import (
    ParamSpec,
    Pipeline,
    PipelineTask,
    RetryStrategy,
    TaskSpec,
    WhenExpression,
    WorkspaceDecl,
)
from foredeck.pipeline.predicates import Predicate
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap

MAX_DEPTH = 20
"""How deep inlined dag/steps templates may nest (a recursive template is a sub-graph instead,
`graphs.py`)."""


@dataclass
class Collection:
    """The templates of one document; `prefix` keeps spec names unique across documents."""

    templates: dict[str, SourceMap]
    prefix: str
    source: Source


@dataclass
class Node:
    """What a DAG task / step of the template being expanded became in the IR."""

    task: str | None  # the IR task, for a leaf
    leaves: list[str]
    outputs: dict[str, str]
    whens: list[WhenExpression]
    looped: bool = False
    stdout: str | None = None  # `outputs.result`, as an IR expression (leaf calls)
    exit_code: str | None = None  # `exitCode` / `outputs.exitCode`


@dataclass
class Scope:
    """The dag/steps template being expanded: its inputs and the nodes created so far."""

    kind: str  # "tasks" (dag) or "steps"
    inputs: dict[str, str]
    nodes: dict[str, Node] = field(default_factory=dict)
    finally_: bool = False
    exported: dict[str, str] | None = None  # `Workflow.exported`, for `{{workflow.outputs...}}`
    known: dict[str, str] | None = None  # `Workflow.known`
    current: str | None = None  # the step/task being translated (`{{steps.name}}`)
    starting: bool = False  # whether it starts with the workflow (`metadata.pick`)


@dataclass(frozen=True)
class Frame:
    """Where a template call is inlined: the IR name prefix of its tasks, the scope of the
    template it is written in, what it runs after, the guards it inherits, and the collection
    its `template:` names resolve in."""

    prefix: str
    scope: Scope
    deps: list[str]
    whens: list[WhenExpression]
    coll: Collection
    depends: Predicate | None = None  # the predicate of the call, over IR tasks


class TimeoutParam(NamedTuple):
    """A leaf's `timeout` / `activeDeadlineSeconds` given by input `param`, known per call."""

    param: str
    key: str  # `timeout` (a Go duration) or `activeDeadlineSeconds` (seconds)
    source: Source
    where: str


CALL_NODE = "\x00node.name"
"""A leaf binding each call sets to its Argo node name (`dag.leaf_task`)."""
CALL_NAME = "\x00call.name"
"""A leaf binding each call sets to its own step/task name (`{{steps.name}}`, `{{tasks.name}}`)."""


@dataclass
class Leaf:
    """A container/script/containerSet template converted once into a library spec."""

    key: str
    spec: TaskSpec
    retries: int
    timeout: float | None
    bindings: dict[str, str]  # implicit task param -> call-site value
    outputs: set[str]
    workspaces: dict[str, str]  # task workspace -> pipeline workspace (volume)
    stdout: str | None = None  # the result holding the main container's stdout
    exit_code: str | None = None  # the result holding its exit code
    timeout_params: tuple[TimeoutParam, ...] = ()
    start_bindings: dict[str, str] = field(default_factory=dict)
    """Implicit params whose value differs for a call the workflow starts with
    (`{{workflow.labels}}`, `metadata.pick`): their value then."""


@dataclass
class Workflow:
    """One workflow's conversion: its spec, its template collections and the IR built so far."""

    spec: SourceMap
    main: Collection
    wfts: dict[str, Collection]  # WorkflowTemplates by name, for `templateRef`
    params: dict[str, ParamSpec] = field(default_factory=dict)
    workspaces: dict[str, WorkspaceDecl] = field(default_factory=dict)
    library: dict[str, TaskSpec] = field(default_factory=dict)
    leaves: dict[tuple[int, str], Leaf] = field(default_factory=dict)
    tasks: list[PipelineTask] = field(default_factory=list)
    finally_tasks: list[PipelineTask] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    default_retries: int = 0
    default_retry: RetryStrategy | None = None
    depth: int = 0
    graph_depth: int = 0  # > 0 while a sub-graph is built (its nodes count as started later)
    # Sub-graphs (dag/steps templates kept as graphs: recursive or looped calls, `graphs.py`).
    graphs: dict[str, Pipeline] = field(default_factory=dict)
    graph_keys: dict[tuple[int, str], str] = field(default_factory=dict)
    recursive: dict[tuple[int, str], bool] = field(default_factory=dict)
    graph_inputs: frozenset[str] = frozenset()
    exported: dict[str, str] = field(default_factory=dict)
    """Workflow outputs set so far (`globalName`): `parameters.G` / `artifacts.G` -> the IR
    reference of the task output that sets it (the last call, as Argo keeps the last value)."""
    """The params of the sub-graph being built: their values are text (JSON for a loop) that
    the caller passes, not the workflow's params of the same name."""

    known: dict[str, str] = field(default_factory=dict)
    """Workflow variables whose value the document fixes (`{{workflow.priority}}`,
    `{{workflow.labels.L}}`, ...): `workflow_vars.document_values`."""

    def spec_key(self, base: str) -> str:
        """A task library key for a new spec named after `base`."""
        return unique_name(base, self.library)
