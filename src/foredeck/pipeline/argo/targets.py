"""A dag's `target`: run only the named tasks and what they depend on.

Argo splits `target` on spaces. A literal target prunes the dag when it is read. A target
given by a parameter (`{{workflow.parameters.target}}`, as Argo's own example does) is only
known at run time: each task gets a guard "the target names one of the tasks that need me",
which holds for one name; several names at run time would need the expression evaluator, and
such a value then runs none of the tasks rather than a wrong set.
"""

from __future__ import annotations

from collections.abc import Mapping

from foredeck.pipeline.argo.fields import at, fail, scalar
from foredeck.pipeline.argo.state import Scope, Workflow
from foredeck.pipeline.argo.tags import call_text
from foredeck.pipeline.model import WhenExpression
from foredeck.yamlsrc import SourceMap


def _closure(names: list[str], needs: Mapping[str, list[str]]) -> set[str]:
    """The tasks `names` need, transitively, and themselves."""
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(needs.get(name, ()))
    return seen


def select(
    w: Workflow, dag: SourceMap, scope: Scope, needs: Mapping[str, list[str]], where: str
) -> tuple[set[str], dict[str, WhenExpression]]:
    """(the tasks to build, a guard per task) for the dag's `target` (all, none: no target)."""
    if "target" not in dag:
        return set(needs), {}
    source = at(dag, "target")
    text = scalar(dag["target"], source, f"{where} dag.target")
    if "{{" not in text:
        names = text.split()
        unknown = [n for n in names if n not in needs]
        if unknown or not names:
            raise fail(source, f"{where} dag.target: no task named {(unknown or [''])[0]!r}")
        return _closure(names, needs), {}
    value = call_text(text, scope, w.params, source, f"{where} dag.target")
    guards: dict[str, WhenExpression] = {}
    for task in needs:
        wanted_by = sorted(t for t in needs if task in _closure([t], needs))
        guards[task] = WhenExpression(value, "in", wanted_by, source)
    return set(needs), guards
