"""Task results read inside an inline `taskSpec`'s steps (`$(tasks.gen.results.uid)`).

Tekton substitutes a pipeline task's whole embedded spec with the results of the tasks before
it (its `propagating_results_implicit_resultref` example), and runs the task after them. The IR
keeps steps in their task's scope, so each such result becomes a param of the embedded spec,
bound by the pipeline task to the result: the usual form, which validation, the executor's
ordering and every back end already read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

from foredeck.pipeline.expressions import references
from foredeck.pipeline.model import ParamSpec, Pipeline, Step, TaskSpec

_PREFIX = "result-"


def bind_result_refs(pipeline: Pipeline) -> None:
    """Make every string result a step of an inline taskSpec reads a param it is passed."""
    for task in pipeline.all_tasks():
        spec = task.task_spec
        if spec is None:
            continue
        texts = [text for step in spec.steps for text in step.texts()]
        refs = [
            ref
            for ref in references(texts)
            if len(ref.parts) == 4 and ref.parts[0] == "tasks" and ref.parts[2] == "results"
            if ref.index is None and not ref.star
        ]
        if not refs:
            continue
        names: dict[str, str] = {}  # the reference's text -> the param that carries it
        taken = {p.name for p in spec.params} | set(task.params)
        for ref in refs:
            if ref.text in names:
                continue
            name = _unique(f"{_PREFIX}{ref.parts[1]}-{ref.parts[3]}", taken)
            taken.add(name)
            names[ref.text] = name
            spec.params.append(ParamSpec(name, "string", source=task.source))
            task.params[name] = ref.text

        task.task_spec = _map_steps(spec, partial(_as_params, names=names))


def _as_params(text: str, names: dict[str, str]) -> str:
    for ref_text, name in names.items():
        text = text.replace(ref_text, f"$(params.{name})")
    return text


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _map_steps(spec: TaskSpec, fn: Callable[[str], str]) -> TaskSpec:
    """`spec` with `fn` applied to each text of its steps that may hold a reference."""

    def step(s: Step) -> Step:
        return replace(
            s,
            image=fn(s.image),
            command=[fn(c) for c in s.command],
            args=[fn(a) for a in s.args],
            script=None if s.script is None else fn(s.script),
            env={k: fn(v) for k, v in s.env.items()},
            working_dir=None if s.working_dir is None else fn(s.working_dir),
        )

    return replace(spec, steps=[step(s) for s in spec.steps])
