"""Real Prow config loads as Prow loads it (sigs.k8s.io/yaml decoding, Prow's own rules).

`tests/data/config/k8s-test-infra/` holds files of kubernetes/test-infra's own job config (see
its README); each test below pins one class of error foredeck used to report on it falsely.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from foredeck.config import ConfigResult, JobBase, Periodic, Presubmit, load_config
from foredeck.config.decoding import go_float_text
from tests.config.helpers import DATA, load_text, messages, one_error

K8S = DATA / "k8s-test-infra"


def k8s() -> ConfigResult:
    return load_config([K8S])


def periodic(result: ConfigResult, name: str) -> Periodic:
    return next(p for p in result.jobs.periodics if p.name == name)


def env_of(job: JobBase) -> dict[str, str]:
    assert job.spec is not None
    return {e.name: e.value for e in job.spec.containers[0].env}


def test_kubernetes_test_infra_subset_loads_without_errors() -> None:
    result = k8s()
    assert messages(result) == []
    assert result.jobs.counts()["periodics"] == 4
    assert len(result.jobs.presets) == 25  # 15 in the whole config.yaml, 10 in presets files
    # tide's fields foredeck does not use (pr_status_base_urls, priority) are kept, with a warning
    kinds = ["prow-settings", "unused-prow-field", "value-from"]
    assert sorted({w.kind for w in result.warnings}) == kinds


def test_key_without_value_is_empty_like_sigs_yaml() -> None:
    """`extra_refs:` followed by nothing (a generated dra-ci.yaml job) is an empty list."""
    job = periodic(k8s(), "ci-kind-dra")
    assert job.extra_refs == []


def test_number_in_string_field_is_its_text() -> None:
    """`value: 1000` in a preset's env var (sig-scalability-presets.yaml) is the string "1000"."""
    result = k8s()
    env = env_of(periodic(result, "ci-kubernetes-kubemark-100-gce"))
    assert env["ALLOWED_NOTREADY_NODES"] == "1"
    assert env["LOGROTATE_FILES_MAX_COUNT"] == "1000"
    assert env["GOPROXY"] == "https://proxy.golang.org"  # the label-less preset: every job


def test_refs_labels_are_not_reserved() -> None:
    """Prow reserves only `decorate.Labels()`; real periodics set `prow.k8s.io/refs.*`."""
    job = periodic(k8s(), "ci-kind-dra")
    assert job.labels["prow.k8s.io/refs.org"] == "kubernetes"


NULLS = """
presubmits:
  org/repo:
  - name: nulls
    always_run:
    optional:
    max_concurrency:
    context:
    labels:
    annotations:
    branches:
    decorate:
    extra_refs:
    spec:
      containers:
      - image: img
        command:
        args:
        env:
        volumeMounts:
      volumes:
"""


def test_every_kind_of_field_takes_its_zero_value_from_null(tmp_path: Path) -> None:
    result = load_text(tmp_path, NULLS)
    assert messages(result) == []
    job = result.jobs.presubmits["org/repo"][0]
    assert (job.always_run, job.optional, job.max_concurrency) == (False, False, 0)
    assert job.context == "nulls"  # "" and then Prow's default
    assert (job.labels, job.annotations, job.branches, job.extra_refs) == ({}, {}, [], [])
    assert job.decorate is None  # a pointer in Go: null stays unset
    assert job.spec is not None
    container = job.spec.containers[0]
    assert (container.command, container.args, container.env) == ([], [], [])
    assert job.spec.volumes == []


SCALARS = """
periodics:
- name: scalars
  interval: 1h
  labels: {preset-on: true, tier: 1}
  annotations: {testgrid-num-failures-to-alert: 3, ratio: 1.10, big: 1.0e+6, when: 2020-06-24}
  extra_refs:
  - {org: kubernetes, repo: website, base_ref: 1.0}
  spec:
    containers:
    - image: img
      args: [--retries, 3, --fast, true]
      env:
      - {name: TIMEOUT, value: 300}
      - {name: DEBUG, value: yes}
      - {name: STAMP, value: 2020-06-24T00:10:00Z}
"""


def test_numbers_booleans_and_dates_in_string_fields_are_text(tmp_path: Path) -> None:
    result = load_text(tmp_path, SCALARS)
    assert messages(result) == []
    job = result.jobs.periodics[0]
    assert job.labels == {"preset-on": "true", "tier": "1"}
    assert job.annotations == {
        "testgrid-num-failures-to-alert": "3",
        "ratio": "1.1",
        "big": "1e+06",
        "when": "2020-06-24",
    }
    assert job.extra_refs[0].base_ref == "1"
    assert job.spec is not None
    assert job.spec.containers[0].args == ["--retries", "3", "--fast", "true"]
    assert env_of(job) == {"TIMEOUT": "300", "DEBUG": "true", "STAMP": "2020-06-24T00:10:00Z"}


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.5, "0.5"), (1.1, "1.1"), (100.0, "100"), (1e6, "1e+06"), (1.5e-5, "1.5e-05")],
)
def test_floats_are_formatted_as_go_formats_them(value: float, text: str) -> None:
    assert go_float_text(value) == text


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        ("value: [1, 2]", 7, "value: Input should be a valid string"),
        ("value: {a: 1}", 7, "value: Input should be a valid string"),
    ],
)
def test_a_list_or_map_in_a_string_field_is_still_an_error(
    tmp_path: Path, body: str, line: int, needle: str
) -> None:
    text = f"""
    periodics:
    - name: p
      interval: 1h
      spec:
        containers:
        - image: img
          env: [{{name: X, {body}}}]
    """
    err = one_error(load_text(tmp_path, text))
    assert needle in err
    assert err.startswith(f"{tmp_path / 'jobs.yaml'}:{line}: job p: "), err


def test_numeric_timeout_is_still_refused_as_prow_does(tmp_path: Path) -> None:
    """Prow's Duration decodes only a string: `timeout: 7200` fails there too."""
    text = "periodics:\n- {name: p, interval: 1h, decoration_config: {timeout: 7200},"
    text += " spec: {containers: [{image: i, command: [x]}]}}\n"
    err = one_error(load_text(tmp_path, text))
    assert ":2: job p: timeout:" in err


def test_null_name_is_an_error(tmp_path: Path) -> None:
    err = one_error(
        load_text(
            tmp_path, "periodics:\n- name:\n  interval: 1h\n  spec: {containers: [{image: i}]}\n"
        )
    )
    assert "name must match regex" in err


def labelled(label: str) -> str:
    return f"periodics:\n- {{name: p, interval: 1h, labels: {{{label}: x}}, spec: {SPEC}}}\n"


SPEC = "{containers: [{image: i}]}"


@pytest.mark.parametrize(
    "label",
    [
        "prow.k8s.io/refs.org",
        "prow.k8s.io/refs.repo",
        "prow.k8s.io/refs.base_ref",
        "prow.k8s.io/refs.pull",
        "prow.k8s.io/job",
        "prow.k8s.io/build-id",
        "prow.k8s.io/context",
    ],
)
def test_labels_prow_sets_but_does_not_reserve_are_accepted(tmp_path: Path, label: str) -> None:
    text = labelled(label)
    result = load_text(tmp_path, text)
    assert messages(result) == []


@pytest.mark.parametrize("label", ["prow.k8s.io/type", "prow.k8s.io/id", "created-by-prow"])
def test_decoration_labels_stay_reserved(tmp_path: Path, label: str) -> None:
    text = labelled(label)
    err = one_error(load_text(tmp_path, text))
    assert f"label {label} is reserved for Prow" in err


PRESET_VALUE_FROM = """
presets:
- labels: {preset-token: "true"}
  env:
  - name: TOKEN
    valueFrom: {secretKeyRef: {name: token, key: token}}
presubmits:
  org/repo:
  - name: a
    labels: {preset-token: "true"}
    spec: {containers: [{image: i}]}
  - name: b
    labels: {preset-token: "true"}
    spec: {containers: [{image: i}]}
periodics:
- name: c
  interval: 1h
  labels: {preset-token: "true"}
  spec:
    containers:
    - image: i
      env:
      - name: OWN
        valueFrom: {secretKeyRef: {name: own, key: own}}
"""


def test_a_preset_warning_is_reported_once_where_the_preset_declares_it(tmp_path: Path) -> None:
    result = load_text(tmp_path, PRESET_VALUE_FROM)
    path = tmp_path / "jobs.yaml"
    assert messages(result) == []
    assert messages(result, warnings=True) == [
        f"{path}:4: preset env TOKEN uses valueFrom, which runs only on Kubernetes agents",
        f"{path}:22: job c: env OWN uses valueFrom, which runs only on Kubernetes agents",
    ]
    assert {w.kind for w in result.warnings} == {"value-from"}
    job = result.jobs.presubmits["org/repo"][0]
    assert isinstance(job, Presubmit)
    assert job.spec is not None
    assert [e.name for e in job.spec.containers[0].env] == ["TOKEN"]  # still merged


USERS = DATA / "prow-users"
PERIBOLOS = USERS / "knative-infra" / "prow" / "jobs" / "custom" / "peribolos.yaml"


def test_a_repeated_key_takes_its_last_value_with_a_warning() -> None:
    """knative's peribolos.yaml gives `decoration_config` twice in a periodic; Prow's non-strict
    sigs.k8s.io/yaml keeps the last one, so the file loads and the job times out after 3h."""
    result = load_config([PERIBOLOS])
    assert messages(result) == []
    assert result.jobs.counts()["periodics"] == 2
    assert periodic(result, "ci-knative-peribolos").timeout_seconds == 3 * 3600
    assert [str(w) for w in result.warnings if w.kind == "duplicate-key"] == [
        f"{PERIBOLOS}:{line}: key 'decoration_config' is given twice in one mapping (first at "
        f"line {first}); the last one wins, as in Prow"
        for first, line in ((216, 219), (267, 270))
    ]


MERGED = """
presubmits:
  org/repo:
  - &unit
    name: unit
    always_run: true
    spec: {containers: [{image: i, command: [make]}]}
  - <<: *unit
    name: lint
    always_run: false
"""


def test_keys_a_merge_brings_in_can_be_overridden(tmp_path: Path) -> None:
    """`<<: *anchor` then a key of the anchor's own is YAML's override, not a repeated key."""
    result = load_text(tmp_path, MERGED)
    assert messages(result) == []
    assert messages(result, warnings=True) == []
    jobs = {j.name: j for j in result.jobs.presubmits["org/repo"]}
    assert (jobs["unit"].always_run, jobs["lint"].always_run) == (True, False)
    assert jobs["lint"].spec == jobs["unit"].spec


def test_prow_settings_in_config_yaml_are_one_warning_not_unknown_keys() -> None:
    """Kubernetes' whole config.yaml: plank, deck, tide, ... are Prow's own settings, not typos
    in job config; one warning says foredeck does not read them."""
    result = k8s()
    assert [w for w in result.warnings if w.kind == "unknown-top-level-key"] == []
    (settings,) = [w for w in result.warnings if w.kind == "prow-settings"]
    assert str(settings) == (
        f"{K8S / 'config' / 'prow' / 'config.yaml'}:1: Prow settings not read by foredeck "
        "(not job config): plank, sinker, deck, prowjob_namespace, pod_namespace, log_level, "
        "slack_reporter_configs, branch-protection, github_reporter"
    )


def test_a_misspelt_top_level_key_still_warns_and_prow_ignored_is_silent(tmp_path: Path) -> None:
    text = "prow_ignored:\n  anchors: &a {x: 1}\npresubmit: {}\n"
    result = load_text(tmp_path, text)
    assert messages(result, warnings=True) == [
        f"{tmp_path / 'jobs.yaml'}:3: unknown top-level key 'presubmit' ignored"
    ]
