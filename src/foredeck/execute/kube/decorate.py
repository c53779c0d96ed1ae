"""Prow-style decoration of remote runs: checkout, Prow's environment, artifact upload.

Prow's pod utilities give every test container the repository checked out (`clonerefs`), the
job's variables (`JOB_NAME`, `PULL_NUMBER`, ...) and a `$ARTIFACTS` directory that a sidecar
uploads when the test ends. A `Decoration` (built by the controller from the job) does the same
to an emitted Argo `Workflow` or Tekton `PipelineRun`:

- every pod gets two emptyDirs, the checkout at `/foredeck/src` and `$ARTIFACTS` at
  `/foredeck/artifacts`, and a job with leases the Secret of its lease files read-only at
  `/foredeck/leases` (`leases.py`; also in sidecars, with the `FOREDECK_LEASE*` variables, as a
  local container sidecar gets them); with refs, `foredeck util clonerefs` (from `utility_image`)
  fills the checkout first (Argo: an init container; Tekton: a first step);
- user containers get the Prow env plus `ARTIFACTS` (a step's own variable wins), the mounts,
  and the main checkout as `workingDir` when the step names none;
- the task's `$ARTIFACTS` goes to `<build dir>/artifacts/<task>/` in the artifact store, where a
  local run puts it (Argo: an `outputs.artifacts` entry its `wait` sidecar uploads; Tekton: a
  last step `foredeck util upload`, with `onError: continue` on the user steps so it always runs
  and then exits with the first failing step's code). A `file://` store is out of the pods'
  reach: then nothing is uploaded and `no_upload_reason` says why.

Decoration is applied to the emitted manifest: `foredeck run --emit` is undecorated unless
`--decorate` asks for it (`execute/decorated_emit.py`).
Argv values are lists (never a shell string); the manifest holds no credentials.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

from foredeck import __version__
from foredeck.execute.kube.leases import LeaseMount
from foredeck.execute.workspace import dir_name
from foredeck.pipeline.emit_tekton import dns_label
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.storage.paths import join
from foredeck.types import Refs, path_for_refs, public_uri

DEFAULT_UTILITY_IMAGE = f"ghcr.io/foredeck/foredeck:{__version__}"
"""The chart's image: it has `foredeck` and `git`."""
POD_ROOT = "/foredeck"
SRC_DIR = f"{POD_ROOT}/src"
ARTIFACTS_DIR = f"{POD_ROOT}/artifacts"
SRC_VOLUME = "foredeck-src"
ARTIFACTS_VOLUME = "foredeck-artifacts"
TEKTON_STEPS_DIR = "/tekton/steps"
CLONEREFS_NAME = "foredeck-clonerefs"
UPLOAD_NAME = "foredeck-upload"
OUTPUT_ARTIFACT = "foredeck-artifacts"
AWS_DEFAULT_ENDPOINT = "s3.amazonaws.com"
_S3_ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")
_GCS_ENDPOINT_VAR = "STORAGE_EMULATOR_HOST"

Engine = Literal["argo", "tekton"]


@dataclass(frozen=True)
class UploadTarget:
    """Where the steps upload: the store root URL and the build directory below it.

    `endpoint` / `region` are the S3 endpoint URL and region the controller's store uses (from
    the standard AWS variables); they are addresses, not credentials.
    """

    store_url: str
    build_dir: str
    endpoint: str | None = None
    region: str | None = None

    @property
    def scheme(self) -> str:
        return urlsplit(self.store_url).scheme.lower()

    def task_url(self, task_dir: str) -> str:
        """The store URL of one task's artifact directory."""
        return f"{self.store_url.rstrip('/')}/{join(self.build_dir, 'artifacts', task_dir)}"

    def pod_env(self) -> list[dict[str, str]]:
        """What the upload container needs to find the same S3 or GCS endpoint (no credentials;
        Argo's `gcs:` location has no endpoint field, so there only real GCS works)."""
        env = []
        if self.scheme == "s3" and self.endpoint:
            env.append({"name": "AWS_ENDPOINT_URL_S3", "value": self.endpoint})
        if self.scheme == "s3" and self.region:
            env.append({"name": "AWS_REGION", "value": self.region})
        if self.scheme == "gs" and self.endpoint:
            env.append({"name": _GCS_ENDPOINT_VAR, "value": self.endpoint})
        return env

    def argo_location(self, task_dir: str) -> dict[str, Any]:
        """Argo's `s3:` / `gcs:` artifact location for one task's directory."""
        parts = urlsplit(self.task_url(task_dir))
        bucket, key = parts.netloc, parts.path.lstrip("/")
        if self.scheme == "gs":
            return {"gcs": {"bucket": bucket, "key": key}}
        s3: dict[str, Any] = {"bucket": bucket, "key": key, "useSDKCreds": True}
        if self.endpoint:
            endpoint = urlsplit(self.endpoint if "://" in self.endpoint else f"//{self.endpoint}")
            s3["endpoint"] = endpoint.netloc
            if endpoint.scheme == "http":
                s3["insecure"] = True
        elif self.region:
            s3["endpoint"] = f"s3.{self.region}.amazonaws.com"
        else:
            s3["endpoint"] = AWS_DEFAULT_ENDPOINT
        if self.region:
            s3["region"] = self.region
        return {"s3": s3}


@dataclass(frozen=True)
class Decoration:
    """What the controller adds to a remote run (see the module docstring)."""

    env: Mapping[str, str]
    """Prow's variables only: never the controller's own environment or secrets."""
    refs: Sequence[Mapping[str, Any]] = ()
    """Prow refs JSON (`clone_uri` resolved, without credentials), main refs first."""
    workdir: str | None = None
    """The main checkout in the pod: the default `workingDir`."""
    utility_image: str = DEFAULT_UTILITY_IMAGE
    upload: UploadTarget | None = None
    no_upload_reason: str | None = None
    leases: LeaseMount | None = None
    """The Secret of the job's lease files, mounted at `/foredeck/leases` (the runner names it);
    `env` then has the `FOREDECK_LEASE*` variables with paths there."""

    def step_env(self) -> list[dict[str, str]]:
        env = {**self.env, "ARTIFACTS": ARTIFACTS_DIR}
        return [{"name": k, "value": inert_value(v)} for k, v in env.items()]

    def lease_env(self) -> list[dict[str, str]]:
        """What a sidecar gets: the lease variables only."""
        return [e for e in self.step_env() if e["name"].startswith("FOREDECK_LEASE")]

    def clonerefs_command(self) -> list[str]:
        refs = inert_json(json.dumps(list(self.refs), separators=(",", ":"), sort_keys=True))
        return ["foredeck", "util", "clonerefs", "--refs", refs, "--dest", SRC_DIR]


# Argo substitutes `{{...}}` and Tekton and Kubernetes `$(...)` anywhere in a manifest, with no
# escape Argo honours. PR titles and branch names are written by anyone who opens a pull
# request, so they must not reach a manifest in a form either engine would read.


def inert_json(text: str) -> str:
    """JSON text with the same meaning and no template syntax: in JSON, `{{` and `$(` occur only
    inside strings, where `\\u007b` and `\\u0028` mean the same characters."""
    return text.replace("{{", "{\\u007b").replace("$(", "$\\u0028")


def inert_value(value: str) -> str:
    """An env value that no engine substitutes in: JSON (`JOB_SPEC`) keeps its meaning; plain
    text (`PULL_TITLE`, branch names) gets a space inside `{{` and `$(` (`{ {`, `$ (`)."""
    if value.startswith(("{", "[")):
        try:
            json.loads(value)
        except ValueError:
            pass
        else:
            return inert_json(value)
    return value.replace("{{", "{ {").replace("$(", "$ (")


def pod_refs(refs: Sequence[Refs], clone_uris: Sequence[str]) -> list[dict[str, Any]]:
    """The refs as `foredeck util clonerefs` gets them: clone URIs resolved, no credentials."""
    out = []
    for one, uri in zip(refs, clone_uris, strict=True):
        data = one.to_prow_json()
        data["clone_uri"] = public_uri(uri)
        out.append(data)
    return out


def pod_workdir(main: Refs | None) -> str | None:
    if main is None:
        return None
    return str(PurePosixPath(SRC_DIR) / path_for_refs(main))


def upload_target(
    store_url: str, build_dir: str, environ: Mapping[str, str] | None = None
) -> tuple[UploadTarget | None, str | None]:
    """(the target, None) for a store pods can reach (`s3://`, `gs://`), else (None, why)."""
    env = os.environ if environ is None else environ
    scheme = urlsplit(store_url).scheme.lower()
    if scheme in ("s3", "gs"):
        endpoint = next((env[v] for v in _S3_ENDPOINT_VARS if env.get(v)), None)
        region = next((env[v] for v in _REGION_VARS if env.get(v)), None)
        if scheme == "gs":  # a GCS-compatible server or emulator, as `foredeck.storage.gcs`
            endpoint, region = env.get(_GCS_ENDPOINT_VAR) or None, None
        return UploadTarget(store_url, build_dir, endpoint, region), None
    where = "a local directory" if scheme in ("", "file") else f"a {scheme}:// store"
    why = (
        f"artifact store {store_url} is {where}, which pods cannot reach: "
        "the steps' $ARTIFACTS are not uploaded (use an s3:// or gs:// store)"
    )
    return None, why


def decorate(
    engine: Engine, manifest: dict[str, Any], run: PipelineRunSpec, decoration: Decoration
) -> dict[str, Any]:
    """A decorated copy of an emitted manifest."""
    doc = copy.deepcopy(manifest)
    if engine == "argo":
        _decorate_argo(doc, run, decoration)
    else:
        _decorate_tekton(doc, run, decoration)
    return doc


def _volumes(decoration: Decoration) -> list[dict[str, Any]]:
    volumes = [{"name": SRC_VOLUME, "emptyDir": {}}, {"name": ARTIFACTS_VOLUME, "emptyDir": {}}]
    if decoration.leases is not None:
        volumes.append(decoration.leases.volume())
    return volumes


def _mounts(decoration: Decoration) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": SRC_VOLUME, "mountPath": SRC_DIR},
        {"name": ARTIFACTS_VOLUME, "mountPath": ARTIFACTS_DIR},
    ]
    if decoration.leases is not None:
        mounts.append(decoration.leases.mount())
    return mounts


def _add_env(body: dict[str, Any], env: list[dict[str, str]]) -> None:
    """`env` before the container's own variables; its own of the same name win."""
    own = {e.get("name") for e in body.get("env") or []}
    body["env"] = [e for e in env if e["name"] not in own] + list(body.get("env") or [])


def _user_container(body: dict[str, Any], decoration: Decoration, mounts: bool = True) -> None:
    _add_env(body, decoration.step_env())
    if mounts:
        body["volumeMounts"] = list(body.get("volumeMounts") or []) + _mounts(decoration)
    if decoration.workdir and not body.get("workingDir"):
        body["workingDir"] = decoration.workdir


def _sidecars(sidecars: list[dict[str, Any]], decoration: Decoration) -> None:
    """Sidecars get the job's leases, as a local container sidecar does (an Argo sidecar with
    `mirrorVolumeMounts` gets the main container's mount from Argo: a second one would clash)."""
    if decoration.leases is None:
        return
    for body in sidecars:
        _add_env(body, decoration.lease_env())
        if not body.get("mirrorVolumeMounts"):
            body["volumeMounts"] = [*(body.get("volumeMounts") or []), decoration.leases.mount()]


def _task_dir(name: str, matrix: bool, instance: str) -> str:
    """`<task>`, or `<task>/<instance>` for a matrix task (its instances share the name)."""
    return f"{dir_name(name)}/{instance}" if matrix else dir_name(name)


# -- Argo -------------------------------------------------------------------------------------


def _decorate_argo(doc: dict[str, Any], run: PipelineRunSpec, decoration: Decoration) -> None:
    spec = doc["spec"]
    spec["volumes"] = list(spec.get("volumes") or []) + _volumes(decoration)
    templates: list[dict[str, Any]] = spec["templates"]
    by_name = {t["name"]: t for t in templates}
    names = set(by_name)
    leaves_used: dict[str, int] = {}
    dag_tasks = [task for t in templates if "dag" in t for task in t["dag"]["tasks"]]
    for task in dag_tasks:
        leaves_used[task["template"]] = leaves_used.get(task["template"], 0) + 1
    decorated: set[str] = set()
    for task in dag_tasks:
        template = by_name.get(task["template"])
        if template is None or "dag" in template:
            continue
        if leaves_used[template["name"]] > 1:  # one template per task: each has its own key
            template = copy.deepcopy(template)
            base = re.sub(r"[^A-Za-z0-9-]", "-", f"{template['name']}-{task['name']}")
            name, n = base, 1
            while name in names:
                n += 1
                name = f"{base}-{n}"
            names.add(name)
            template["name"] = name
            templates.append(template)
            task["template"] = name
        matrix = "withItems" in task or "withParam" in task
        _argo_template(template, task["name"], matrix, decoration)
        decorated.add(template["name"])
    for template in templates:  # templates no DAG task reaches (none today): env and mounts
        if "dag" not in template and template["name"] not in decorated:
            _argo_template(template, None, False, decoration)


def _argo_template(
    template: dict[str, Any], task: str | None, matrix: bool, decoration: Decoration
) -> None:
    body = template.get("container") or template.get("script")
    if body is not None:
        _user_container(body, decoration)
    elif "containerSet" in template:
        cset = template["containerSet"]
        cset["volumeMounts"] = list(cset.get("volumeMounts") or []) + _mounts(decoration)
        for container in cset["containers"]:
            _user_container(container, decoration, mounts=False)
    else:
        return
    _sidecars(template.get("sidecars") or [], decoration)
    if decoration.refs:
        init = {
            "name": CLONEREFS_NAME,
            "image": decoration.utility_image,
            "command": decoration.clonerefs_command(),
            "volumeMounts": [{"name": SRC_VOLUME, "mountPath": SRC_DIR}],
        }
        template["initContainers"] = [init, *(template.get("initContainers") or [])]
    if decoration.upload is not None and task is not None:
        artifact: dict[str, Any] = {
            "name": OUTPUT_ARTIFACT,
            "path": ARTIFACTS_DIR,
            "archive": {"none": {}},
            "optional": True,
            **decoration.upload.argo_location(_task_dir(task, matrix, "{{pod.name}}")),
        }
        outputs = template.setdefault("outputs", {})
        outputs["artifacts"] = [*(outputs.get("artifacts") or []), artifact]


# -- Tekton -----------------------------------------------------------------------------------


def _decorate_tekton(doc: dict[str, Any], run: PipelineRunSpec, decoration: Decoration) -> None:
    pipeline = run.pipeline
    pspec = doc["spec"]["pipelineSpec"]
    entries = [*pspec.get("tasks", []), *pspec.get("finally", [])]
    ir_tasks = [*pipeline.tasks, *pipeline.finally_tasks]
    for entry, task in zip(entries, ir_tasks, strict=True):
        if "taskSpec" in entry:
            matrix = "matrix" in entry
            _tekton_task(entry["taskSpec"], task.name, matrix, decoration)


def _tekton_task(spec: dict[str, Any], task: str, matrix: bool, decoration: Decoration) -> None:
    spec["volumes"] = list(spec.get("volumes") or []) + _volumes(decoration)
    _sidecars(spec.get("sidecars") or [], decoration)
    user_steps: list[dict[str, Any]] = spec["steps"]
    taken = {s["name"] for s in user_steps}
    upload = decoration.upload
    for step in user_steps:
        _user_container(step, decoration)
        if upload is not None:
            step["onError"] = "continue"
    steps = list(user_steps)
    if decoration.refs:
        clone = {
            "name": dns_label(CLONEREFS_NAME, taken),
            "image": decoration.utility_image,
            "command": decoration.clonerefs_command(),
            "volumeMounts": [{"name": SRC_VOLUME, "mountPath": SRC_DIR}],
        }
        steps.insert(0, clone)
    if upload is not None:
        target = upload.task_url(_task_dir(task, matrix, "$(context.taskRun.name)"))
        uploader: dict[str, Any] = {
            "name": dns_label(UPLOAD_NAME, taken),
            "image": decoration.utility_image,
            "command": [
                "foredeck",
                "util",
                "upload",
                "--dir",
                ARTIFACTS_DIR,
                "--to",
                target,
                "--exit-codes",
                TEKTON_STEPS_DIR,
            ],
            "volumeMounts": [{"name": ARTIFACTS_VOLUME, "mountPath": ARTIFACTS_DIR}],
        }
        if upload.pod_env():
            uploader["env"] = upload.pod_env()
        steps.append(uploader)
    spec["steps"] = steps
