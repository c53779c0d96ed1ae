"""Prow's validation rules for single jobs (`validateJobBase`, `validateTriggering`, ...).

Each rule returns `Finding`s that carry the key path inside the job, so the loader can name the
exact `file:line` of the offending key. Where Prow accepts something that is probably a mistake,
the finding is a warning: real Prow configs must keep loading.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from croniter import croniter

from foredeck.config.durations import DurationError, parse_go_duration
from foredeck.config.models import (
    KNOWN_AGENTS,
    JobBase,
    Periodic,
    Postsubmit,
    Presubmit,
    RepoJob,
    default_trigger,
)
from foredeck.config.regex import RegexError

Path = tuple[str | int, ...]

JOB_NAME_RE = re.compile(r"^[A-Za-z0-9-._]+$")
_JENKINS_NAME_RE = re.compile(r"^[A-Za-z0-9-._]([A-Za-z0-9-._/]*[A-Za-z0-9-_])?$")
_LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# Labels a job may not set: Prow's `decorate.Labels()` (pkg/pod-utils/decorate/podspec.go), the
# ones its validation refuses. Prow also sets `prow.k8s.io/job`, `refs.org`, ... on every ProwJob,
# but a job's own labels override those, and real periodics set `prow.k8s.io/refs.org`/`refs.repo`
# to be filed under a repository.
RESERVED_LABELS = frozenset({"prow.k8s.io/type", "created-by-prow", "prow.k8s.io/id"})
# Env that Prow's downward API (and foredeck's executor) sets for each job type.
_BASE_ENV = frozenset(
    {"JOB_NAME", "JOB_SPEC", "JOB_TYPE", "PROW_JOB_ID", "BUILD_ID", "BUILD_NUMBER"}
)
_REFS_ENV = frozenset({"REPO_OWNER", "REPO_NAME", "PULL_BASE_REF", "PULL_BASE_SHA", "PULL_REFS"})
_PULL_ENV = frozenset({"PULL_NUMBER", "PULL_PULL_SHA", "PULL_HEAD_REF"})
RESERVED_ENV = {
    "periodic": _BASE_ENV,
    "postsubmit": _BASE_ENV | _REFS_ENV,
    "presubmit": _BASE_ENV | _REFS_ENV | _PULL_ENV,
}
# Volumes that decoration adds: mounts may name them without declaring them.
DECORATION_VOLUMES = frozenset({"logs", "tools", "code", "output", "gcs-credentials"})
_SPEC_AGENTS = frozenset({"kubernetes", "local", "argo", "tekton"})
_DECORATION_DURATIONS = (
    "timeout",
    "grace_period",
    "pod_pending_timeout",
    "pod_running_timeout",
    "pod_unscheduled_timeout",
)
_CRON_DESCRIPTORS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


@dataclass(frozen=True)
class Finding:
    """One problem with a job: `path` is the key path inside the job's mapping."""

    path: Path
    message: str
    warning: bool = False
    kind: str = ""
    """What sort of warning: `foredeck config check` counts warnings by kind."""


def _err(path: Path, message: str) -> Finding:
    return Finding(path, message)


def _warn(path: Path, message: str, kind: str) -> Finding:
    return Finding(path, message, warning=True, kind=kind)


def value_from_message(name: str) -> str:
    return f"env {name} uses valueFrom, which runs only on Kubernetes agents"


def is_qualified_name(key: str) -> bool:
    """Kubernetes `IsQualifiedName`: `[prefix/]name`, name <= 63 chars, prefix a DNS subdomain."""
    prefix, sep, name = key.rpartition("/")
    if sep and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix)):
        return False
    return 0 < len(name) <= 63 and _LABEL_NAME_RE.match(name) is not None


def is_label_value(value: str) -> bool:
    return value == "" or (len(value) <= 63 and _LABEL_NAME_RE.match(value) is not None)


def check_job(job: JobBase) -> list[Finding]:
    """Every rule that looks at one job alone (duplicates are `check_repo_jobs`)."""
    findings = list(_base_rules(job))
    if isinstance(job, Presubmit):
        findings += _presubmit_rules(job)
    elif isinstance(job, Postsubmit):
        findings += _change_rules(job, bool(job.always_run))
    if isinstance(job, RepoJob):
        findings += _regex_rules(job)
        if job.branches and job.skip_branches:
            msg = "both branches and skip_branches are set; skip_branches wins (as in Prow)"
            findings.append(_warn(("skip_branches",), msg, "branches-and-skip-branches"))
    if isinstance(job, Periodic):
        findings += _periodic_rules(job)
    return findings


def _base_rules(job: JobBase) -> Iterator[Finding]:
    name_re = _JENKINS_NAME_RE if job.agent == "jenkins" else JOB_NAME_RE
    if not name_re.match(job.name):
        yield _err(("name",), f"name must match regex {name_re.pattern!r}")
    if job.max_concurrency < 0:
        yield _err(("max_concurrency",), "max_concurrency must be a non-negative number")
    yield from _agent_rules(job)
    for key, value in job.labels.items():
        if key in RESERVED_LABELS:
            yield _err(("labels", key), f"label {key} is reserved for Prow")
        elif not is_qualified_name(key):
            yield _err(("labels", key), f"invalid label name {key!r}")
        elif not is_label_value(value):
            yield _err(("labels", key), f"label {key} has invalid value {value!r}")
    for key in job.annotations:
        if not is_qualified_name(key):
            yield _err(("annotations", key), f"invalid annotation key {key!r}")
    dc = job.decoration_config
    if dc is not None:
        for field in _DECORATION_DURATIONS:
            duration: object = getattr(dc, field, None)
            if duration is None and dc.model_extra:
                duration = dc.model_extra.get(field)
            if duration is not None:
                yield from _duration(("decoration_config", field), duration)
    if job.spec is not None:
        yield from _pod_spec_rules(job)
    if job.pipeline_params and job.pipeline is None:
        msg = "pipeline_params has no effect without pipeline"
        yield _warn(("pipeline_params",), msg, "pipeline-params")


def _agent_rules(job: JobBase) -> Iterator[Finding]:
    agent = job.agent
    extra = job.model_extra or {}
    has_prs = extra.get("pipeline_run_spec") is not None or (
        extra.get("tekton_pipeline_run_spec") is not None
    )
    if agent not in KNOWN_AGENTS:
        msg = f"agent {agent!r} is unknown and cannot be validated"
        yield _warn(("agent",), msg, "agent")
        return
    if job.spec is not None and job.pipeline is not None:
        yield _err(("pipeline",), "a job sets either spec or pipeline, not both")
    if job.spec is not None and agent not in _SPEC_AGENTS:
        yield _err(("agent",), f"job specs require agent: kubernetes (found {agent!r})")
    if agent in _SPEC_AGENTS and job.spec is None and job.pipeline is None:
        yield _err((), f"agent {agent} jobs require a spec or a pipeline")
    if has_prs and agent != "tekton-pipeline":
        yield _err(("agent",), f"pipeline_run_spec requires agent: tekton-pipeline ({agent!r})")
    if agent == "tekton-pipeline" and not has_prs:
        yield _err(("agent",), "agent: tekton-pipeline jobs require a pipeline_run_spec")
    if agent in ("jenkins", "tekton-pipeline"):
        msg = f"foredeck does not run agent {agent} jobs yet; use pipeline:"
        yield _warn(("agent",), msg, "agent")
        if job.decoration_config is not None:
            msg = f"decoration requires agent: kubernetes (found {agent!r})"
            yield _err(("decoration_config",), msg)


def _decorated(job: JobBase) -> bool:
    return bool(job.decorate) or job.decoration_config is not None


def _pod_spec_rules(job: JobBase) -> Iterator[Finding]:
    spec = job.spec
    assert spec is not None
    if spec.init_containers:
        yield _err(("spec", "initContainers"), "pod spec may not use init containers")
    containers = spec.containers
    if not containers:
        yield _err(("spec",), "pod spec must specify at least 1 container, found: 0")
        return
    if len(containers) > 1 and not _decorated(job):
        msg = (
            f"pod utility decoration must be enabled to use multiple containers: {len(containers)}"
        )
        yield _err(("spec", "containers"), msg)
    if len(containers) > 1:
        seen: set[str] = set()
        for i, c in enumerate(containers):
            if not c.name:
                msg = "all containers must have names when defining multiple containers"
                yield _err(("spec", "containers", i), msg)
            elif c.name in seen:
                msg = f"container named {c.name!r} is defined more than once"
                yield _err(("spec", "containers", i, "name"), msg)
            seen.add(c.name)
    reserved = RESERVED_ENV.get(type(job).KIND, _BASE_ENV)
    volume_names: set[str] = set()
    for i, volume in enumerate(spec.volumes):
        vname = volume.get("name")
        if vname in volume_names:
            yield _err(("spec", "volumes", i), f"volume named {vname!r} is defined more than once")
        volume_names.add(str(vname))
    for i, c in enumerate(containers):
        where: Path = ("spec", "containers", i)
        env_names: set[str] = set()
        for j, env in enumerate(c.env):
            if env.name in env_names:
                msg = f"env var named {env.name!r} is defined more than once"
                yield _err((*where, "env", j), msg)
            env_names.add(env.name)
            if env.name in reserved:
                yield _err((*where, "env", j), f"env {env.name} is reserved")
            if env.value_from is not None and not env.from_preset:  # the preset warns once
                yield _warn((*where, "env", j), value_from_message(env.name), "value-from")
        for j, mount in enumerate(c.volume_mounts):
            mname = mount.get("name")
            if mname not in volume_names and mname not in DECORATION_VOLUMES:
                msg = f"volumeMount named {mname!r} is undefined"
                yield _err((*where, "volumeMounts", j), msg)
        argv = [*c.command, *c.args]
        if _decorated(job) and (not argv or argv[0] == ""):
            msg = "decorated job containers must specify command and/or args"
            yield _err(where, msg)


def _change_rules(job: RepoJob, always_run: bool) -> Iterator[Finding]:
    if always_run and job.run_if_changed:
        msg = "always_run and run_if_changed are mutually exclusive"
        yield _err(("run_if_changed",), msg)
    if always_run and job.skip_if_only_changed:
        msg = "always_run and skip_if_only_changed are mutually exclusive"
        yield _err(("skip_if_only_changed",), msg)
    if job.run_if_changed and job.skip_if_only_changed:
        msg = "run_if_changed and skip_if_only_changed are mutually exclusive"
        yield _err(("skip_if_only_changed",), msg)


def _presubmit_rules(job: Presubmit) -> Iterator[Finding]:
    yield from _change_rules(job, job.always_run)
    if bool(job.trigger) != bool(job.rerun_command):
        msg = "trigger and rerun_command must both be set, or neither"
        yield _err(("trigger" if job.trigger else "rerun_command",), msg)
        return
    if job.trigger == default_trigger(job.name) and job.rerun_command == f"/test {job.name}":
        return  # the default pair always matches; compiling it can wait for the first comment
    try:
        if not job.trigger_matches(job.rerun_command):
            msg = f"rerun command {job.rerun_command!r} does not match trigger {job.trigger!r}"
            yield _err(("rerun_command",), msg)
    except RegexError as exc:
        yield _err(("trigger",), f"trigger: {exc}")


def _regex_rules(job: RepoJob) -> Iterator[Finding]:
    for field, attr in (
        ("branches", "_branch_re"),
        ("skip_branches", "_skip_re"),
        ("run_if_changed" if job.run_if_changed else "skip_if_only_changed", "_changes_re"),
    ):
        try:
            getattr(job, attr)()
        except RegexError as exc:
            yield _err((field,), f"{field}: {exc}")


def _periodic_rules(job: Periodic) -> Iterator[Finding]:
    set_fields = [f for f in ("cron", "interval", "minimum_interval") if getattr(job, f)]
    if len(set_fields) > 1:
        msg = "cron, interval, and minimum_interval are mutually exclusive"
        yield _err((set_fields[1],), msg)
        return
    if not set_fields:
        yield _err((), "at least one of cron, interval, or minimum_interval must be set")
        return
    if job.cron:
        problem = cron_problem(job.cron)
        if problem:
            yield _err(("cron",), f"invalid cron string {job.cron!r}: {problem}")
    if job.interval:
        yield from _duration(("interval",), job.interval)
    if job.minimum_interval:
        yield from _duration(("minimum_interval",), job.minimum_interval)
    if job.retry is not None and job.retry.get("interval") is not None:
        yield from _duration(("retry", "interval"), job.retry["interval"])


def _duration(path: Path, value: object) -> Iterator[Finding]:
    if not isinstance(value, str):
        yield _err(path, f"{path[-1]} must be a duration string like '2h' (got {value!r})")
        return
    try:
        parse_go_duration(value)
    except DurationError as exc:
        yield _err(path, f"{path[-1]}: {exc}")


def cron_problem(expr: str) -> str | None:
    """Why Prow's cron parser (robfig/cron) would refuse `expr`, or None when it is valid.

    Accepts 5 fields, 6 fields with leading seconds, `@daily`-style descriptors, `@every DUR` and
    a leading `TZ=`/`CRON_TZ=` zone, like Prow.
    """
    text = expr.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        _, _, text = text.partition(" ")
        text = text.strip()
    if text.startswith("@every "):
        try:
            parse_go_duration(text[len("@every ") :])
        except DurationError as exc:
            return str(exc)
        return None
    if text.startswith("@"):
        return None if text in _CRON_DESCRIPTORS else f"unknown descriptor {text!r}"
    fields = text.replace("?", "*").split()
    if len(fields) == 6:
        seconds, fields = fields[0], fields[1:]
        if not croniter.is_valid(f"* * * * * {seconds}"):
            return f"invalid seconds field {seconds!r}"
    if len(fields) != 5:
        return f"expected 5 or 6 fields, found {len(fields)}"
    if not croniter.is_valid(" ".join(fields)):
        return "invalid field value"
    return None
