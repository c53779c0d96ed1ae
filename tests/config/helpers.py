"""Helpers shared by the config tests: write YAML into a temp tree and load it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from foredeck.config import ConfigResult, load_config

DATA = Path(__file__).resolve().parent.parent / "data" / "config"
REALISTIC = DATA / "prow-realistic"

# The trigger's scenario config (tests/hook/plugins) and the config agent's.
JOBS_YAML = """\
presubmits:
  acme/widget:
  - name: unit
    always_run: true
    spec: {containers: [{image: alpine, command: ["make", "test"]}]}
  - name: docs
    run_if_changed: '^docs/'
    spec: {containers: [{image: alpine}]}
  - name: lint
    skip_if_only_changed: '\\.md$'
    optional: true
    spec: {containers: [{image: alpine}]}
  - name: e2e
    spec: {containers: [{image: alpine}]}
  - name: release-check
    always_run: true
    branches: ['^release-']
    spec: {containers: [{image: alpine}]}
postsubmits:
  acme/widget:
  - name: publish
    branches: ['^main$']
    spec: {containers: [{image: alpine}]}
  - name: docs-publish
    run_if_changed: '^docs/'
    spec: {containers: [{image: alpine}]}
"""

PRESETS = """
presets:
- labels: {preset-creds: "true"}
  env: [{name: CREDS, value: /etc/creds}]
  volumes: [{name: creds, secret: {secretName: creds}}]
  volumeMounts: [{name: creds, mountPath: /etc/creds, readOnly: true}]
- labels: {preset-region: eu, preset-tier: gold}
  env: [{name: REGION, value: eu-west-1}]
- env: [{name: EVERYWHERE, value: "1"}]
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, name: str = "jobs.yaml") -> ConfigResult:
    return load_config([write(tmp_path, name, text)])


def messages(result: ConfigResult, *, warnings: bool = False) -> list[str]:
    return [str(d) for d in (result.warnings if warnings else result.errors)]


def one_error(result: ConfigResult) -> str:
    assert len(result.errors) == 1, messages(result)
    return str(result.errors[0])
