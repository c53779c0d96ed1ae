"""A `build-image` task on a cluster: Kaniko's executor, for both emitters.

The build becomes two steps: Kaniko builds and pushes (`--destination` per tag, the digest
written by `--digest-file` to the `IMAGE_DIGEST` result file), then a shell of Kaniko's debug
image writes `IMAGE_URL`, as Tekton's catalog build tasks do. Registry credentials are a
docker config from a Secret (`kubernetes.io/dockerconfigjson`, optional: IRSA or workload
identity need none) mounted at `/kaniko/.docker`.
"""

from __future__ import annotations

import posixpath
from typing import Any

from foredeck.pipeline.model import IMAGE_DIGEST, IMAGE_URL, ImageBuild, Step, TaskSpec

KANIKO_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2"
KANIKO_DEBUG_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2-debug"
BUILD_STEP = "build-and-push"
URL_STEP = "write-url"
DOCKER_CONFIG_VOLUME = "kaniko-docker-config"
DOCKER_CONFIG_DIR = "/kaniko/.docker"
_WRITE = 'printf %s "$1" > "$2"'


def kaniko_args(build: ImageBuild) -> list[str]:
    """The executor's arguments (values keep their `$(...)` references). A relative context
    is relative to the container's working directory, as a step's paths are: Kaniko's
    `/workspace`, or the checkout a decorated pod starts in."""
    context = build.context
    dockerfile = build.dockerfile
    if not dockerfile.startswith(("/", "$(")):
        dockerfile = posixpath.join(context, dockerfile)
    args = [f"--dockerfile={dockerfile}", f"--context={context}"]
    args += [f"--destination={build.destination}:{tag}" for tag in build.tags]
    args.append(f"--digest-file=$(results.{IMAGE_DIGEST}.path)")
    args += [f"--build-arg={name}={value}" for name, value in build.build_args.items()]
    if build.target:
        args.append(f"--target={build.target}")
    if build.cache:
        args.append("--cache=true")
        if build.cache_repo:
            args.append(f"--cache-repo={build.cache_repo}")
    return args


def build_steps(spec: TaskSpec) -> list[Step]:
    """The steps a build task runs on a cluster (the spec's own steps otherwise)."""
    build = spec.build
    if build is None:
        return list(spec.steps)
    kaniko = Step(BUILD_STEP, KANIKO_IMAGE, args=kaniko_args(build), source=build.source)
    url = f"{build.destination}:{build.tags[0]}"
    write = Step(
        URL_STEP,
        KANIKO_DEBUG_IMAGE,
        command=["/busybox/sh", "-c", _WRITE, URL_STEP, url, f"$(results.{IMAGE_URL}.path)"],
        source=build.source,
    )
    return [kaniko, write]


def docker_config_volume(build: ImageBuild) -> dict[str, Any]:
    return {
        "name": DOCKER_CONFIG_VOLUME,
        "secret": {
            "secretName": build.docker_config_secret,
            "optional": True,
            "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
        },
    }


def docker_config_mount() -> dict[str, Any]:
    return {"name": DOCKER_CONFIG_VOLUME, "mountPath": DOCKER_CONFIG_DIR, "readOnly": True}


def add_to_tekton(spec: TaskSpec, task: dict[str, Any]) -> None:
    """Mount the docker config into the Kaniko step of an emitted Tekton task spec."""
    if spec.build is None:
        return
    task.setdefault("volumes", []).append(docker_config_volume(spec.build))
    for step in task["steps"]:
        if step.get("image") == KANIKO_IMAGE:
            step.setdefault("volumeMounts", []).append(docker_config_mount())


def add_to_argo(spec: TaskSpec, template: dict[str, Any]) -> None:
    """Mount the docker config into the Kaniko container of an emitted Argo template."""
    if spec.build is None:
        return
    template.setdefault("volumes", []).append(docker_config_volume(spec.build))
    for container in template.get("containerSet", {}).get("containers", []):
        if container.get("image") == KANIKO_IMAGE:
            container.setdefault("volumeMounts", []).append(docker_config_mount())
