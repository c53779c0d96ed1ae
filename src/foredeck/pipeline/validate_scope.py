"""What a pipeline-level value (a task's params, `when`, matrix, a pipeline result) may refer to.

Unlike a step, a pipeline task sees the pipeline's params and workspaces and the results of
tasks that have finished before it: the scope depends on the dependency graph and on whether the
value belongs to a DAG task, a finally task or a pipeline result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from foredeck.pipeline import workflow_vars
from foredeck.pipeline.dependency_graph import upstream
from foredeck.pipeline.expressions import Reference, references
from foredeck.pipeline.model import NODE_FACTS, ParamValue, Pipeline, PipelineTask
from foredeck.types import PipelineError, Source

_PIPELINE_CONTEXT = frozenset(
    {
        "context.pipelineRun.name",
        "context.pipelineRun.namespace",
        "context.pipelineRun.uid",
        "context.pipeline.name",
        "context.pipelineTask.retries",
    }
)
_TASK_CONTEXT = frozenset(
    {
        "context.taskRun.name",
        "context.taskRun.namespace",
        "context.taskRun.uid",
        "context.task.name",
        "context.task.retry-count",
        *_PIPELINE_CONTEXT,
    }
)
TEKTON_CONTEXT = _TASK_CONTEXT
"""Every `$(context.*)` Tekton documents; it leaves any other `$(context.…)` as written."""


@dataclass(frozen=True)
class _Site:
    """Where a pipeline-level value is written: for an error's position and text, and for what
    it may refer to (`task` is None for pipeline results)."""

    source: Source
    what: str
    task: PipelineTask | None
    in_finally: bool


class Scope:
    """What a pipeline-level value may refer to, and from which task."""

    def __init__(self, pipeline: Pipeline, graph: Mapping[str, set[str]]) -> None:
        self.pipeline = pipeline
        self.graph = graph
        self.params = {p.name for p in pipeline.params}
        self.workspaces = {w.name for w in pipeline.workspaces}
        self.dag = {t.name: t for t in pipeline.tasks}
        self.final = {t.name: t for t in pipeline.finally_tasks}

    def check(
        self,
        value: ParamValue | None,
        source: Source,
        what: str,
        task: PipelineTask | None,
        in_finally: bool,
    ) -> None:
        """`task` is None for pipeline results (which may read any task's results)."""
        site = _Site(source, what, task, in_finally)
        for ref in references(value):
            self._check_ref(ref, site)

    def _check_ref(self, ref: Reference, site: _Site) -> None:
        source, what = site.source, site.what
        parts = ref.parts
        root = parts[0]
        if root == "params":
            if len(parts) < 2 or parts[1] not in self.params:
                raise PipelineError(source, f"{what}: {ref.text} refers to an undefined param")
        elif root == "workspaces":
            if len(parts) != 3 or parts[2] != "bound":
                raise PipelineError(source, f"{what}: unsupported reference {ref.text}")
            if parts[1] not in self.workspaces:
                raise PipelineError(
                    source, f"{what}: {ref.text} refers to undeclared workspace {parts[1]!r}"
                )
        elif root == "context":
            if ref.path not in _PIPELINE_CONTEXT and ref.path not in workflow_vars.CONTEXT:
                raise PipelineError(source, f"{what}: unknown variable {ref.text}")
        elif root == "tasks":
            self._check_task_ref(ref, site)

    def _check_task_ref(self, ref: Reference, site: _Site) -> None:
        source, what, task, in_finally = site.source, site.what, site.task, site.in_finally
        parts = ref.parts
        if len(parts) == 2 and parts[1] == "status":
            if not in_finally:
                raise PipelineError(source, f"{what}: {ref.text} is only allowed in finally tasks")
            return
        if len(parts) < 3:
            raise PipelineError(source, f"{what}: unsupported reference {ref.text}")
        target, kind = parts[1], parts[2]
        if kind in ("status", "reason") and len(parts) == 3:
            if not in_finally:
                raise PipelineError(source, f"{what}: {ref.text} is only allowed in finally tasks")
            if target not in self.dag:
                raise PipelineError(
                    source, f"{what}: {ref.text} refers to {target!r}, which is not a DAG task"
                )
            return
        if kind == "matrix":
            self._check_matrix_ref(ref, site)
            return
        if kind in NODE_FACTS and len(parts) == 3:
            self._check_fact_ref(ref, site)
            return
        if kind in ("inputs", "outputs") and len(parts) == 4:  # Tekton artifacts (TEP-0147)
            self._check_artifact_ref(ref, site)
            return
        if kind != "results" or len(parts) < 4:
            raise PipelineError(source, f"{what}: unsupported reference {ref.text}")
        result = parts[3]
        if target not in self.dag and target not in self.final:
            raise PipelineError(source, f"{what}: {ref.text} refers to unknown task {target!r}")
        referenced = self.dag.get(target) or self.final[target]
        spec = self.pipeline.spec_of(referenced)
        declared = {r.name: r for r in spec.results}
        if result not in declared:
            raise PipelineError(
                source,
                f"{what}: {ref.text}: task {target!r} declares no result {result!r}",
            )
        if task is None:
            return
        if in_finally:
            if target not in self.dag:
                raise PipelineError(
                    source,
                    f"{what}: {ref.text}: finally task {target!r} is not upstream"
                    " (finally tasks may only read DAG task results)",
                )
            return
        if target not in self.dag or target not in upstream(self.graph, task.name):
            raise PipelineError(
                source,
                f"{what}: {ref.text}: task {target!r} is not upstream of {task.name!r}",
            )
        if ref.star and declared[result].type == "string" and referenced.matrix is None:
            raise PipelineError(source, f"{what}: {ref.text}: result {result!r} is not an array")

    def _check_fact_ref(self, ref: Reference, site: _Site) -> None:
        """`$(tasks.T.ip)` (a daemon's address), `.startedAt`, `.finishedAt`, `.hostNodeName`,
        `.phase` of DAG task T, which runs before the reader (Argo's node facts)."""
        source, what, task = site.source, site.what, site.task
        target = self.dag.get(ref.parts[1])
        if target is None:
            raise PipelineError(source, f"{what}: {ref.text}: not a DAG task")
        if ref.parts[2] == "ip" and not self.pipeline.spec_of(target).daemon:
            raise PipelineError(source, f"{what}: {ref.text}: only a daemon DAG task has an ip")
        if task is not None and target.name not in upstream(self.graph, task.name):
            raise PipelineError(
                source, f"{what}: {ref.text}: task {target.name!r} is not upstream of {task.name!r}"
            )

    def _check_artifact_ref(self, ref: Reference, site: _Site) -> None:
        """`$(tasks.T.outputs.NAME)` / `inputs`: artifacts an upstream task's steps wrote."""
        target = ref.parts[1]
        if target not in self.dag and target not in self.final:
            message = f"{site.what}: {ref.text} refers to unknown task {target!r}"
            raise PipelineError(site.source, message)
        task = site.task
        if task is None or site.in_finally:
            return
        if target not in self.dag or target not in upstream(self.graph, task.name):
            message = f"{site.what}: {ref.text}: task {target!r} is not upstream of {task.name!r}"
            raise PipelineError(site.source, message)

    def _check_matrix_ref(self, ref: Reference, site: _Site) -> None:
        """`$(tasks.T.matrix.length)` and `$(tasks.T.matrix.R.length)` of a matrix task."""
        parts, source, what = ref.parts, site.source, site.what
        target = self.dag.get(parts[1])
        if parts[-1] != "length" or len(parts) not in (4, 5):
            raise PipelineError(source, f"{what}: unsupported reference {ref.text}")
        if target is None or target.matrix is None:
            raise PipelineError(source, f"{what}: {ref.text}: {parts[1]!r} is not a matrix task")
        if len(parts) == 5:
            results = {r.name for r in self.pipeline.spec_of(target).results}
            if parts[3] not in results:
                raise PipelineError(
                    source, f"{what}: {ref.text}: task {parts[1]!r} declares no result {parts[3]!r}"
                )
        if (
            site.task is not None
            and not site.in_finally
            and target.name not in upstream(self.graph, site.task.name)
        ):
            raise PipelineError(source, f"{what}: {ref.text}: task {parts[1]!r} is not upstream")

    def lone_type(self, value: ParamValue) -> str | None:
        """The type of a value that is one whole reference to a param or a task result (a
        matrix task's results are arrays); None for anything else."""
        refs = references(value)
        if not isinstance(value, str) or len(refs) != 1 or refs[0].index is not None:
            return None
        ref = refs[0]
        if value.strip() != ref.text:
            return None
        parts = ref.parts
        if parts[0] == "params" and len(parts) == 2:
            return next((p.type for p in self.pipeline.params if p.name == parts[1]), None)
        if parts[0] == "tasks" and len(parts) == 4 and parts[2] == "results":
            task = self.dag.get(parts[1]) or self.final.get(parts[1])
            if task is None:
                return None
            if task.matrix is not None:
                return "array"
            results = self.pipeline.spec_of(task).results
            return next((r.type for r in results if r.name == parts[3]), None)
        return None
