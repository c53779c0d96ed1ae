"""Every upstream Argo example that loads survives Argo -> IR -> Argo with its structure.

For each in-scope example of `tests/data/upstream/argo/` that foredeck loads (the documents the
upstream runner loads, referenced WorkflowTemplates and ConfigMaps included), the emitted
Workflow validates against the vendored Argo schema, loads again, and emits again to the same
manifest (a fixed point). Its structure is compared with the ORIGINAL file's, read as raw YAML
(never through foredeck, so that what the loader drops is seen):

`structure` is a normal form both sides go through. It walks the templates reachable from the
entrypoint (and from `onExit`) and flattens them as the Argo front end does (`argo/dag.py`): a
call of a dag/steps template is inlined, its tasks named `<call>-<task>`, unless the call loops,
has an exit hook, carries its own `activeDeadlineSeconds` or the template can reach itself
(recursion); those stay a call of a dag template, whose body is compared in the same form. The
emitter writes the flat DAG back as one dag (so a steps template becomes dag tasks). What is
compared:

- the nodes (leaf calls by flattened name) and the template each calls: its name, as the
  emitter renames it (a WorkflowTemplate's `T` of `W` becomes the workflow's `W-T`), and its
  kind (container, script, containerSet, resource, ...; a containerSet of one container is a
  container, as the emitter writes one step; a sub-graph call: its body's normal form);
- the order between nodes: the transitive "runs after" relation over them (steps groups, dag
  `dependencies`, the task names in `depends`, nested roots after the caller's dependencies),
  which is what both spellings must agree on whatever way each writes it;
- loops: whether a node loops (`withItems`/`withParam`/`withSequence`; a `withSequence` of
  literal bounds may come back as `withItems`, the same iterations);
- declared outputs: the output parameter and artifact names of each called template, and of
  the entrypoint (the emitter may add the files it reads results from, never drop one);
- outcome tests: the `X.Outcome` terms of a `depends` (`A.Succeeded` being a bare `A`), and
  `continueOn`; outside the exit handler a `when` testing an earlier task's phase
  (`{{steps.A.status}} == Failed`) is the test `A.Failed` (the loader makes it a `depends`);
- exit hooks: which nodes have one, and the kind of template it calls; the workflow's `onExit`
  handler, walked like the entrypoint.

Dag `target` is applied before comparison (the loader keeps only the targets' ancestors). The
examples judged are every one holding a Workflow that loads, in the runner's scope or not (a
round trip needs no run); those that load but cannot round-trip are in `APART`, with the error
they still raise.

Tekton -> IR -> Tekton is judged likewise on every `pipelineruns/` example that loads: schema
valid, a fixed point, and the same IR by `test_argo_roundtrip.normal_form` (Tekton's emitter
keeps the flat DAG as it is, so no flattening is needed there).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError
from tests.pipeline.test_argo_roundtrip import normal_form
from tests.pipeline.test_emit import argo_validator, schema_errors, tekton_validator
from tests.pipeline.upstream.catalog import Example, argo_examples, tekton_examples
from tests.pipeline.upstream.runner import load

LEAF_KINDS = ("container", "script", "containerSet", "resource", "suspend", "data", "http")
LOOPS = ("withItems", "withParam", "withSequence")
Tests = tuple[str, ...]  # outcome tests of a `depends`: ("A.Failed", ...)
_DEPENDS_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*(?:\.[A-Za-z]+)?")


# ---- the normal form ----------------------------------------------------------------------------


@dataclass
class _Templates:
    """The templates a call may name: the workflow's, and each WorkflowTemplate's by its name."""

    main: dict[str, dict[str, Any]]
    wfts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def resolve(self, call: dict[str, Any], coll: str) -> tuple[str, dict[str, Any]]:
        """(collection, template) of a call; `coll` is the caller's ("" for the workflow's)."""
        if "templateRef" in call:
            ref = call["templateRef"]
            return ref["name"], self.wfts[ref["name"]][ref["template"]]
        if "inline" in call:
            return coll, {"name": call.get("name"), **call["inline"]}
        table = self.main if coll == "" else self.wfts[coll]
        return coll, table[call["template"]]

    def calls(self, template: dict[str, Any]) -> list[dict[str, Any]]:
        out = list((template.get("dag") or {}).get("tasks") or [])
        for group in template.get("steps") or []:
            out.extend(group or [])
        return out

    def recursive(self, coll: str, template: dict[str, Any]) -> bool:
        start = (coll, template.get("name"))
        seen: set[tuple[str, Any]] = set()
        stack = [(coll, template)]
        while stack:
            here, current = stack.pop()
            for call in self.calls(current):
                if "inline" in call:
                    continue
                there, callee = self.resolve(call, here)
                ident = (there, callee.get("name"))
                if ident == start:
                    return True
                if ident not in seen:
                    seen.add(ident)
                    stack.append((there, callee))
        return False


def _kind(template: dict[str, Any]) -> str:
    if len((template.get("containerSet") or {}).get("containers") or []) == 1:
        return "container"  # one step: the emitter writes a plain container
    return next((k for k in ("dag", "steps", *LEAF_KINDS) if k in template), "?")


def _outputs(template: dict[str, Any]) -> list[str]:
    outputs = template.get("outputs") or {}
    params = [f"param:{p['name']}" for p in outputs.get("parameters") or []]
    return sorted(params + [f"artifact:{a['name']}" for a in outputs.get("artifacts") or []])


class _Walk:
    """The flattened nodes of one dag/steps body: name -> its record, and direct edges."""

    def __init__(self, templates: _Templates, bodies: dict[tuple[str, Any], Any]) -> None:
        self.t = templates
        self.bodies = bodies  # sub-graph bodies by (collection, template name); None: in progress
        self.nodes: dict[str, dict[str, Any]] = {}
        self.after: dict[str, set[str]] = {}
        self.in_exit = False  # the exit handler keeps its status tests as `when`

    def group(
        self, coll: str, template: dict[str, Any], prefix: str, deps: set[str], tests: Tests = ()
    ) -> set[str]:
        """Inline a dag/steps template; returns the leaves its caller's dependents wait on. Its
        roots take the caller's dependencies and outcome `tests`, as in `argo/dag.py`."""
        if "dag" in template:
            return self._dag(coll, template["dag"], prefix, deps, tests)
        previous = set(deps)
        for group in template.get("steps") or []:
            current: set[str] = set()
            for step in group or []:
                current |= self.call(coll, step, prefix, previous, tests)
            previous = current or previous
            tests = ()
        return previous

    def _dag(
        self, coll: str, dag: dict[str, Any], prefix: str, deps: set[str], tests: Tests
    ) -> set[str]:
        tasks = {t["name"]: t for t in dag.get("tasks") or []}
        needs = {name: _needs(task) for name, task in tasks.items()}
        if dag.get("target"):
            keep: set[str] = set()
            todo = str(dag["target"]).split()
            while todo:
                name = todo.pop()
                if name not in keep:
                    keep.add(name)
                    todo.extend(needs[name])
            tasks = {n: t for n, t in tasks.items() if n in keep}
        leaves: dict[str, set[str]] = {}
        while len(leaves) < len(tasks):
            for name, task in tasks.items():
                if name in leaves or any(d not in leaves for d in needs[name] if d in tasks):
                    continue
                waits = set(deps) if not needs[name] else set()
                for d in needs[name]:
                    waits |= leaves.get(d, set())
                root = tests if not needs[name] else ()
                leaves[name] = self.call(coll, task, prefix, waits, root)
        depended = {d for n in tasks for d in needs[n]}
        return {leaf for n in tasks if n not in depended for leaf in leaves[n]}

    def call(
        self, coll: str, call: dict[str, Any], prefix: str, deps: set[str], tests: Tests = ()
    ) -> set[str]:
        name = prefix + call["name"]
        tests = _outcomes(call, prefix) if "depends" in call else tests
        if not self.in_exit:
            tests = tuple(sorted({*tests, *_phase_tests(call, prefix)}))
        there, template = self.t.resolve(call, coll)
        kind = _kind(template)
        loop = any(k in call for k in LOOPS)
        hook = (call.get("hooks") or {}).get("exit") or (
            {"template": call["onExit"]} if "onExit" in call else None
        )
        graph = kind in ("dag", "steps")
        kept = loop or hook or "activeDeadlineSeconds" in template
        if graph and not kept and not self.t.recursive(there, template):
            return self.group(there, template, f"{name}-", deps, tests)
        record: dict[str, Any] = {"kind": "graph" if graph else kind, "loop": loop}
        record["template"] = (there + "-" if there else "") + str(template.get("name"))
        record["outputs"] = _outputs(template)
        record["outcomes"] = list(tests)
        record["continue"] = sorted(k for k, v in (call.get("continueOn") or {}).items() if v)
        if graph:
            record["body"] = self.body(there, template)
        if hook is not None:
            record["hook"] = _kind(self.t.resolve(hook, coll)[1])
        self.nodes[name] = record
        self.after[name] = set(deps)
        return {name}

    def body(self, coll: str, template: dict[str, Any]) -> Any:
        key = (coll, template.get("name"))
        if key in self.bodies:
            return self.bodies[key] or "<recursion>"
        self.bodies[key] = None
        inner = _Walk(self.t, self.bodies)
        inner.group(coll, template, "", set())
        self.bodies[key] = inner.form()
        return self.bodies[key]

    def form(self) -> dict[str, Any]:
        closure = {n: _ancestors(n, self.after) for n in self.nodes}
        return {n: {**r, "after": sorted(closure[n])} for n, r in sorted(self.nodes.items())}


def _needs(task: dict[str, Any]) -> list[str]:
    if "depends" in task:
        words = _DEPENDS_WORD.findall(str(task["depends"]).replace("&&", " ").replace("||", " "))
        return sorted({w.split(".")[0] for w in words})
    return list(task.get("dependencies") or [])


def _outcomes(call: dict[str, Any], prefix: str) -> Tests:
    """The outcome tests of a `depends` (`A.Failed`), `A.Succeeded` and a bare `A` being one."""
    words = _DEPENDS_WORD.findall(str(call.get("depends") or ""))
    tests = {prefix + w for w in words if "." in w and not w.endswith(".Succeeded")}
    return tuple(sorted(tests))


_PHASE_TEST = re.compile(r"\{\{\s*(?:steps|tasks)\.([^.}\s]+)\.status\s*\}\}\s*[!=]=\s*(\w+)")
_OUTCOME = {"Failed": "Failed", "Error": "Errored", "Skipped": "Skipped", "Omitted": "Omitted"}


def _phase_tests(call: dict[str, Any], prefix: str) -> set[str]:
    """The phase tests of a `when` over earlier tasks, as `depends` outcome tests."""
    found = _PHASE_TEST.findall(str(call.get("when") or ""))
    return {f"{prefix}{task}.{_OUTCOME[p]}" for task, p in found if p in _OUTCOME}


def _ancestors(name: str, after: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(after[name])
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(after.get(n, set()))
    return seen


def structure(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """The normal form (see the module docstring) of the Workflow among `documents`."""
    workflow = next(d for d in documents if d.get("kind") == "Workflow")
    wfts = {
        d["metadata"]["name"]: {t["name"]: t for t in d["spec"].get("templates") or []}
        for d in documents
        if d.get("kind") in ("WorkflowTemplate", "ClusterWorkflowTemplate")
    }
    spec = dict(workflow["spec"])
    ref = spec.get("workflowTemplateRef")
    if ref is not None:  # the WorkflowTemplate's spec, under the Workflow's own fields
        base = next(d for d in documents if d.get("metadata", {}).get("name") == ref["name"])
        spec = {**base["spec"], **{k: v for k, v in spec.items() if k != "workflowTemplateRef"}}
    templates = _Templates({t["name"]: t for t in spec.get("templates") or []}, wfts)
    entry = templates.main[spec["entrypoint"]]
    walk = _Walk(templates, {})
    if _kind(entry) in ("dag", "steps"):
        walk.group("", entry, "", set())
    else:
        walk.call("", {"name": entry["name"], "template": entry["name"]}, "", set())
    form: dict[str, Any] = {"tasks": walk.form(), "outputs": _outputs(entry)}
    hook = spec.get("onExit") or ((spec.get("hooks") or {}).get("exit") or {}).get("template")
    if hook:
        exit_walk = _Walk(templates, walk.bodies)
        exit_walk.in_exit = True
        handler = templates.main[hook]
        if _kind(handler) in ("dag", "steps"):
            exit_walk.group("", handler, "", set())
        else:
            exit_walk.call("", {"name": hook, "template": hook}, "", set())
        form["exit"] = exit_walk.form()
    return form


# ---- the examples ---------------------------------------------------------------------------


def _raw(example: Example) -> list[dict[str, Any]]:
    """The documents the runner loads for `example`, as plain YAML."""
    docs = []
    for path in example.files:
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            if doc.get("kind") == "CronWorkflow":
                continue
            name = (doc.get("metadata") or {}).get("name")
            if example.document and doc.get("kind") == "Workflow" and name != example.document:
                continue
            docs.append(doc)
    return docs


APART: dict[str, tuple[type[Exception], str]] = {}
"""Examples that load but cannot round-trip, with the error they fail with today."""


def _loading() -> list[Example]:
    """Every example holding a Workflow that foredeck loads, in scope of the runner or not
    (round-tripping needs no run, so `no-test: environment` ones are judged too)."""
    out = []
    for example in argo_examples():
        if (example.out_of_scope or "").startswith("no Workflow"):
            continue
        try:
            load(example)
        except PipelineError:
            continue  # refused at load: counted by the upstream harness's ledger
        out.append(example)
    return out


LOADING = _loading()


def _round_trip(example: Example) -> None:
    first = emit_argo(load(example))
    assert schema_errors(argo_validator(), first) == []
    text = yaml.safe_dump(first, sort_keys=False)
    second = emit_argo(load_pipeline_text(text, "emitted.yaml"))
    assert second == first, "Argo -> IR -> Argo is not a fixed point"
    assert structure([first]) == structure(_raw(example))


@pytest.mark.parametrize("example", [e for e in LOADING if e.id not in APART], ids=lambda e: e.id)
def test_argo_round_trip_keeps_the_structure(example: Example) -> None:
    _round_trip(example)


def test_examples_set_apart_still_fail_the_same_way() -> None:
    """When one passes, remove it from `APART` (one test, so an empty `APART` is no skip)."""
    for ident in sorted(APART):
        example = next(e for e in LOADING if e.id == ident)
        error, message = APART[ident]
        with pytest.raises(error, match=re.escape(message)):
            _round_trip(example)


def test_most_examples_round_trip() -> None:
    """A loader change that refuses examples would shrink the set silently otherwise."""
    assert len(LOADING) >= 100
    assert len(APART) <= 1


# ---- the normal form itself -----------------------------------------------------------------

_NESTED: dict[str, Any] = yaml.safe_load("""
kind: Workflow
spec:
  entrypoint: main
  onExit: bye
  templates:
  - name: main
    outputs: {parameters: [{name: out, valueFrom: {parameter: x}}]}
    dag:
      tasks:
      - {name: a, template: leaf, withItems: [1, 2]}
      - {name: b, template: inner, depends: a.Succeeded}
      - {name: c, template: leaf, dependencies: [b], continueOn: {failed: true}}
  - name: inner
    steps:
    - - {name: s1, template: leaf}
    - - {name: s2, template: leaf, hooks: {exit: {template: leaf}}}
  - name: leaf
    outputs: {artifacts: [{name: art, path: /tmp/x}]}
    container: {image: alpine, command: [echo]}
  - name: bye
    script: {image: alpine, source: echo}
""")


def test_the_normal_form_flattens_nested_templates_as_the_loader_does() -> None:
    form = structure([_NESTED])
    assert sorted(form["tasks"]) == ["a", "b-s1", "b-s2", "c"]
    assert form["tasks"]["b-s2"]["after"] == ["a", "b-s1"]
    assert form["tasks"]["c"]["after"] == ["a", "b-s1", "b-s2"]
    assert form["tasks"]["a"]["loop"] and form["tasks"]["b-s2"]["hook"] == "container"
    assert form["exit"]["bye"]["kind"] == "script"


def _edit(change: str) -> dict[str, Any]:
    doc = copy.deepcopy(_NESTED)
    main, inner, leaf = doc["spec"]["templates"][:3]
    if change == "edge":
        del main["dag"]["tasks"][2]["dependencies"]
    elif change == "loop":
        del main["dag"]["tasks"][0]["withItems"]
    elif change == "output":
        del leaf["outputs"]
    elif change == "entry output":
        del main["outputs"]
    elif change == "step order":
        inner["steps"] = [inner["steps"][0] + inner["steps"][1]]
    elif change == "template":
        leaf["script"] = {"image": "alpine", "source": "echo"}
        del leaf["container"]
    elif change == "hook":
        del inner["steps"][1][0]["hooks"]
    elif change == "outcome":
        main["dag"]["tasks"][1]["depends"] = "a.Failed"
    elif change == "continue":
        del main["dag"]["tasks"][2]["continueOn"]
    elif change == "exit":
        del doc["spec"]["onExit"]
    return doc


@pytest.mark.parametrize(
    "change",
    [
        "edge",
        "loop",
        "output",
        "entry output",
        "step order",
        "template",
        "hook",
        "outcome",
        "continue",
        "exit",
    ],
)
def test_the_normal_form_sees_a_lost_construct(change: str) -> None:
    assert structure([_edit(change)]) != structure([_NESTED])


# ---- Tekton -------------------------------------------------------------------------------------


def _tekton_loading() -> list[Example]:
    out = []
    for example in tekton_examples():
        try:
            load(example)
        except PipelineError:
            continue  # refused at load: the upstream harness's ledger counts it
        out.append(example)
    return out


TEKTON_LOADING = _tekton_loading()


@pytest.mark.parametrize("example", TEKTON_LOADING, ids=lambda e: e.id)
def test_tekton_round_trip_is_schema_valid_and_a_fixed_point(example: Example) -> None:
    """Tekton -> IR -> Tekton: the manifest validates, loads again to the same IR (the
    semantic normal form of `test_argo_roundtrip`) and emits again to itself."""
    run = load(example)
    first = emit_tekton(run)
    assert schema_errors(tekton_validator(), first) == []
    # StepActions are emitted as documents of their own, before the run (`emit.with_objects`)
    actions = [o.manifest for o in run.cluster_objects if o.kind == "StepAction"]
    text = yaml.safe_dump_all([*actions, first], sort_keys=False)
    back = load_pipeline_text(text, "emitted.yaml")
    assert emit_tekton(back) == first, "Tekton -> IR -> Tekton is not a fixed point"
    assert normal_form(back) == normal_form(run)


_RECURSIVE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: coin-}
spec:
  entrypoint: start
  templates:
  - name: start
    dag: {tasks: [{name: go, template: coin}]}
  - name: coin
    dag:
      tasks:
      - {name: flip, template: flip}
      - {name: again, template: coin, depends: flip, when: "{{tasks.flip.outputs.result}} == tails"}
  - name: flip
    script: {image: python, command: [python], source: "print('heads')"}
"""


def test_a_sub_graph_reads_its_own_tasks_stdout_as_outputs_result() -> None:
    """Inside a recursive template's dag, `{{tasks.T.outputs.result}}` stays the result (it was
    once written as an output parameter `result` that no template declares)."""
    first = emit_argo(load_pipeline_text(_RECURSIVE, "coin.yaml"))
    text = yaml.safe_dump(first, sort_keys=False)
    assert "{{tasks.flip.outputs.result}}" in text
    assert "outputs.parameters.result" not in text
    assert emit_argo(load_pipeline_text(text, "emitted.yaml")) == first


_MOUNTED_ARTIFACT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: mounted-}
spec:
  entrypoint: build
  volumeClaimTemplates:
  - metadata: {name: workdir}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
  templates:
  - name: build
    inputs:
      artifacts:
      - {name: code, path: /go/src/example, raw: {data: hello}}
    outputs:
      artifacts:
      - {name: out, path: /go/out.txt}
    container:
      image: alpine
      command: [sh, -c, "cat /go/src/example > /go/out.txt"]
      volumeMounts: [{name: workdir, mountPath: /go}]
"""


def test_an_artifact_on_a_mounted_volume_stays_on_it() -> None:
    """The emitter mounts a volume at `/workspace/<name>`: an artifact path under the original
    mount moves with it (once it kept `/go/...`, outside the volume, where the container, whose
    commands say `/workspace/go/...`, does not look)."""
    run = load_pipeline_text(_MOUNTED_ARTIFACT, "mounted.yaml")
    first = emit_argo(run)
    template = next(t for t in first["spec"]["templates"] if t["name"] == "build")
    assert template["container"]["volumeMounts"][0]["mountPath"] == "/workspace/go"
    assert template["inputs"]["artifacts"][0]["path"] == "/workspace/go/src/example"
    assert template["outputs"]["artifacts"][0]["path"] == "/workspace/go/out.txt"
    back = load_pipeline_text(yaml.safe_dump(first, sort_keys=False), "emitted.yaml")
    # read back, the artifacts are placed on and stored from the same volume as before
    before, after = (r.pipeline.spec_of(r.pipeline.tasks[0]).steps for r in (run, back))
    assert [s.env for s in after] == [s.env for s in before]
    assert "$(workspaces.go.path)/src/example" in before[0].env.values()
