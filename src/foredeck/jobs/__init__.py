"""The job core (Prow's `pjutil`): every job row is made here, whoever asks for it.

The trigger plugin (pull requests, pushes, comments), the API (starts, reruns) and the periodic
scheduler build their rows with these functions, and the controller reads a row's config back
with `job_model`; none of them reaches into another for it.

- `specs`: rows for pull requests and pushes (`job_spec`, `create_jobs`);
- `start`: rows asked for by hand (`start_spec`, `rerun_spec`);
- `periodic`: rows of periodic jobs (`periodic_spec`);
- `refs`: the refs a job tests (`pull_refs`, `push_refs`);
- `keys`: the dedupe keys that make creating a row idempotent;
- `snapshot`: the config snapshot on the row (`job_snapshot`) and its inverse (`job_model`);
- `abort`: aborting a pull request's unfinished presubmits;
- `pipeline`: the pipeline a job runs, built from its model (`build_run`);
- `builds`: where a job's build is in the artifact store (`build_dir`, `store_log_path`).
"""

from foredeck.jobs.abort import abort_presubmits
from foredeck.jobs.builds import build_dir, store_log_path
from foredeck.jobs.keys import MAX_KEY, dedupe_key, periodic_key
from foredeck.jobs.periodic import PERIODIC_CAUSE, periodic_spec
from foredeck.jobs.pipeline import build_run, pipeline_message
from foredeck.jobs.refs import GITHUB_PULL_REF, pull_refs, push_refs
from foredeck.jobs.snapshot import PRESET_ENV, JobSetupError, job_model, job_snapshot
from foredeck.jobs.specs import MAX_REASON, create_jobs, job_spec
from foredeck.jobs.start import API_CAUSE, BadRequest, UnknownJob, rerun_spec, start_spec

__all__ = [
    "API_CAUSE",
    "GITHUB_PULL_REF",
    "MAX_KEY",
    "MAX_REASON",
    "PERIODIC_CAUSE",
    "PRESET_ENV",
    "BadRequest",
    "JobSetupError",
    "UnknownJob",
    "abort_presubmits",
    "build_dir",
    "build_run",
    "create_jobs",
    "dedupe_key",
    "job_model",
    "job_snapshot",
    "job_spec",
    "periodic_key",
    "periodic_spec",
    "pipeline_message",
    "pull_refs",
    "push_refs",
    "rerun_spec",
    "start_spec",
    "store_log_path",
]
