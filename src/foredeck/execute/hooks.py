"""Lifecycle hooks of a phase: tasks that start when an expression over live statuses holds.

Argo evaluates a hook's `expression` each time it reconciles the workflow and runs the hook's
template once (its node name is fixed) the first time it holds; a template-level hook is
evaluated while its step or dag task is being processed, a workflow-level hook while the
workflow runs (`workflow/controller/hooks.go`). On a host the statuses change at known events,
so the hooks of a phase are evaluated after each: a task started (it reads "Running") or
settled. A hook whose task has settled without the expression holding, or, for a
workflow-level hook, whose phase has nothing left to run, is Skipped (as a false `when`: it
fails nothing). The dependents of a hooked task wait for its hooks, as Argo completes a step
only once its hooks have.
"""

from __future__ import annotations

from collections.abc import Callable, Set

from foredeck.execute import lookups
from foredeck.execute.outcomes import outcome
from foredeck.execute.runstate import TaskRecord
from foredeck.pipeline.expressions import Lookup, SubstitutionError
from foredeck.pipeline.model import ParamValue, PipelineTask
from foredeck.types import PipelineError


def hook_edges(tasks: list[PipelineTask], graph: dict[str, set[str]]) -> None:
    """Make the dependents of each hooked task wait for its hooks too (edits `graph`)."""
    for hook in tasks:
        if hook.trigger is None or hook.hook_of is None:
            continue
        for name, parents in graph.items():
            if hook.hook_of in parents and name != hook.name:
                parents.add(hook.name)


class HookWatch:
    """The hooks not yet started or settled of one phase, and when each starts."""

    def __init__(self, tasks: list[PipelineTask], lookup: Lookup | None) -> None:
        self.pending = {t.name: t for t in tasks if t.trigger is not None}
        self.names = frozenset(self.pending)  # every hook of the phase, started or not
        self.lookup = lookup

    def __bool__(self) -> bool:
        return bool(self.pending)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def due(
        self,
        records: dict[str, TaskRecord],
        started: Callable[[str], bool],
        idle: bool,
        guarded_off: Set[str] = frozenset(),
    ) -> tuple[list[PipelineTask], list[tuple[PipelineTask, str]]]:
        """(hooks to start now, hooks to settle Skipped with why): `started(name)` says whether
        a task of the phase has started; `idle`: nothing but hooks is left to run; a settled
        task reads its Argo phase (`outcomes.outcome`: Error for Errored, Skipped or Omitted
        after `guarded_off`)."""
        start: list[PipelineTask] = []
        skip: list[tuple[PipelineTask, str]] = []
        for name, hook in list(self.pending.items()):
            target = records.get(hook.hook_of) if hook.hook_of is not None else None
            over = target.done if target is not None else idle
            try:
                holds, problem = self._holds(hook, records, started, guarded_off), ""
            except (SubstitutionError, PipelineError) as exc:  # e.g. an output not there yet
                holds, problem = False, f": {exc}"
            if holds:
                del self.pending[name]
                start.append(hook)
            elif over:
                del self.pending[name]
                watched = f"task {hook.hook_of!r}" if hook.hook_of else "the run"
                skip.append((hook, f"its expression did not hold while {watched} ran{problem}"))
        return start, skip

    def _holds(
        self,
        hook: PipelineTask,
        records: dict[str, TaskRecord],
        started: Callable[[str], bool],
        guarded_off: Set[str],
    ) -> bool:
        assert hook.trigger is not None

        def lookup(path: str) -> ParamValue | None:
            root, _, rest = path.partition(".")
            if root == "tasks" and rest == "status":
                return "Running"  # a hook runs while the run does
            name, _, attribute = rest.partition(".")
            if root == "tasks" and attribute == "status" and name in records:
                record = records[name]
                if record.done:
                    phase = outcome(record, guarded_off) or record.status
                    return "Error" if phase == "Errored" else phase
                return "Running" if started(name) else "Pending"
            return self.lookup(path) if self.lookup is not None else None

        return lookups.text(hook.trigger, lookup).strip() == "true"
