"""Tekton v1 front end: `Task`, `Pipeline` and `PipelineRun` documents into the IR.

Strict on purpose: a field that would change what runs but that the IR cannot express (sidecars,
volumes, `onError`, remote resolution, ...) is an error naming the field and its file:line rather
than being silently dropped, so a pipeline never runs differently here than on a cluster. Purely
descriptive fields (metadata, description, displayName) are accepted.

Modules: `documents` (by kind), `tasks` (Task, steps), `pipelines` (Pipeline, pipeline tasks,
propagation), `runs` (PipelineRun), `fields` (typed reads). Cross-document concerns (which
pipeline runs, params from the command line) live in `load.py`; semantic checks that every front
end shares live in `validate.py`.
"""

from foredeck.pipeline.tekton.child_pipelines import link_pipelines
from foredeck.pipeline.tekton.documents import API_VERSION, KINDS, TektonDocuments, parse_documents
from foredeck.pipeline.tekton.runs import TektonRun, apply_run
from foredeck.pipeline.tekton.step_actions import STEP_ACTION_APIS
from foredeck.pipeline.tekton.task_runs import TektonTaskRun

__all__ = [
    "API_VERSION",
    "KINDS",
    "STEP_ACTION_APIS",
    "TektonDocuments",
    "TektonRun",
    "TektonTaskRun",
    "apply_run",
    "link_pipelines",
    "parse_documents",
]
