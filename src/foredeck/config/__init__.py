"""Prow-compatible job configuration: models, loading, presets, in-repo config and matching."""

from foredeck.config.agent import ConfigAgent, JobConfigError
from foredeck.config.durations import DurationError, parse_go_duration
from foredeck.config.inrepo import IN_REPO_DIR, IN_REPO_FILE, load_in_repo, merge_in_repo
from foredeck.config.jobconfig import JobConfig, branch_of_ref
from foredeck.config.loader import ConfigBuilder, discover, load_config
from foredeck.config.models import (
    ChangedFiles,
    Container,
    DecorationConfig,
    EnvVar,
    JobBase,
    Periodic,
    PodSpec,
    Postsubmit,
    Preset,
    Presubmit,
    Refs,
    RepoJob,
    ReporterConfig,
    default_rerun_command,
    default_trigger,
)
from foredeck.config.pipelines import job_pipeline, spec_pipeline
from foredeck.config.regex import RegexError, compile_go_regex
from foredeck.config.result import ConfigResult, Diagnostic
from foredeck.config.triggering import requested_presubmits

__all__ = [
    "IN_REPO_DIR",
    "IN_REPO_FILE",
    "ChangedFiles",
    "ConfigAgent",
    "ConfigBuilder",
    "ConfigResult",
    "Container",
    "DecorationConfig",
    "Diagnostic",
    "DurationError",
    "EnvVar",
    "JobBase",
    "JobConfig",
    "JobConfigError",
    "Periodic",
    "PodSpec",
    "Postsubmit",
    "Preset",
    "Presubmit",
    "Refs",
    "RegexError",
    "RepoJob",
    "ReporterConfig",
    "branch_of_ref",
    "compile_go_regex",
    "default_rerun_command",
    "default_trigger",
    "discover",
    "job_pipeline",
    "load_config",
    "load_in_repo",
    "merge_in_repo",
    "parse_go_duration",
    "requested_presubmits",
    "spec_pipeline",
]
