"""Argo Workflows front end: `Workflow`, `WorkflowTemplate` and `CronWorkflow` into the IR.

Argo nests templates (a DAG task may call a steps template that calls a DAG ...). Nested
dag/steps templates are inlined where they can be: their tasks are named `<caller>-<task>`,
their roots run after the caller's dependencies and the caller's dependents run after their
leaves. A call that inlining cannot express (a recursive template, a loop over a dag/steps
template, a step with an exit hook) is one node calling a sub-graph of the pipeline's
`graph_library`, which the executor expands at run time (`graphs.py`, `hooks.py`).
Container, script and containerSet templates become `TaskSpec`s in the task library, one per
template, so a template that many tasks call is one spec.

Argo's `{{...}}` tags are translated into the IR's `$(...)` (see `docs/argo-tekton.md`). An Argo
output parameter read from a file (`valueFrom.path`) becomes a task result; since IR steps write
results to `$(results.R.path)`, the task gets one more step, `argo-outputs`
(`pipeline/collector.py`), that copies each file there. The emitters recognise that step and turn
it back into `valueFrom.path` (Argo) or share the files through an `emptyDir` (Tekton).

Whatever the IR cannot express is refused with a `PipelineError` naming the field and its
`file:line`; nothing is silently dropped except fields that only steer Kubernetes scheduling
(`fields.IGNORED_*`, listed in the docs).

Modules, in the order a document flows through them:

- `documents`: which Workflow runs, with which WorkflowTemplates (`load_argo`);
- `workflow`: the spec: arguments, volumes, the entrypoint, the `onExit` handler (`finally`);
- `dag`: dag/steps templates inlined into the flat DAG; `depends` orders a dag's tasks,
  `when` turns conditions into guards, `loops` turns `withItems`/`withParam`/`withSequence`
  into matrices, `targets` reads a dag's `target`; `graphs` and `hooks` build sub-graphs;
- `leaf`: container/script/containerSet templates into library `TaskSpec`s; `outputs` reads
  output parameters of both kinds of template;
- `tags`: `{{...}}` translation; `templates`, `fields`: reading templates and typed fields;
  `state`: what the conversion has built so far.

What needs a richer IR (results from stdout, running after a failure) is refused in `tags`
and `depends` / `when`.
"""

from foredeck.pipeline.argo.documents import load_argo

__all__ = ["load_argo"]
