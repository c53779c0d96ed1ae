"""Semantic validation of the IR (front-end independent) and the dependency graph."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pytest

from foredeck.pipeline.expressions import substitute_value
from foredeck.pipeline.model import (
    Matrix,
    ParamSpec,
    ParamType,
    ParamValue,
    Pipeline,
    PipelineResult,
    PipelineTask,
    ResultSpec,
    Step,
    TaskSpec,
    WhenExpression,
    WorkspaceDecl,
)
from foredeck.pipeline.validate import dependencies, find_cycle, upstream, validate
from foredeck.types import PipelineError, Source


def src(line: int) -> Source:
    return Source("p.yaml", line)


def step(name: str = "s", *args: str, script: str | None = None) -> Step:
    command = [] if script is not None else ["echo", *args]
    return Step(name=name, image="alpine", command=command, script=script, source=src(50))


def spec(
    name: str = "t",
    params: Sequence[tuple[str, ParamType, ParamValue | None]] = (),
    results: Sequence[tuple[str, ParamType]] = (),
    workspaces: Sequence[str] = (),
    steps: Sequence[Step] | None = None,
) -> TaskSpec:
    return TaskSpec(
        name=name,
        steps=list(steps) if steps is not None else [step()],
        params=[ParamSpec(n, t, d, source=src(40)) for n, t, d in params],
        results=[ResultSpec(n, t, source=src(41)) for n, t in results],
        workspaces=[WorkspaceDecl(w, source=src(42)) for w in workspaces],
        source=src(39),
    )


def ptask(name: str, task: TaskSpec | None = None, line: int = 10, **kw: object) -> PipelineTask:
    return PipelineTask(name=name, task_spec=task or spec(name), source=src(line), **kw)  # type: ignore[arg-type]


def pipe(
    tasks: Sequence[PipelineTask],
    final: Sequence[PipelineTask] = (),
    params: Sequence[tuple[str, ParamType, ParamValue | None]] = (),
    **kw: object,
) -> Pipeline:
    return Pipeline(
        name="p",
        tasks=list(tasks),
        finally_tasks=list(final),
        params=[ParamSpec(n, t, d, source=src(3)) for n, t, d in params],
        source=src(1),
        **kw,  # type: ignore[arg-type]
    )


def fails(p: Pipeline, params: dict[str, ParamValue] | None = None) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        validate(p, params or {})
    assert "\n" not in str(info.value)
    return info.value


# --- a fixture pipeline used for substitution forms ---

PARAMS: list[tuple[str, ParamType, ParamValue | None]] = [
    ("s", "string", "S"),
    ("a", "array", ["x", "y"]),
    ("o", "object", {"k": "v"}),
]


def _gen() -> PipelineTask:
    return ptask(
        "gen",
        spec("gen", results=[("r", "string"), ("arr", "array"), ("obj", "object")]),
        line=10,
    )


def _consumer(value: ParamValue, ptype: ParamType = "string") -> PipelineTask:
    return ptask("use", spec("use", params=[("in", ptype, None)]), line=20, params={"in": value})


def _final(value: ParamValue, ptype: ParamType = "string") -> PipelineTask:
    return ptask("fin", spec("fin", params=[("in", ptype, None)]), line=30, params={"in": value})


def _fin2() -> PipelineTask:
    return ptask("fin2", spec("fin2", results=[("r", "string")]), line=35)


PIPELINE_FORMS_OK: list[tuple[str, ParamType]] = [
    ("$(params.s)", "string"),
    ('$(params["s"])', "string"),
    ("$(params['s'])", "string"),
    ("$(params.a[*])", "array"),
    ("$(params.a[1])", "string"),
    ("$(params.o.k)", "string"),
    ("$(params.o[*])", "object"),
    ("pre-$(params.s)-$(params.o.k)-post", "string"),
    ("$(tasks.gen.results.r)", "string"),
    ("$(tasks.gen.results.arr[*])", "array"),
    ("$(tasks.gen.results.arr[0])", "string"),
    ("$(tasks.gen.results.obj.k)", "string"),
    ("$(context.pipelineRun.name)", "string"),
    ("$(context.pipelineRun.namespace)", "string"),
    ("$(context.pipelineRun.uid)", "string"),
    ("$(context.pipeline.name)", "string"),
    ("$(context.pipelineTask.retries)", "string"),
]


@pytest.mark.parametrize(("value", "ptype"), PIPELINE_FORMS_OK)
def test_pipeline_level_substitution_forms_validate_and_resolve(
    value: str, ptype: ParamType
) -> None:
    p = pipe([_gen(), _consumer(value, ptype)], params=PARAMS)
    validate(p, {})
    # what validation accepts, the executor's substitution can resolve
    known: dict[str, ParamValue] = {
        "params.s": "S",
        "params.a": ["x", "y"],
        "params.o": {"k": "v"},
        "tasks.gen.results.r": "R",
        "tasks.gen.results.arr": ["1", "2"],
        "tasks.gen.results.obj": {"k": "V"},
        "context.pipelineRun.name": "run",
        "context.pipelineRun.namespace": "ns",
        "context.pipelineRun.uid": "uid",
        "context.pipeline.name": "p",
        "context.pipelineTask.retries": "0",
    }
    resolved = substitute_value(value, known.get)
    assert "$(" not in str(resolved)
    assert {"string": str, "array": list, "object": dict}[ptype] is type(resolved)


def test_text_that_is_not_a_pipeline_variable_is_left_alone() -> None:
    validate(pipe([_consumer("$(date) and $(pwd)")]), {})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("$(params.nope)", "$(params.nope) refers to an undefined param"),
        ('$(params["nope"])', "$(params.nope) refers to an undefined param"),
        ("$(tasks.ghost.results.r)", "refers to unknown task 'ghost'"),
        ("$(tasks.gen.results.nope)", "task 'gen' declares no result 'nope'"),
        ("$(tasks.gen.status)", "$(tasks.gen.status) is only allowed in finally tasks"),
        ("$(tasks.status)", "$(tasks.status) is only allowed in finally tasks"),
        ("$(tasks.gen)", "unsupported reference $(tasks.gen)"),
        ("$(tasks.gen.outputs.x.y)", "unsupported reference"),
        ("$(context.pipelineRun.secret)", "unknown variable $(context.pipelineRun.secret)"),
        ("$(workspaces.w.path)", "unsupported reference $(workspaces.w.path)"),
        ("$(workspaces.nope.bound)", "undeclared workspace 'nope'"),
        ("$(tasks.fin2.results.r)", "task 'fin2' is not upstream of 'use'"),
        ("$(tasks.use.results.r)", "declares no result 'r'"),
    ],
)
def test_pipeline_level_bad_references(value: str, message: str) -> None:
    p = pipe([_gen(), _consumer(value)], final=[_fin2()], params=PARAMS)
    p.workspaces = [WorkspaceDecl("w", source=src(5))]
    err = fails(p)
    assert err.source == src(20)
    assert message in str(err)


@pytest.mark.parametrize(
    "value",
    [
        "$(tasks.gen.status)",
        "$(tasks.gen.reason)",
        "$(tasks.status)",
        "$(tasks.gen.results.r)",
        "$(params.s)",
    ],
)
def test_finally_only_forms(value: str) -> None:
    validate(pipe([_gen()], final=[_final(value), _fin2()], params=PARAMS), {})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("$(tasks.fin2.results.r)", "finally task 'fin2' is not upstream"),
        ("$(tasks.fin2.status)", "refers to 'fin2', which is not a DAG task"),
        ("$(tasks.gen.results.nope)", "declares no result 'nope'"),
    ],
)
def test_finally_bad_references(value: str, message: str) -> None:
    err = fails(pipe([_gen()], final=[_final(value), _fin2()], params=PARAMS))
    assert err.source == src(30)
    assert message in str(err)


TASK_FORMS_OK = [
    "$(params.x)",
    '$(params["x"])',
    "$(params.arr[*])",
    "$(params.arr[0])",
    "$(params.obj.key)",
    "$(results.r.path)",
    "$(workspaces.w.path)",
    "$(workspaces.w.bound)",
    "$(workspaces.w.claim)",
    "$(workspaces.w.volume)",
    "$(context.taskRun.name)",
    "$(context.taskRun.namespace)",
    "$(context.taskRun.uid)",
    "$(context.task.name)",
    "$(context.task.retry-count)",
    "$(context.pipelineRun.name)",
    "$(steps.step-s.exitCode.path)",
    "$(context.taskRun.secret)",  # undocumented: Tekton leaves it as written, for the shell
]

_TASK_DECL: dict[str, object] = {
    "params": [("x", "string", "d"), ("arr", "array", ["d"]), ("obj", "object", {"key": "d"})],
    "results": [("r", "string")],
    "workspaces": ["w"],
}


def _step_task(s: Step) -> Pipeline:
    t = spec("t", steps=[s], **_TASK_DECL)  # type: ignore[arg-type]
    return pipe([ptask("t", t, workspaces={"w": "w"})], workspaces=[WorkspaceDecl("w")])


@pytest.mark.parametrize("value", TASK_FORMS_OK)
@pytest.mark.parametrize("field", ["command", "script", "image", "env", "working_dir"])
def test_task_level_forms_in_every_step_field(value: str, field: str) -> None:
    s = step()
    if field == "command":
        s.args = [value]
    elif field == "script":
        s.command, s.script = [], f"echo {value}"
    elif field == "image":
        s.image = f"reg/{value}"
    elif field == "env":
        s.env = {"V": value}
    else:
        s.working_dir = value
    validate(_step_task(s), {})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("$(params.nope)", "$(params.nope) refers to a param task 't' does not declare"),
        ("$(results.nope.path)", "$(results.nope.path) refers to undeclared result 'nope'"),
        ("$(results.r)", "unsupported reference $(results.r)"),
        ("$(workspaces.nope.path)", "refers to undeclared workspace 'nope'"),
        ("$(workspaces.w.mount)", "unsupported reference $(workspaces.w.mount)"),
        ("$(steps.step-nope.exitCode.path)", "refers to no step of 't'"),
        ("$(steps.step-s.results.r.path)", "unsupported reference"),
        ("$(tasks.a.results.r)", "cannot be used inside a task's steps"),
    ],
)
@pytest.mark.parametrize("field", ["command", "script", "env", "working_dir", "image"])
def test_task_level_bad_references_in_every_field(value: str, field: str, message: str) -> None:
    s = step()
    if field == "command":
        s.command = ["echo", value]
    elif field == "script":
        s.command, s.script = [], value
    elif field == "image":
        s.image = value
    elif field == "env":
        s.env = {"V": value}
    else:
        s.working_dir = value
    err = fails(_step_task(s))
    assert err.source == src(50)
    assert message in str(err)


# --- rules ---


def test_valid_pipeline_is_not_modified_by_validation() -> None:
    p = pipe([_gen(), _consumer("$(tasks.gen.results.r)")], final=[_final("$(tasks.status)")])
    before = copy.deepcopy(p)
    validate(p, {})
    assert p == before


def test_pipeline_without_tasks() -> None:
    assert "pipeline 'p' has no tasks" in str(fails(pipe([])))


def test_duplicate_names() -> None:
    err = fails(pipe([ptask("a", line=10), ptask("a", line=11)]))
    assert (err.source, "duplicate task name 'a'" in str(err)) == (src(11), True)
    err = fails(pipe([ptask("a")], final=[ptask("a", line=12)]))
    assert err.source == src(12)
    err = fails(pipe([ptask("a")], params=[("x", "string", "1"), ("x", "string", "2")]))
    assert "duplicate pipeline param 'x'" in str(err)
    err = fails(pipe([ptask("a", spec("a", steps=[step("s"), step("s")]))]))
    assert "task 'a': duplicate step name 's'" in str(err)
    err = fails(pipe([ptask("a", spec("a", params=[("x", "string", "1"), ("x", "string", "")]))]))
    assert "duplicate param 'x'" in str(err)
    err = fails(pipe([ptask("a", spec("a", results=[("r", "string"), ("r", "array")]))]))
    assert "duplicate result 'r'" in str(err)
    p = pipe([ptask("a")], workspaces=[WorkspaceDecl("w"), WorkspaceDecl("w", source=src(7))])
    assert fails(p).source == src(7)
    p = pipe(
        [ptask("a")], results=[PipelineResult("r", "x"), PipelineResult("r", "y", source=src(8))]
    )
    assert "duplicate pipeline result 'r'" in str(fails(p))


def test_task_refs_resolve_through_the_library() -> None:
    p = pipe([PipelineTask("a", task_ref="lib", source=src(10))])
    err = fails(p)
    assert "unknown taskRef 'lib' (known: none loaded)" in str(err)
    p.task_library = {"lib": spec("lib")}
    validate(p, {})
    p.task_library = {"lib": spec("lib", steps=[])}
    assert "task 'lib' has no steps" in str(fails(p))


def test_unused_library_tasks_are_still_checked() -> None:
    p = pipe([ptask("a")], task_library={"spare": spec("spare", steps=[step("s", "$(params.x)")])})
    assert "task 'spare' step 's'" in str(fails(p))


def test_a_step_may_rely_on_its_images_entrypoint() -> None:
    """No command and no script: clusters run the image's entrypoint; only a host run fails."""
    s = Step(name="s", image="alpine", args=["hello"], source=src(50))
    validate(pipe([ptask("a", spec("a", steps=[s]))]), {})


def test_run_after_rules() -> None:
    err = fails(pipe([ptask("a", run_after=["zzz"])]))
    assert "task 'a': runAfter unknown task 'zzz'" in str(err)
    err = fails(pipe([ptask("a", run_after=["a"])]))
    assert "runs after itself" in str(err)
    err = fails(pipe([ptask("a", run_after=["fin"])], final=[ptask("fin", line=30)]))
    assert "runAfter unknown task 'fin' (a finally task)" in str(err)
    err = fails(pipe([ptask("a")], final=[ptask("fin", line=30, run_after=["a"])]))
    assert (err.source, "finally task 'fin' cannot use runAfter" in str(err)) == (src(30), True)


def test_cycles_are_named() -> None:
    a = ptask("a", line=10, run_after=["c"])
    b = ptask("b", line=11, run_after=["a"])
    c = ptask("c", spec("c", params=[("x", "string", None)]), line=12)
    c.params = {"x": "$(tasks.b.results.r)"}
    b.task_spec = spec("b", results=[("r", "string")])
    err = fails(pipe([a, b, c]))
    assert str(err) == "p.yaml:10: dependency cycle: a -> c -> b -> a"


def test_find_cycle_is_deterministic_and_none_for_a_dag() -> None:
    tasks = [ptask(n) for n in "abcd"]
    assert find_cycle(tasks, {"a": set(), "b": {"a"}, "c": {"a", "b"}, "d": {"c"}}) is None
    graph = {"a": {"d", "b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(tasks, graph) == ["a", "b", "c", "a"]


def test_dependencies_come_from_run_after_and_result_refs_everywhere() -> None:
    gen = ptask("gen", spec("gen", results=[("r", "string"), ("l", "array")]))
    other = ptask("other", spec("other", results=[("r", "string")]))
    third = ptask("third", spec("third", results=[("r", "string")]))
    fourth = ptask("fourth", spec("fourth", results=[("r", "string")]))
    use = ptask(
        "use",
        spec("use", params=[("p", "string", None), ("m", "string", None), ("i", "string", "")]),
        params={"p": "$(tasks.gen.results.r)"},
        run_after=["other"],
        when=[WhenExpression("$(tasks.third.results.r)", "in", ["x"])],
        matrix=Matrix(params={"m": "$(tasks.gen.results.l[*])"}, include=[]),
    )
    inc = ptask(
        "inc",
        spec("inc", params=[("i", "string", "")]),
        matrix=Matrix(include=[{"i": "$(tasks.fourth.results.r)"}]),
    )
    fin = ptask(
        "fin", spec("fin", params=[("v", "string", None)]), params={"v": "$(tasks.gen.results.r)"}
    )
    p = pipe([gen, other, third, fourth, use, inc], final=[fin])
    validate(p, {})
    assert dependencies(p) == {
        "gen": set(),
        "other": set(),
        "third": set(),
        "fourth": set(),
        "use": {"gen", "other", "third"},
        "inc": {"fourth"},
        "fin": set(),  # finally tasks only wait on finally tasks; the DAG is done by then
    }


def test_upstream_is_transitive() -> None:
    graph = {"a": set(), "b": {"a"}, "c": {"b"}, "d": set()}
    assert upstream(graph, "c") == {"a", "b"}
    assert upstream(graph, "d") == set()


def test_result_of_a_transitive_upstream_task_is_allowed() -> None:
    gen = ptask("gen", spec("gen", results=[("r", "string")]))
    mid = ptask("mid", run_after=["gen"])
    use = _consumer("$(tasks.gen.results.r)")
    use.run_after = ["mid"]
    validate(pipe([gen, mid, use]), {})


def test_star_on_a_string_result_is_an_error() -> None:
    err = fails(pipe([_gen(), _consumer("$(tasks.gen.results.r[*])", "array")]))
    assert "result 'r' is not an array" in str(err)


def test_pipeline_task_param_binding_rules() -> None:
    t = spec("t", params=[("req", "string", None), ("opt", "array", ["d"])])
    err = fails(pipe([ptask("a", t, line=10)]))
    assert str(err).startswith("p.yaml:10: task 'a': required param 'req' of task 't'")
    assert "(declared at p.yaml:40)" in str(err)
    err = fails(pipe([ptask("a", t, params={"req": "x", "extra": "y"})]))
    assert "task 'a' passes param 'extra', which task 't' does not declare" in str(err)
    err = fails(pipe([ptask("a", t, params={"req": ["x"]})]))
    assert "param 'req' is string but is given a array value" in str(err)
    err = fails(pipe([ptask("a", t, params={"req": "x", "opt": {"k": "v"}})]))
    assert "param 'opt' is array but is given a object value" in str(err)
    validate(pipe([ptask("a", t, params={"req": "x", "opt": ["1", "2"]})]), {})


def test_matrix_rules() -> None:
    t = spec("t", params=[("os", "string", None)])
    validate(pipe([ptask("a", t, matrix=Matrix(params={"os": ["linux", "mac"]}))]), {})
    validate(pipe([ptask("a", t, matrix=Matrix(params={"os": '["linux"]'}))]), {})
    validate(pipe([ptask("a", t, matrix=Matrix(include=[{"os": "linux"}]))]), {})
    err = fails(pipe([ptask("a", t, params={"os": "x"}, matrix=Matrix(params={"os": ["y"]}))]))
    assert "param 'os' is in both 'params' and 'matrix'" in str(err)
    err = fails(pipe([ptask("a", t, matrix=Matrix(params={"os": ["y"], "arch": ["z"]}))]))
    assert "matrix param 'arch' is not declared by 't'" in str(err)
    err = fails(pipe([ptask("a", t, matrix=Matrix(params={"os": "linux"}))]))
    assert "must be an array or an array expression" in str(err)
    err = fails(pipe([ptask("a", t, matrix=Matrix(params={"os": "$(params.nope[*])"}))]))
    assert "undefined param" in str(err)
    err = fails(pipe([ptask("a", t, matrix=Matrix(include=[{"os": "l", "cpu": "x"}]))]))
    assert "matrix include param 'cpu' is not declared" in str(err)


def test_when_rules() -> None:
    bad_values = ptask("a", when=[WhenExpression("$(params.s)", "in", [], source=src(15))])
    err = fails(pipe([bad_values], params=PARAMS))
    assert (err.source, "when 'values' must not be empty" in str(err)) == (src(15), True)
    bad_ref = ptask("a", when=[WhenExpression("x", "notin", ["$(params.nope)"], source=src(16))])
    assert fails(pipe([bad_ref], params=PARAMS)).source == src(16)


def test_retries_and_timeouts() -> None:
    assert "retries must not be negative (-1)" in str(fails(pipe([ptask("a", retries=-1)])))
    assert "negative timeout" in str(fails(pipe([ptask("a", timeout=-1.0)])))
    validate(pipe([ptask("a", retries=3, timeout=10.0)]), {})


def test_workspace_binding_rules() -> None:
    t = spec("t", workspaces=["src"])
    err = fails(pipe([ptask("a", t)]))
    assert "required workspace 'src' of 't' is not bound" in str(err)
    err = fails(pipe([ptask("a", t, workspaces={"src": "shared"})]))
    assert "binds undeclared pipeline workspace 'shared'" in str(err)
    err = fails(pipe([ptask("a", workspaces={"x": "x"})], workspaces=[WorkspaceDecl("x")]))
    assert "binds workspace 'x' that 'a' does not declare" in str(err)
    t.workspaces[0].optional = True
    validate(pipe([ptask("a", t)]), {})


def test_pipeline_results_may_read_any_task() -> None:
    p = pipe([_gen()], final=[_fin2()], params=PARAMS)
    p.results = [
        PipelineResult("a", "$(tasks.gen.results.r)"),
        PipelineResult("b", "$(tasks.fin2.results.r)"),
    ]
    validate(p, {})
    p.results.append(PipelineResult("c", "$(tasks.gen.results.zz)", source=src(60)))
    err = fails(p)
    assert (err.source, "pipeline result 'c'" in str(err)) == (src(60), True)


def test_supplied_params_are_checked() -> None:
    p = pipe([ptask("a")], params=[("req", "string", None), ("arr", "array", ["x"])])
    err = fails(p)
    assert str(err) == "p.yaml:3: param 'req' is required: it has no default and no value"
    validate(p, {"req": "v"})
    err = fails(p, {"req": "v", "nope": "x"})
    assert "pipeline 'p' has no param 'nope' (declared: arr, req)" in str(err)
    err = fails(p, {"req": "v", "arr": "not-a-list"})
    assert "param 'arr' is array but is given a string value" in str(err)
