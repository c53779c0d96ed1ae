"""A task's `build-image:` (foredeck's extension of a Tekton Task) into an IR `ImageBuild`.

A build task has no steps: a host builds it with buildah, a cluster with Kaniko. Its results
`IMAGE_DIGEST` and `IMAGE_URL` are declared for it (declaring them again is allowed, with
string type), so that later tasks can read `$(tasks.build.results.IMAGE_DIGEST)`.
"""

from __future__ import annotations

import re

from foredeck.pipeline.model import BUILD_RESULTS, ImageBuild, ResultSpec, TaskSpec
from foredeck.pipeline.tekton.fields import (
    as_map,
    bool_field,
    check_fields,
    legacy_inputs,
    scalar,
    str_field,
    str_list,
)
from foredeck.types import PipelineError
from foredeck.yamlsrc import SourceMap

KEY = "build-image"
_FIELDS = (
    "destination",
    "context",
    "dockerfile",
    "tags",
    "build-args",
    "target",
    "cache",
    "cache-repo",
    "docker-config-secret",
)
_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIXED = re.compile(r"[^$]*")  # a value with no `$(...)`: checked now


def parse_build(spec: SourceMap, what: str) -> ImageBuild:
    """The `build-image` mapping of a task spec."""
    m = as_map(spec[KEY], spec.at(KEY), f"{what} {KEY!r}")
    bwhat = f"{what} {KEY}"
    check_fields(m, _FIELDS, bwhat)
    destination = str_field(m, "destination", bwhat, required=True) or ""
    if not destination.strip():
        raise PipelineError(m.at("destination"), f"{bwhat}: 'destination' must not be empty")
    last = destination.rsplit("/", 1)[-1]
    if _FIXED.fullmatch(destination) and ("/" not in destination or ":" in last or "@" in last):
        raise PipelineError(
            m.at("destination"),
            f"{bwhat}: destination {destination!r} must be a repository (REGISTRY/NAME),"
            " without a tag or digest; tags go in 'tags'",
        )
    tags = str_list(m, "tags", bwhat) if m.get("tags") is not None else ["latest"]
    if not tags:
        raise PipelineError(m.at("tags"), f"{bwhat}: 'tags' must not be empty")
    for tag in tags:
        if not tag or (_FIXED.fullmatch(tag) and not re.fullmatch(r"[\w][\w.-]{0,127}", tag)):
            raise PipelineError(m.at("tags"), f"{bwhat}: {tag!r} is not a valid image tag")
    build = ImageBuild(
        destination=legacy_inputs(destination),
        context=legacy_inputs(str_field(m, "context", bwhat) or "."),
        dockerfile=legacy_inputs(str_field(m, "dockerfile", bwhat) or "Dockerfile"),
        tags=[legacy_inputs(t) for t in tags],
        build_args=_build_args(m, bwhat),
        target=str_field(m, "target", bwhat) or "",
        cache=bool_field(m, "cache", bwhat),
        cache_repo=legacy_inputs(str_field(m, "cache-repo", bwhat) or ""),
        source=m.source,
    )
    secret = str_field(m, "docker-config-secret", bwhat)
    if secret is not None:
        build.docker_config_secret = secret
    if build.cache_repo and not build.cache:
        raise PipelineError(m.at("cache-repo"), f"{bwhat}: 'cache-repo' needs 'cache: true'")
    return build


def _build_args(m: SourceMap, what: str) -> dict[str, str]:
    """`build-args: {NAME: value}`; a value may hold `$(params.x)`."""
    if m.get("build-args") is None:
        return {}
    args = as_map(m["build-args"], m.at("build-args"), f"{what} 'build-args'")
    out: dict[str, str] = {}
    for name, value in args.items():
        text = scalar(value)
        if not _ARG_NAME.fullmatch(str(name)) or text is None:
            raise PipelineError(
                args.at(name), f"{what}: build arg {name!r} needs a NAME and a string value"
            )
        out[str(name)] = legacy_inputs(text)
    return out


def attach_build(task: TaskSpec, spec: SourceMap, what: str) -> None:
    """Give `task` its build (from `spec`'s `build-image`) and the build's results."""
    if spec.get("steps") or spec.get("sidecars") or spec.get("stepTemplate"):
        raise PipelineError(
            spec.at(KEY), f"{what}: a {KEY!r} task has no steps, sidecars or stepTemplate"
        )
    task.build = parse_build(spec, what)
    declared = {r.name: r for r in task.results}
    for name in BUILD_RESULTS:
        result = declared.get(name)
        if result is None:
            task.results.append(ResultSpec(name, source=task.build.source))
        elif result.type != "string":
            raise PipelineError(result.source, f"{what}: result {name!r} must be a string")
    extra = [r.name for r in task.results if r.name not in BUILD_RESULTS]
    if extra:
        raise PipelineError(
            spec.at(KEY),
            f"{what}: a {KEY!r} task has the results {', '.join(BUILD_RESULTS)} only,"
            f" not {', '.join(extra)}",
        )
