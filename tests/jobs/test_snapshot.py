"""The config snapshot on a job row and the job model back from it (`foredeck.jobs.snapshot`)."""

from __future__ import annotations

from pathlib import Path

from foredeck.db.models import Job
from foredeck.jobs import job_model, job_snapshot
from tests.config.helpers import PRESETS, load_text, messages


def test_preset_env_of_a_pipeline_job_travels_in_the_job_rows_snapshot(tmp_path: Path) -> None:
    """A `pipeline:` job gets preset env at run time (from the row's config snapshot), not in
    its spec; the snapshot must carry it, and the controller must rebuild it from there."""
    text = (
        PRESETS
        + """presubmits:
  org/repo:
  - name: piped
    labels: {preset-creds: "true"}
    always_run: true
    pipeline: ci/pipeline.yaml
"""
    )
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    [piped] = result.jobs.find("piped")
    snapshot = job_snapshot(piped)
    assert snapshot["preset_env"] == {"CREDS": "/etc/creds", "EVERYWHERE": "1"}
    row = Job(name="piped", type="presubmit", job_config=snapshot)
    rebuilt = job_model(row)
    assert rebuilt.preset_env == {"CREDS": "/etc/creds", "EVERYWHERE": "1"}
