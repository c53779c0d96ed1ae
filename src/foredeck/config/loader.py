"""Load Prow job config from files and directory trees, collecting every problem at once.

Prow's rules apply: only `.yaml`/`.yml` files, basenames unique across the tree (Prow's config
updater keys files by basename), `.prowignore` files exclude paths below their directory with
gitignore patterns, and `..`-prefixed entries (Kubernetes ConfigMap mount internals) are skipped.
All files are merged, presets are applied, then every job is validated; each problem becomes a
`Diagnostic` naming `file:line` and the job, and loading continues with the next job.
"""

from __future__ import annotations

import gc
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pathspec import GitIgnoreSpec
from pydantic import ValidationError

from foredeck.config.jobconfig import JobConfig
from foredeck.config.models import (
    JobBase,
    Periodic,
    Postsubmit,
    Preset,
    Presubmit,
    ProwModel,
    RepoJob,
)
from foredeck.config.pipelines import check_pipeline_path, locate, parse_inline_pipeline
from foredeck.config.presets import PresetIndex, apply_presets, duplicate_preset_labels
from foredeck.config.result import ConfigResult, Diagnostic
from foredeck.config.rules import check_job, value_from_message
from foredeck.config.targets import compile_problem
from foredeck.config.tide import TideConfig
from foredeck.pipeline.errors import each_error
from foredeck.types import PipelineError, Source
from foredeck.validation import location
from foredeck.yamlsrc import MAX_YAML_BYTES, SourceMap, load_documents

PROW_IGNORE = ".prowignore"
YAML_SUFFIXES = (".yaml", ".yml")
_KINDS: dict[str, type[JobBase]] = {
    "presubmits": Presubmit,
    "postsubmits": Postsubmit,
    "periodics": Periodic,
}
PROW_SETTINGS = frozenset(
    {
        "config_version_sha",
        "tide",
        "plank",
        "sinker",
        "deck",
        "branch-protection",
        "gerrit",
        "github_reporter",
        "horologium",
        "slack_reporter",
        "slack_reporter_configs",
        "in_repo_config",
        "jenkins_operators",
        "prowjob_namespace",
        "pod_namespace",
        "log_level",
        "push_gateway",
        "owners_dir_denylist",
        "owners_dir_blacklist",
        "pubsub_subscriptions",
        "pubsub_triggers",
        "github",
        "status_error_link",
        "default_job_timeout",
        "managed_webhooks",
        "prowjob_default_entries",
        "scheduler",
        "moonraker",
        "gangway",
    }
)
"""Top-level keys of Prow's `ProwConfig` (pkg/config/config.go): settings of Prow's own
components, which Prow reads from config.yaml next to the job config. Not typos, not job config."""
PROW_IGNORED = "prow_ignored"
"""Prow's `JobConfig.ProwIgnored`: a key left unparsed on purpose (YAML anchors and the like)."""


# --- finding the files


def _ignore_spec(directory: Path) -> GitIgnoreSpec | None:
    path = directory / PROW_IGNORE
    if not path.is_file():
        return None
    return GitIgnoreSpec.from_lines(path.read_text(encoding="utf-8").splitlines())


def _ignored(path: Path, is_dir: bool, specs: list[tuple[Path, GitIgnoreSpec]]) -> bool:
    for base, spec in specs:
        rel = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        if spec.match_file(rel):
            return True
    return False


def _walk(root: Path) -> list[Path]:
    found: list[Path] = []
    specs_of: dict[Path, list[tuple[Path, GitIgnoreSpec]]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        specs = list(specs_of.get(here.parent, [])) if here != root else []
        own = _ignore_spec(here)
        if own is not None:
            specs.append((here, own))
        specs_of[here] = specs
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith("..") and not _ignored(here / d, True, specs)
        )
        for name in sorted(filenames):
            path = here / name
            if name.startswith("..") or not name.endswith(YAML_SUFFIXES):
                continue
            if not _ignored(path, False, specs):
                found.append(path)
    return found


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Every config file under `paths` (files are taken as given), and discovery errors."""
    files: list[Path] = []
    errors: list[Diagnostic] = []
    by_basename: dict[str, Path] = {}
    for root in paths:
        if root.is_dir():
            candidates = _walk(root)
        elif root.is_file():
            candidates = [root]
        else:
            errors.append(Diagnostic(Source(str(root), 0), "no such file or directory"))
            continue
        for path in candidates:
            first = by_basename.get(path.name)
            if first is not None:
                if first.resolve() != path.resolve():
                    msg = f"duplicated basename is not allowed: {path.name} (also {first})"
                    errors.append(Diagnostic(Source(str(path), 1), msg))
                continue
            by_basename[path.name] = path
            files.append(path)
    return files, errors


def read_yaml_text(path: Path, display: str) -> str:
    """File text with the same refusals as `yamlsrc.load_file` (size, encoding)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PipelineError(Source(display, 0), f"cannot read: {exc.strerror}") from None
    if size > MAX_YAML_BYTES:
        raise PipelineError(Source(display, 1), f"file larger than {MAX_YAML_BYTES} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PipelineError(Source(display, 1), "file is not UTF-8 text") from None
    except OSError as exc:
        raise PipelineError(Source(display, 0), f"cannot read: {exc.strerror}") from None


# --- collecting and building jobs


def _loc_text(loc: Sequence[str | int]) -> str:
    return location(loc) or "job"


def _by_position(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """File by file, line by line: the order an editor or a CI log reader wants."""
    return sorted(diagnostics, key=lambda d: (d.source.file, d.source.line))


def _source_of(data: Any, default: Source) -> Source:
    return data.source if isinstance(data, SourceMap) else default


class ConfigBuilder:
    """Accumulates documents, then builds and validates the jobs in one pass.

    `in_repo` is the `org/repo` of an in-repo config: its `presubmits`/`postsubmits` may be plain
    lists, every job belongs to that repository, and periodics are refused. `lease_types`, when
    given, are the lease types a job's `leases:` may name (the settings' `leases.types`).
    """

    def __init__(
        self, *, in_repo: str | None = None, lease_types: frozenset[str] | None = None
    ) -> None:
        self.in_repo = in_repo
        self.lease_types = lease_types
        self.warnings: list[Diagnostic] = []
        self.errors: list[Diagnostic] = []
        self.files: list[str] = []
        self.decorate_all_jobs = False
        self._raw_jobs: list[tuple[type[JobBase], str, Any, Source]] = []
        self._raw_presets: list[tuple[Any, Source]] = []
        self.tide: TideConfig | None = None
        self._tide_at: Source | None = None

    def error(self, source: Source, message: str, job: str | None = None) -> None:
        self.errors.append(Diagnostic(source, message, job))

    def warn(self, source: Source, message: str, kind: str, job: str | None = None) -> None:
        self.warnings.append(Diagnostic(source, message, job, kind))

    # input

    def add_file(self, path: Path, display: str | None = None) -> None:
        name = display if display is not None else str(path)
        self.files.append(name)
        try:
            docs = load_documents(read_yaml_text(path, name), name, last_key_wins=True)
        except PipelineError as exc:
            self.error(exc.source, exc.message)
            return
        for doc in docs:
            for dup in doc.duplicate_keys:
                msg = (
                    f"key {dup.key!r} is given twice in one mapping (first at line "
                    f"{dup.first.line}); the last one wins, as in Prow"
                )
                self.warn(dup.source, msg, "duplicate-key")
            self.add_document(doc.data, doc.source)

    def add_document(self, data: Any, where: Source) -> None:
        if not isinstance(data, dict):
            self.error(where, "a job config document must be a mapping")
            return
        settings: list[str] = []
        for key, value in data.items():
            at = data.at(key) if isinstance(data, SourceMap) else where
            if key in ("presubmits", "postsubmits"):
                self._add_repo_jobs(key, value, at)
            elif key == "periodics":
                if self.in_repo is not None:
                    self.error(at, "periodics are not allowed in in-repo config")
                else:
                    self._add_list(Periodic, "", value, at, key)
            elif key == "presets":
                if isinstance(value, list):
                    self._raw_presets += [(p, _source_of(p, at)) for p in value]
                elif value is not None:
                    self.error(at, "presets must be a list")
            elif key == "decorate_all_jobs" and self.in_repo is None:
                if not isinstance(value, bool):
                    self.error(at, "decorate_all_jobs must be true or false")
                else:
                    self.decorate_all_jobs = self.decorate_all_jobs or value
            elif key == "tide" and self.in_repo is None:
                self._add_tide(value, at)
            elif key in PROW_SETTINGS and self.in_repo is None:
                settings.append(key)
            elif key != PROW_IGNORED:
                self.warn(at, f"unknown top-level key {key!r} ignored", "unknown-top-level-key")
        if settings:
            at = data.at(settings[0]) if isinstance(data, SourceMap) else where
            msg = f"Prow settings not read by foredeck (not job config): {', '.join(settings)}"
            self.warn(at, msg, "prow-settings")

    def _add_tide(self, raw: Any, at: Source) -> None:
        """The merge pool's section (`config.tide`): once in the whole config."""
        if self._tide_at is not None:
            self.error(at, f"tide is given twice (first at {self._tide_at})")
            return
        self._tide_at = at
        if not isinstance(raw, dict):
            self.error(at, "tide must be a mapping")
            return
        try:
            self.tide = TideConfig.model_validate(raw)
        except ValidationError as exc:
            for e in exc.errors():
                loc = tuple(e["loc"])
                message = str(e.get("ctx", {}).get("error", e["msg"]))
                self.error(locate(raw, loc, at), f"tide.{_loc_text(loc)}: {message}")
            return
        for key in self.tide.unknown_fields():
            msg = f"tide field {key!r} is kept but foredeck does not use it"
            self.warn(locate(raw, (key,), at), msg, "unused-prow-field")

    def _add_repo_jobs(self, key: str, value: Any, at: Source) -> None:
        kind = _KINDS[key]
        if value is None:
            return
        if self.in_repo is not None and isinstance(value, list):
            self._add_list(kind, self.in_repo, value, at, key)
            return
        if not isinstance(value, dict):
            self.error(at, f"{key} must be a mapping of org/repo to a list of jobs")
            return
        for org_repo, jobs in value.items():
            repo_at = value.at(org_repo) if isinstance(value, SourceMap) else at
            if "/" not in org_repo:
                self.error(repo_at, f"{key} key {org_repo!r} must be org/repo")
            elif self.in_repo is not None and org_repo != self.in_repo:
                msg = f"in-repo config may only define jobs for {self.in_repo}, not {org_repo}"
                self.error(repo_at, msg)
            else:
                self._add_list(kind, org_repo, jobs, repo_at, f"{key}.{org_repo}")

    def _add_list(
        self, kind: type[JobBase], org_repo: str, jobs: Any, at: Source, what: str
    ) -> None:
        if jobs is None:
            return
        if not isinstance(jobs, list):
            self.error(at, f"{what} must be a list of jobs")
            return
        for raw in jobs:
            self._raw_jobs.append((kind, org_repo, raw, _source_of(raw, at)))

    # building

    def build(
        self, *, presets: Sequence[Preset] = (), decorate_all_jobs: bool | None = None
    ) -> ConfigResult:
        """Validate everything added so far. `presets` come first (a central config's, for an
        in-repo config); `decorate_all_jobs` overrides the documents' own setting."""
        own_presets = self._build_presets()
        all_presets = PresetIndex([*presets, *own_presets])
        decorate_all = self.decorate_all_jobs if decorate_all_jobs is None else decorate_all_jobs
        config = JobConfig(
            presets=own_presets,
            decorate_all_jobs=decorate_all,
            lease_types=self.lease_types,
            tide=self.tide,
        )
        repo_jobs: dict[tuple[str, str], list[RepoJob]] = defaultdict(list)
        for kind, org_repo, raw, where in self._raw_jobs:
            job = self._build_job(kind, org_repo, raw, where, all_presets, decorate_all)
            if job is None:
                continue
            if isinstance(job, Periodic):
                config.periodics.append(job)
            elif isinstance(job, RepoJob):
                repo_jobs[(kind.KIND, org_repo)].append(job)
        for (kind_name, org_repo), jobs in repo_jobs.items():
            kept = self._drop_duplicates(kind_name, jobs)
            if kind_name == "presubmit":
                config.presubmits[org_repo] = [j for j in kept if isinstance(j, Presubmit)]
            else:
                config.postsubmits[org_repo] = [j for j in kept if isinstance(j, Postsubmit)]
        config.periodics = self._drop_duplicate_periodics(config.periodics)
        return ConfigResult(
            config, _by_position(self.warnings), _by_position(self.errors), self.files
        )

    def _build_presets(self) -> list[Preset]:
        presets: list[Preset] = []
        for raw, where in self._raw_presets:
            if not isinstance(raw, dict):
                self.error(where, "a preset must be a mapping")
                continue
            try:
                preset = Preset.model_validate(raw)
            except ValidationError as exc:
                self._validation_errors(exc, raw, where, None)
                continue
            preset._source = where
            for key in preset.unknown_fields():
                msg = f"unknown preset field {key!r} (kept)"
                self.warn(locate(raw, (key,), where), msg, "unknown-field")
            for i, env in enumerate(preset.env):
                if env.value_from is not None:
                    msg = f"preset {value_from_message(env.name)}"
                    self.warn(locate(raw, ("env", i), where), msg, "value-from")
            presets.append(preset)
        for preset, pair in duplicate_preset_labels(presets):
            self.error(preset.source, f"duplicated preset 'label:value' pair: {pair}")
        return presets

    def _validation_errors(
        self, exc: ValidationError, raw: Any, where: Source, name: str | None
    ) -> None:
        for e in exc.errors():
            loc = tuple(e["loc"])
            value = e.get("input")
            got = f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""
            msg = f"{_loc_text(loc)}: {e['msg']}{got}"
            self.error(locate(raw, loc, where), msg, name)

    def _build_job(
        self,
        kind: type[JobBase],
        org_repo: str,
        raw: Any,
        where: Source,
        presets: PresetIndex,
        decorate_all: bool,
    ) -> JobBase | None:
        if not isinstance(raw, dict):
            self.error(where, f"a {kind.KIND} must be a mapping")
            return None
        name = raw.get("name") if isinstance(raw.get("name"), str) else None
        try:
            job = kind.model_validate(raw)
        except ValidationError as exc:
            self._validation_errors(exc, raw, where, name)
            return None
        job._source = where
        job._raw = raw
        if isinstance(job, RepoJob):
            job.finalize(org_repo)
        if job.decorate is None and decorate_all:
            job.decorate = True
        errors_before = len(self.errors)
        for problem in apply_presets(job, presets):
            self.error(where, problem, job.name)
        for finding in check_job(job):
            at = locate(raw, finding.path, where)
            if finding.warning:
                self.warn(at, finding.message, finding.kind, job.name)
            else:
                self.error(at, finding.message, job.name)
        self._field_warnings(job, raw, where)
        self._check_pipeline(job, where)
        self._check_leases(job, where)
        return job if len(self.errors) == errors_before else None

    def _field_warnings(self, job: JobBase, raw: Any, where: Source) -> None:
        for key in job.unknown_fields():
            msg = f"unknown field {key!r} (kept; foredeck does not use it)"
            self.warn(locate(raw, (key,), where), msg, "unknown-field", job.name)
        for key in job.unused_fields():
            msg = f"Prow field {key!r} is kept but foredeck does not use it yet"
            self.warn(locate(raw, (key,), where), msg, "unused-prow-field", job.name)
        nested: list[tuple[tuple[str | int, ...], ProwModel | None]] = [
            (("decoration_config",), job.decoration_config),
            (("reporter_config",), job.reporter_config),
        ]
        if job.reporter_config is not None:
            nested.append((("reporter_config", "slack"), job.reporter_config.slack))
        nested += [(("extra_refs", i), ref) for i, ref in enumerate(job.extra_refs)]
        for path, model in nested:
            for key in model.unknown_fields() if model is not None else ():
                dotted = _loc_text((*path, key))
                msg = f"unknown field {dotted!r} (kept; foredeck does not use it)"
                self.warn(locate(raw, (*path, key), where), msg, "unknown-field", job.name)

    def _check_pipeline(self, job: JobBase, where: Source) -> None:
        if job.pipeline is None:
            return
        at = locate(job.raw, ("pipeline",), where)
        path = job.pipeline_path
        if path is not None:
            problem = check_pipeline_path(path)
            if problem:
                self.error(at, problem, job.name)
            return
        try:
            parsed = parse_inline_pipeline(job)
        except PipelineError as exc:
            for error in each_error(exc):
                self.error(error.source, f"pipeline: {error.message}", job.name)
            return
        uncompiled = compile_problem(job, parsed)
        if uncompiled is not None:
            self.errors.append(uncompiled)
        job._inline_pipeline = parsed

    def _check_leases(self, job: JobBase, where: Source) -> None:
        if self.lease_types is None:
            return
        for i, request in enumerate(job.leases):
            if request.type not in self.lease_types:
                known = ", ".join(sorted(self.lease_types)) or "none are configured"
                msg = f"leases: unknown lease type {request.type!r} (leases.types: {known})"
                self.error(locate(job.raw, ("leases", i, "type"), where), msg, job.name)
        inline = job.inline_pipeline
        for need in inline.pipeline.leases if inline is not None else ():
            if need.type not in self.lease_types:
                known = ", ".join(sorted(self.lease_types)) or "none are configured"
                msg = f"pipeline: unknown lease type {need.type!r} (leases.types: {known})"
                self.error(need.source, msg, job.name)

    def _drop_duplicates(self, kind: str, jobs: list[RepoJob]) -> list[RepoJob]:
        """Prow: one name per repo unless the branches never overlap; one context likewise."""
        kept: list[RepoJob] = []
        by_name: dict[str, list[RepoJob]] = defaultdict(list)
        for job in jobs:
            clash = next((o for o in by_name[job.name] if o.intersects(job)), None)
            if clash is not None:
                msg = f"duplicated {kind} job (also defined at {clash.source})"
                self.error(job.source, msg, job.name)
                continue
            by_name[job.name].append(job)
            kept.append(job)
        by_context: dict[str, list[RepoJob]] = defaultdict(list)
        for job in kept:
            for other in by_context[job.context]:
                if other.name != job.name and other.intersects(job):
                    msg = (
                        f"jobs {other.name} and {job.name} report to the same GitHub context "
                        f"{job.context!r} (other job at {other.source})"
                    )
                    self.error(locate(job.raw, ("context",), job.source), msg, job.name)
                    break
            by_context[job.context].append(job)
        return kept

    def _drop_duplicate_periodics(self, periodics: list[Periodic]) -> list[Periodic]:
        seen: dict[str, Periodic] = {}
        kept: list[Periodic] = []
        for job in periodics:
            first = seen.get(job.name)
            if first is not None:
                self.error(
                    job.source, f"duplicated periodic job (also at {first.source})", job.name
                )
                continue
            seen[job.name] = job
            kept.append(job)
        return kept


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a config.

    Loading allocates hundreds of thousands of long-lived, acyclic objects; each automatic
    collection would walk all of them again, which more than doubles the load time of a large
    config. Nothing built here forms reference cycles, so nothing is left for the collector.
    On the way out everything goes straight to the oldest generation (`freeze` then `unfreeze`
    moves the lists without walking them): otherwise the first allocation after re-enabling
    would scan every object allocated meanwhile, a quarter of a Kubernetes-sized load. Whatever
    else the process had in the young generations is promoted too: its cyclic garbage waits for
    the next full collection instead of the next young one. Not when the process froze its
    start-up objects itself (`foredeck serve` does, for the hook): `unfreeze` would hand those
    back to the collector.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def load_config(
    paths: Iterable[Path | str],
    *,
    presets: Sequence[Preset] = (),
    lease_types: frozenset[str] | None = None,
) -> ConfigResult:
    """Load and validate the Prow job config in `paths` (files and/or directory trees);
    `lease_types`: see `ConfigBuilder`."""
    with paused_gc():
        files, discovery_errors = discover(Path(p) for p in paths)
        builder = ConfigBuilder(lease_types=lease_types)
        builder.errors += discovery_errors
        for path in files:
            builder.add_file(path)
        return builder.build(presets=presets)
