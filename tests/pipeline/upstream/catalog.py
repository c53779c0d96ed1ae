"""Which upstream examples count, and what their engine makes of them.

The rules are the engines' own (tests/data/upstream/README.md):

- Argo (`test/e2e/examples_test.go`, revision f4a9a8df): every `Workflow` document of every
  file under the examples folder, subfolders included, must end Succeeded, unless it carries
  the label `workflows.argoproj.io/no-test`, whatever its value (`environment`, `duration`,
  `flaky`, `expected-failure`): the test skips those, so they are out of scope. So is one whose
  `http` template calls a host beyond loopback ("needs the network", as for Tekton below), and
  one with a `resource` template ("needs a Kubernetes cluster"). (An earlier harness kept
  `expected-failure` ones as "must fail"; the label does not say the outcome is a failure:
  `template-defaults.yaml` fails at random, and Argo's own functional test of
  `continue-on-fail` waits for it to succeed.) CronWorkflows, WorkflowTemplates and other
  objects are not run by Argo's test; the WorkflowTemplates a Workflow names
  (`workflowTemplateRef`, `templateRef`) and the ConfigMaps it reads (`configMapKeyRef`; the
  e2e suite applies them first) are loaded with it.
- Tekton (`test/examples_test.go`): every PipelineRun under `pipelineruns/` must succeed, or
  fail when its file name ends `-fail`; out of scope are `no-ci/` and what a machine without a
  cluster cannot give (the issue's list): remote resolution, Secrets, sidecars, the network.
  ConfigMaps are in scope: a run reads those of its own file (`configMapKeyRef`, a workspace
  bound to a ConfigMap).

Scope is decided from the raw YAML (PyYAML), never from foredeck, so that what foredeck cannot
load still counts against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

DATA = Path(__file__).resolve().parents[2] / "data" / "upstream"
ARGO = DATA / "argo"
TEKTON = DATA / "tekton" / "pipelineruns"

Engine = Literal["argo", "tekton"]
NO_TEST = "workflows.argoproj.io/no-test"

# Commands that reach the network: a machine without it cannot run them the same way.
_NETWORK = re.compile(
    r"\b(git\s+(clone|fetch|pull)|curl|wget|pip3?\s+install|apk\s+add|apt-get|npm\s+(install|ci))\b"
)
_NETWORK_IMAGE = re.compile(r"git-clone|kaniko")


@dataclass(frozen=True)
class Example:
    """One example: its id (path under tests/data/upstream, `#name` when a file holds several
    runs), the files to load (the example's first), and what its engine decides."""

    engine: Engine
    id: str
    files: tuple[Path, ...]
    expect_success: bool = True
    out_of_scope: str | None = None
    document: str | None = None  # the Workflow's (PipelineRun's) name, when its file holds several


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def _name(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return str(meta.get("name") or meta.get("generateName") or "")


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a nested structure, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key), item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _rel(path: Path) -> str:
    return path.relative_to(DATA).as_posix()


def examples() -> list[Example]:
    """Every example of both engines, in a stable order (engine, then path)."""
    return sorted(argo_examples() + tekton_examples(), key=lambda e: (e.engine, e.id))


# ---- Argo


def argo_examples() -> list[Example]:
    files = sorted(ARGO.rglob("*.yaml"))
    parsed = {path: _documents(path) for path in files}
    objects: dict[tuple[str, str], Path] = {}
    for path, docs in parsed.items():
        for doc in docs:
            objects.setdefault((str(doc.get("kind")), _name(doc)), path)
    out: list[Example] = []
    for path, docs in parsed.items():
        workflows = [d for d in docs if d.get("kind") == "Workflow"]
        if not workflows:
            kinds = ", ".join(sorted({str(d.get("kind")) for d in docs})) or "nothing"
            why = f"no Workflow (holds {kinds}; Argo's e2e runs Workflows only)"
            out.append(Example("argo", _rel(path), (path,), out_of_scope=why))
            continue
        for doc in workflows:
            several = len(workflows) > 1
            ident = f"{_rel(path)}#{_name(doc)}" if several else _rel(path)
            deps = _argo_dependencies(doc, objects, parsed)
            label = _no_test(doc)
            scope = None if label is None else f"no-test: {label}"
            scope = scope or _argo_network(doc)
            if scope is None and _has_resource(doc, deps, parsed):
                scope = "needs a Kubernetes cluster (a `resource` template)"
            out.append(
                Example(
                    "argo",
                    ident,
                    (path, *sorted(deps - {path})),
                    out_of_scope=scope,
                    document=_name(doc) if several else None,
                )
            )
    return out


def _no_test(doc: dict[str, Any]) -> str | None:
    meta = doc.get("metadata") or {}
    for where in ("labels", "annotations"):
        value = (meta.get(where) or {}).get(NO_TEST)
        if value is not None:
            return str(value)
    return None


def _argo_network(doc: dict[str, Any]) -> str | None:
    """ "needs the network" when an `http` template calls a host other than this one (foredeck
    makes the request itself; the example still loads, and round-trips). A URL given by a
    parameter is judged by the URLs the document names."""
    templates = (doc.get("spec") or {}).get("templates") or []
    urls = [str((t.get("http") or {}).get("url", "")) for t in templates if "http" in t]
    if not urls:
        return None
    named = [u for u in urls if "{{" not in u]
    if len(named) < len(urls):
        named += [v for _, v in _walk(doc) if isinstance(v, str) and _URL.match(v)]
    if not named or not all(_loopback(url) for url in named):
        return "needs the network"
    return None


_URL = re.compile(r"https?://", re.IGNORECASE)


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _has_resource(
    doc: dict[str, Any], deps: set[Path], parsed: dict[Path, list[dict[str, Any]]]
) -> bool:
    """Whether the workflow (or a template it loads) acts on Kubernetes objects: Argo's e2e
    runs it in a cluster; a machine without one cannot."""
    docs = [doc, *(d for path in deps for d in parsed[path])]
    return any(key == "resource" and isinstance(value, dict) for key, value in _walk(docs))


def _argo_dependencies(
    doc: dict[str, Any],
    objects: dict[tuple[str, str], Path],
    parsed: dict[Path, list[dict[str, Any]]],
) -> set[Path]:
    """Files holding the templates and ConfigMaps `doc` names, transitively."""
    found: set[Path] = set()
    todo = [doc]
    while todo:
        for key, value in _walk(todo.pop()):
            if not isinstance(value, dict) or not isinstance(value.get("name"), str):
                continue
            if key in ("workflowTemplateRef", "templateRef"):
                cluster = bool(value.get("clusterScope"))
                kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
            elif key == "configMapKeyRef":
                kind = "ConfigMap"
            else:
                continue
            path = objects.get((kind, value["name"]))
            if path is not None and path not in found:
                found.add(path)
                todo.extend(parsed[path])
    return found


# ---- Tekton


def tekton_examples() -> list[Example]:
    """One example per PipelineRun: Tekton's test creates each run of a file (with the file's
    other objects) and waits for every one; a file of several gives `path#name` ids."""
    out: list[Example] = []
    for path in sorted(TEKTON.rglob("*.yaml")):
        docs = _documents(path)
        runs = [d for d in docs if d.get("kind") == "PipelineRun"]
        for run in runs:
            several = len(runs) > 1
            out.append(
                Example(
                    "tekton",
                    f"{_rel(path)}#{_name(run)}" if several else _rel(path),
                    (path,),
                    expect_success=not path.stem.endswith("-fail"),
                    out_of_scope=_tekton_scope(path, docs),
                    document=_name(run) if several else None,
                )
            )
    return out


def _tekton_scope(path: Path, docs: list[dict[str, Any]]) -> str | None:
    """Why a machine without a cluster cannot run the example (None: it can)."""
    if "no-ci" in path.relative_to(TEKTON).parts:
        return "no-ci (Tekton's CI does not run it)"
    pairs = list(_walk(docs))
    keys = {key for key, _ in pairs}
    kinds = {str(d.get("kind")) for d in docs}
    if "resolver" in keys or "bundle" in keys:
        return "needs a remote resolver"
    if "Secret" in kinds or keys & {"secret", "secretName", "secretKeyRef"}:
        return "needs a Secret"
    if "sidecars" in keys:
        return "needs a sidecar"
    for key, value in pairs:
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        if key == "image" and _NETWORK_IMAGE.search(text):
            return "needs the network"
        if key in ("script", "args", "command") and _NETWORK.search(text):
            return "needs the network"
    return None
