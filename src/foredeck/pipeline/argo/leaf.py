"""Container, script and containerSet templates -> `TaskSpec`s of the task library.

One spec per template (a template that many tasks call is one spec). The body's `{{...}}` tags
are resolved here: inputs become the spec's params, `{{workflow....}}` values become implicit
params bound at each call site, `{{outputs.parameters.p.path}}` the result's own path; mount
paths of workflow volumes become `$(workspaces.W.path)`. Output files that a step writes
elsewhere are copied into results by the `argo-outputs` step appended last. Every spec also
declares `outputs.result` (stdout) and the exit code of its main container as results.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from foredeck.pipeline import retry_vars
from foredeck.pipeline.argo.artifacts import output_key, path_pattern, template_artifacts
from foredeck.pipeline.argo.fields import (
    IGNORED_CONTAINER,
    IGNORED_TEMPLATE,
    NAME,
    as_list,
    as_map,
    at,
    check_keys,
    deadline,
    duration,
    fail,
    name_of,
    scalar,
    src,
    unsupported,
)
from foredeck.pipeline.argo.outputs import FileOutput, file_outputs, global_names
from foredeck.pipeline.argo.pod import (
    CARRIED_CONTAINER,
    CARRIED_TEMPLATE,
    SIDECAR_ONLY,
    carried,
    container_cluster,
    container_order,
)
from foredeck.pipeline.argo.state import (
    CALL_NAME,
    CALL_NODE,
    Collection,
    Leaf,
    TimeoutParam,
    Workflow,
)
from foredeck.pipeline.argo.tags import METRICS_ONLY, Unresolvable, translate, workflow_ref
from foredeck.pipeline.argo.templates import input_params, retry_limit
from foredeck.pipeline.argo_manifest import (
    RESULTS_DIR,
    RESULTS_VOLUME,
    SCRIPT_MARKER,
    SCRIPT_WRAPPER,
    script_from_argo,
    unique_name,
)
from foredeck.pipeline.artifacts import (
    REPOSITORY,
    artifact_of,
    default_key,
    input_step,
    locator_name,
    output_step,
    pod_root,
)
from foredeck.pipeline.artifacts import STEPS as ARTIFACT_STEPS
from foredeck.pipeline.collector import COLLECT_STEP, CollectedOutput, collector_step
from foredeck.pipeline.exprlang.embed import START, literal
from foredeck.pipeline.model import (
    ArtifactSpec,
    ParamSpec,
    ParamValue,
    ResultSpec,
    Step,
    TaskSpec,
    WorkspaceDecl,
)
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap

_INPUT_TAG = re.compile(r"\{\{\s*inputs\.parameters\.([\w-]+)\s*\}\}")
"""A deadline given whole by an input parameter (`timeout: "{{inputs.parameters.t}}"`)."""


def build_leaf(w: Workflow, coll: Collection, template: SourceMap, key: str | None = None) -> Leaf:
    """The library spec of a container/script/containerSet (or `http`) template, built once."""
    cache_key = (id(coll), key or str(template.get("name")))
    if cache_key not in w.leaves and "http" in template:
        from foredeck.pipeline.argo.http import build_http  # it builds on LeafBuilder

        w.leaves[cache_key] = build_http(w, coll, template, key)
    if cache_key not in w.leaves and "resource" in template:
        from foredeck.pipeline.argo.resource import build_resource  # it builds on LeafBuilder

        w.leaves[cache_key] = build_resource(w, coll, template, key)
    if cache_key not in w.leaves:
        w.leaves[cache_key] = LeafBuilder(w, coll, template, key).build()
    return w.leaves[cache_key]


class LeafBuilder:
    """One template's conversion: declared and implicit params, outputs, workspace mounts."""

    def __init__(self, w: Workflow, coll: Collection, template: SourceMap, key: str | None) -> None:
        self.w = w
        self.template = template
        self.name = str(template.get("name"))
        self.where = f"template {self.name!r}"
        self.base_key = coll.prefix + self.name if key is None else key.split(":", 1)[1]
        self.declared: dict[str, ParamSpec] = {}
        self.implicit: dict[str, ParamSpec] = {}
        self.bindings: dict[str, str] = {}
        self.start_bindings: dict[str, str] = {}
        self.outputs: list[FileOutput] = []
        self.direct: set[str] = set()
        self.mounts: list[tuple[str, str]] = []  # (mountPath, workspace)
        self.workspaces: dict[str, WorkspaceDecl] = {}
        self.ws_bindings: dict[str, str] = {}
        self.results_mount = False
        self.artifacts: list[ArtifactSpec] = []
        self.timeout_params: list[TimeoutParam] = []
        self.own_volumes: set[str] = set()  # the template's own emptyDir volumes
        self.daemon = _daemon(template, self.where)

    def build(self) -> Leaf:
        t = self.template
        allowed = {"name", "inputs", "outputs", "container", "script", "containerSet"}
        allowed |= {"retryStrategy", "activeDeadlineSeconds", "timeout", "volumes"}
        allowed |= CARRIED_TEMPLATE | {"sidecars", "initContainers", "daemon"}
        check_keys(t, allowed, IGNORED_TEMPLATE, self.where)
        for p in input_params(t, self.where):
            self.declared[p.name] = p
        self.outputs = file_outputs(t, self.where)
        self.artifacts = template_artifacts(t, self.where)
        self._read_volumes()
        if "container" in t:
            steps = [self._step(t["container"], at(t, "container"), "container", script=False)]
        elif "script" in t:
            steps = [self._step(t["script"], at(t, "script"), "script", script=True)]
        else:
            steps = self._container_set(
                as_map(t["containerSet"], at(t, "containerSet"), self.where)
            )
        steps = [*self._extra("initContainers"), *steps]
        collected = []
        for name, path, default, source in self.outputs:
            if self.results_mount and path == f"{RESULTS_DIR}/{name}" and default is None:
                self.direct.add(name)
            if name not in self.direct:
                where = f"{self.where} output {name!r} valueFrom.path"
                collected.append(CollectedOutput(name, self._text(path, source, where), default))
        steps = self._artifact_steps(steps)
        if collected:
            steps.append(collector_step(collected, at(t, "outputs")))
        retries = self.w.default_retries
        if "retryStrategy" in t:
            retries = retry_limit(t["retryStrategy"], at(t, "retryStrategy"))
        timeout = self._timeout()
        key = self.w.spec_key(self.base_key)
        results = [ResultSpec(out.name, source=out.source) for out in self.outputs]
        produced = [locator_name(a.name) for a in self.artifacts if a.direction == "output"]
        results += [ResultSpec(r, source=src(t)) for r in produced]
        implicit = self._implicit_results(steps, {r.name for r in results})
        spec = TaskSpec(
            name=key,
            steps=steps,
            params=[*self.declared.values(), *self.implicit.values()],
            results=[*results, *implicit],
            workspaces=list(self.workspaces.values()),
            source=src(t),
            artifacts=self.artifacts,
            sidecars=self._extra("sidecars"),
            cluster=carried(t, CARRIED_TEMPLATE),
            deadline_params={tp.key: tp.param for tp in self.timeout_params},
            empty_dirs=sorted(ws for _, ws in self.mounts if ws in self.own_volumes),
            global_names=global_names(t, self.where),
            daemon=self.daemon,
        )
        self.w.library[key] = spec
        outputs = {out.name for out in self.outputs} | set(produced)
        leaf = Leaf(key, spec, retries, timeout, self.bindings, outputs, self.ws_bindings)
        leaf.stdout, leaf.exit_code = implicit[0].name, implicit[1].name
        leaf.timeout_params = tuple(self.timeout_params)
        leaf.start_bindings = self.start_bindings
        return leaf

    def _implicit_results(self, steps: list[Step], taken: set[str]) -> list[ResultSpec]:
        """`outputs.result` and `exitCode`: the main container's stdout and exit code, as
        results the executor fills only when a task reads them (Argo captures the same way)."""
        names = [
            s.name for s in steps if s.name not in (COLLECT_STEP, *ARTIFACT_STEPS) and not s.init
        ]
        main = "main" if "main" in names else names[-1]
        source = src(self.template)
        stdout = unique_name("result", taken)
        exit_code = unique_name("exitCode", {*taken, stdout})
        return [
            ResultSpec(stdout, source=source, value_from="stdout", step=main),
            ResultSpec(exit_code, source=source, value_from="exit-code", step=main),
        ]

    def _artifact_steps(self, steps: list[Step]) -> list[Step]:
        """The template's steps between the artifact steps (`pipeline/artifacts.py`), with the
        repository workspace bound."""
        if not self.artifacts:
            return steps
        if any(out.name in {locator_name(a.name) for a in self.artifacts} for out in self.outputs):
            raise fail(src(self.template), f"{self.where}: output names clash with artifacts")
        self.workspaces[REPOSITORY] = WorkspaceDecl(REPOSITORY, source=src(self.template))
        self.ws_bindings[REPOSITORY] = REPOSITORY
        paths: dict[tuple[str, str], str] = {
            (a.direction, a.name): self._host_path(a.path) for a in self.artifacts
        }
        outputs = [a for a in self.artifacts if a.direction == "output"]
        keys: dict[str, str] = {}
        for art in outputs:
            key = output_key(art)
            where = f"{self.where} output artifact {art.name!r} key"
            keys[art.name] = (
                default_key(art)
                if key is None
                else translate(key, self._key_ref, art.source, where)
            )
        source = src(self.template)
        before = [input_step(self.artifacts, paths, source)]
        after = [output_step(outputs, paths, keys, source)] if outputs else []
        return [*before, *steps, *after]

    def _key_ref(self, path: str) -> str:
        """A tag of an output artifact's key: read by the artifact step only (emitters write the
        key as written), so workflow values are context, not implicit params."""
        context = {
            "workflow.name": "$(context.pipelineRun.name)",
            "pod.name": "$(context.taskRun.name)",
        }
        context["workflow.uid"] = "$(context.pipelineRun.uid)"
        if path in context:
            return context[path]
        parts = path.split(".")
        if parts[:2] == ["inputs", "parameters"] and len(parts) == 3 and parts[2] in self.declared:
            return f"$(params.{parts[2]})"
        raise Unresolvable("not supported in an artifact key")

    def _host_path(self, path: str) -> str:
        """Where container path `path` of an artifact is on a host: in a mounted workspace,
        else below the task's own directory of the repository."""
        mapped = self._mounted(path)
        return mapped if mapped != path else pod_root() + path

    def _timeout(self) -> float | None:
        """The template's deadline; one given by an input parameter is left for each call
        (`Leaf.timeout_params`), where the argument is known."""
        t = self.template
        limits: list[float] = []
        for key, parse in (("activeDeadlineSeconds", deadline), ("timeout", duration)):
            if key not in t:
                continue
            where = f"{self.where} {key}"
            m = _INPUT_TAG.fullmatch(t[key]) if isinstance(t[key], str) else None
            if m and m.group(1) in self.declared:
                self.timeout_params.append(TimeoutParam(m.group(1), key, at(t, key), where))
            else:
                limits.append(parse(t[key], at(t, key), where))
        if limits and self.timeout_params:
            why = "a fixed deadline beside one given by an input parameter is not supported"
            raise fail(src(t), f"{self.where}: {why}")
        return min(limits) if limits else None

    def _read_volumes(self) -> None:
        for raw in as_list(self.template.get("volumes"), at(self.template, "volumes"), self.where):
            volume = as_map(raw, at(self.template, "volumes"), f"{self.where} volumes")
            if volume.get("name") == RESULTS_VOLUME and set(volume) == {"name", "emptyDir"}:
                self.results_mount = True
                continue
            if set(volume) == {"name", "emptyDir"} and isinstance(volume.get("name"), str):
                empty = as_map(volume["emptyDir"] or {}, at(volume, "emptyDir"), self.where)
                check_keys(empty, set(), {"medium", "sizeLimit"}, f"{self.where} emptyDir")
                self.own_volumes.add(str(volume["name"]))  # a task workspace left unbound
                continue
            why = "template volumes other than emptyDir (declare them in spec.volumes)"
            raise unsupported(self.template, "volumes", self.where, why)

    def _container_set(self, cs: SourceMap) -> list[Step]:
        where = f"{self.where} containerSet"
        check_keys(cs, {"containers", "volumeMounts"}, set(), where)
        shared = as_list(cs.get("volumeMounts"), at(cs, "volumeMounts"), where)
        nodes: dict[str, SourceMap] = {}
        after: dict[str, list[str]] = {}
        for raw in as_list(cs.get("containers"), at(cs, "containers"), where):
            c = as_map(raw, at(cs, "containers"), where)
            name = name_of(c, f"{where} container")
            nodes[name] = c
            deps = as_list(c.get("dependencies"), at(c, "dependencies"), where)
            after[name] = [scalar(d, at(c, "dependencies"), where) for d in deps]
        if not nodes:
            raise fail(src(cs), f"{where}: no containers")
        steps = []
        for name in container_order(after, src(cs), where):
            c = nodes[name]
            step = self._step(c, src(c), "containerSet container", False, shared)
            step.after = after[name]
            steps.append(step)
        return steps

    def _extra(self, key: str) -> list[Step]:
        """A template's `initContainers` (steps run first) or `sidecars`."""
        t = self.template
        what = "initContainer" if key == "initContainers" else "sidecar"
        out: list[Step] = []
        for raw in as_list(t.get(key), at(t, key), f"{self.where} {key}"):
            c = as_map(raw, at(t, key), f"{self.where} {key}")
            step = self._step(c, src(c), what, False)
            if "name" not in c or step.name in {s.name for s in out}:
                raise fail(src(c), f"{self.where} {what}: a unique `name` is required")
            step.init = key == "initContainers"
            out.append(step)
        return out

    def _step(
        self,
        raw: Any,
        source: Source,
        what: str,
        script: bool,
        shared_mounts: list[Any] | None = None,
    ) -> Step:
        c = as_map(raw, source, f"{self.where} {what}")
        where = f"{self.where} {what}"
        allowed = {"name", "image", "command", "args", "env", "workingDir", "volumeMounts"}
        if script:
            allowed.add("source")
        if what.startswith("containerSet"):
            allowed.add("dependencies")
        service = what == "sidecar" or (self.daemon and what in ("container", "script"))
        if what in ("sidecar", "initContainer"):
            allowed |= {"mirrorVolumeMounts", *SIDECAR_ONLY}
        elif service:  # a daemon's ports and probes (its readiness is read on a host)
            allowed |= set(SIDECAR_ONLY)
        allowed |= set(CARRIED_CONTAINER)
        check_keys(c, allowed, IGNORED_CONTAINER, where)
        for mount in [
            *(shared_mounts or []),
            *as_list(c.get("volumeMounts"), at(c, "volumeMounts"), where),
        ]:
            self._mount(as_map(mount, at(c, "volumeMounts"), where), where)

        def text(value: Any, key: str) -> str:
            return self._text(scalar(value, at(c, key), where), at(c, key), f"{where} {key}")

        command = [text(v, "command") for v in as_list(c.get("command"), at(c, "command"), where)]
        args = [text(v, "args") for v in as_list(c.get("args"), at(c, "args"), where)]
        env: dict[str, str] = {}
        for item in as_list(c.get("env"), at(c, "env"), where):
            e = as_map(item, at(c, "env"), f"{where} env")
            check_keys(e, {"name", "value"}, set(), f"{where} env")
            ename = e.get("name")
            if not isinstance(ename, str):
                raise fail(src(e), f"{where} env: `name` is required")
            env[ename] = text(e.get("value", ""), "env")
        image = c.get("image")
        if not isinstance(image, str) or not image:
            raise fail(at(c, "image"), f"{where}: `image` is required")
        image = text(image, "image")
        working_dir = text(c["workingDir"], "workingDir") if "workingDir" in c else None
        name = str(c.get("name") or "main")
        step = Step(name, image, command, args, None, env, working_dir, source=src(c))
        step.cluster = container_cluster(c, sidecar=service)
        if script:
            if args:
                raise unsupported(c, "args", where, "arguments to a script")
            body = text(c.get("source", ""), "source")
            step.script = script_from_argo(command or ["sh"], body)
            step.command = []
        elif command == ["sh", "-c", SCRIPT_WRAPPER, SCRIPT_MARKER] and len(args) == 1:
            step.script, step.command, step.args = args[0], [], []
        return step

    def _mount(self, mount: SourceMap, where: str) -> None:
        check_keys(mount, {"name", "mountPath"}, {"readOnly"}, f"{where} volumeMount")
        name, path = mount.get("name"), mount.get("mountPath")
        if not isinstance(name, str) or not isinstance(path, str) or not path.startswith("/"):
            raise fail(src(mount), f"{where} volumeMount: needs `name` and an absolute mountPath")
        path = path.rstrip("/") or "/"
        if name == RESULTS_VOLUME and self.results_mount and path == RESULTS_DIR:
            return
        if name not in self.w.workspaces and name not in self.own_volumes:
            message = (
                f"{where} volumeMount: no volume {name!r} in spec.volumes / volumeClaimTemplates"
            )
            raise fail(src(mount), message)
        if any(p == path for p, _ in self.mounts):
            return
        base = path.rsplit("/", 1)[1]
        ws = base if NAME.match(base) and "." not in base and base not in self.workspaces else name
        if name in self.own_volumes:  # the template's emptyDir: unbound, so fresh per task
            ws = name
        self.mounts.append((path, ws))
        self.workspaces[ws] = WorkspaceDecl(ws, source=src(mount))
        if name not in self.own_volumes:
            self.ws_bindings[ws] = name

    def _text(self, value: str, source: Source, where: str) -> str:
        """Translate text of a container/script body; then map mount paths to workspaces."""
        return self._path_text(translate(value, self._body_ref, source, where))

    def _path_text(self, value: str) -> str:
        value = self._mounted(value)
        for art in sorted(self.artifacts, key=lambda a: -len(a.path)):
            if art.path != "/" and self._mounted(art.path) == art.path:
                value = re.sub(path_pattern(art.path), pod_root() + art.path, value)
        return value

    def _mounted(self, value: str) -> str:
        if self.results_mount:
            for name in (out.name for out in self.outputs):
                pattern = rf"(?<![\w/.-]){re.escape(RESULTS_DIR)}/{re.escape(name)}(?![\w/.-])"
                if re.search(pattern, value):
                    self.direct.add(name)
                value = re.sub(pattern, f"$(results.{name}.path)", value)
        for path, ws in sorted(self.mounts, key=lambda m: -len(m[0])):
            pattern = rf"(?<![\w/.-]){re.escape(path)}(?=/|$|[^\w.-])"
            value = re.sub(pattern, f"$(workspaces.{ws}.path)", value)
        return value

    def _body_ref(self, path: str) -> str:
        parts = path.split(".")
        if parts[:2] == ["inputs", "parameters"] and len(parts) == 3:
            if parts[2] not in self.declared:
                raise Unresolvable(
                    f"template {self.name!r} declares no input parameter {parts[2]!r}"
                )
            return f"$(params.{parts[2]})"
        if parts[:2] == ["outputs", "parameters"] and len(parts) == 4 and parts[3] == "path":
            declared = next((out for out in self.outputs if out.name == parts[2]), None)
            if declared is None:
                raise Unresolvable(
                    f"template {self.name!r} declares no output parameter {parts[2]!r}"
                )
            if self._names_literally(declared.path):  # Argo: it is the declared path
                return declared.path  # rewritten to its host path with the rest of the text
            self.direct.add(parts[2])
            return f"$(results.{parts[2]}.path)"
        if parts[1:2] == ["artifacts"] and len(parts) == 4 and parts[3] == "path":
            direction = "input" if parts[0] == "inputs" else "output"
            for art in self.artifacts:
                if art.name == parts[2] and art.direction == direction:
                    return art.path  # rewritten to its host path with the rest of the text
            raise Unresolvable(f"template {self.name!r} declares no such {direction} artifact")
        if path == "pod.name":
            return "$(context.taskRun.name)"
        if path == "retries":
            return "$(context.task.retry-count)"
        if retry_vars.ir_ref(path) is not None:
            return str(retry_vars.ir_ref(path))
        if path in ("inputs.parameters", "inputs.parameters.json"):
            # Argo: the template's inputs as JSON (`[{"name":"a","value":"1"}]`)
            items = ", ".join(  # an input artifact's locator param is not Argo's
                f'{{"name": {literal(p)}, "value": $(params.{p})}}'
                for p in self.declared
                if artifact_of(p) is None
            )
            return f"{START}toJson([{items}]))"
        if path in ("node.name", "steps.name", "tasks.name"):
            return self._implicit(path, CALL_NODE if path == "node.name" else CALL_NAME)
        if parts[0] == "workflow":
            args = (parts, self.w.params, self.w.exported, self.w.known)
            return self._implicit(path, workflow_ref(*args), workflow_ref(*args, starting=True))
        if parts[0] == "resourcesDuration":
            raise Unresolvable(METRICS_ONLY)
        raise Unresolvable("not supported in a container or script")

    def _names_literally(self, path: str) -> bool:
        """Whether the body writes `path` as text too, so `{{outputs.parameters.X.path}}` must
        be that very file. Else the result's own file stands in for it (the value only differs
        when printed): on a host without a sandbox, parallel tasks share `/tmp`, not their
        result files."""
        if "{{" in path:
            return False
        body = " ".join(str(self.template.get(k, "")) for k in ("container", "script"))
        return re.search(path_pattern(path), body) is not None

    def _implicit(self, path: str, value: str, start: str | None = None) -> str:
        """`{{path}}` as an implicit task param each call binds to `value` (to `start` when
        the call starts with the workflow, `Leaf.start_bindings`)."""
        pname = re.sub(r"[^-A-Za-z0-9_]", "-", path.replace(".", "-"))  # an Argo param name
        if pname in self.declared:
            raise Unresolvable(
                f"input parameter {pname!r} clashes with the implicit one for {path}"
            )
        self.implicit[pname] = ParamSpec(
            pname, description=f"Argo {path}", source=src(self.template)
        )
        self.bindings[pname] = value
        if start is not None and start != value:
            self.start_bindings[pname] = start
        return f"$(params.{pname})"


def _daemon(template: SourceMap, where: str) -> bool:
    """`daemon: true` (a boolean, or Argo's string form), on a container or script template."""
    raw = template.get("daemon", False)
    if raw not in (True, False, "true", "false"):
        raise fail(at(template, "daemon"), f"{where}: `daemon` must be true or false")
    daemon = raw in (True, "true")
    if daemon and "containerSet" in template:
        raise fail(at(template, "daemon"), f"{where}: a containerSet cannot be a daemon")
    return daemon


def call_timeout(leaf: Leaf, params: Mapping[str, ParamValue]) -> float | None:
    """The deadline of one call of `leaf`: its fixed one and those its arguments give (a
    literal argument, or the input's default, is parsed here; a run-time value is refused)."""
    limits = [] if leaf.timeout is None else [leaf.timeout]
    defaults = {p.name: p.default for p in leaf.spec.params}
    for tp in leaf.timeout_params:
        value = params.get(tp.param, defaults.get(tp.param))
        if not isinstance(value, str) or "$(" in value:
            why = f"{{{{inputs.parameters.{tp.param}}}}} must be a literal at each call"
            raise fail(tp.source, f"{tp.where}: {why}, not a value known at run time")
        parse = deadline if tp.key == "activeDeadlineSeconds" else duration
        limits.append(parse(value, tp.source, f"{tp.where} ({tp.param}={value!r})"))
    return min(limits) if limits else None
