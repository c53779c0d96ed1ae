"""Prow's validation rules: each bad config gives one clear error naming file:line and the job."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.helpers import load_text, messages, one_error

SPEC = """
    spec:
      containers:
      - image: alpine
        command: [make, test]
"""


def presubmit(body: str, name: str = "job-a") -> str:
    lines = "\n".join("    " + ln for ln in body.strip("\n").splitlines())
    spec = "\n".join("    " + ln for ln in SPEC.strip("\n").splitlines()[1:])
    return f"presubmits:\n  org/repo:\n  - name: {name}\n{lines}\n    spec:\n{spec}\n"


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        ("always_run: true\nrun_if_changed: ^src/", 5, "always_run and run_if_changed"),
        (
            "always_run: true\nskip_if_only_changed: ^docs/",
            5,
            "always_run and skip_if_only_changed",
        ),
        (
            "run_if_changed: ^src/\nskip_if_only_changed: ^docs/",
            5,
            "run_if_changed and skip_if_only_changed are mutually exclusive",
        ),
        ("trigger: (?m)^/go$", 4, "trigger and rerun_command must both be set"),
        ("rerun_command: /go", 4, "trigger and rerun_command must both be set"),
        ("trigger: (?m)^/go$\nrerun_command: /test job-a", 5, "does not match trigger"),
        ("trigger: (unclosed\nrerun_command: /go", 4, "trigger: invalid regular expression"),
        ("branches: ['(main']", 4, "branches: invalid regular expression"),
        ("skip_branches: ['[z-a]']", 4, "skip_branches: invalid regular expression"),
        ("run_if_changed: '*.go'", 4, "run_if_changed: invalid regular expression"),
        ("max_concurrency: -1", 4, "max_concurrency must be a non-negative number"),
        ("labels: {'bad label': 'x'}", 4, "invalid label name"),
        ("labels: {ok: 'not a valid value!'}", 4, "has invalid value"),
        ("labels: {prow.k8s.io/type: x}", 4, "reserved for Prow"),
        ("annotations: {'no spaces allowed': x}", 4, "invalid annotation key"),
        ("decoration_config: {timeout: 2 hours}", 4, "timeout: invalid duration"),
        ("agent: jenkins", 4, "job specs require agent: kubernetes"),
    ],
)
def test_presubmit_rule(tmp_path: Path, body: str, line: int, needle: str) -> None:
    result = load_text(tmp_path, presubmit(body))
    err = one_error(result)
    assert err.startswith(f"{tmp_path / 'jobs.yaml'}:{line}: job job-a: "), err
    assert needle in err
    assert result.jobs.counts()["presubmits"] == 0  # an invalid job is never scheduled


def test_job_name_must_match_prow_regex(tmp_path: Path) -> None:
    result = load_text(tmp_path, presubmit("always_run: true", name="'bad name!'"))
    err = one_error(result)
    assert ":3: job bad name!: name must match regex" in err


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("spec: {containers: []}", "at least 1 container"),
        (
            "spec: {containers: [{image: a, command: [x], env: [{name: A}, {name: A}]}]}",
            "env var named 'A' is defined more than once",
        ),
        (
            "spec: {containers: [{image: a, command: [x], env: [{name: PULL_BASE_REF}]}]}",
            "env PULL_BASE_REF is reserved",
        ),
        (
            "spec: {containers: [{image: a, command: [x], volumeMounts: [{name: v}]}]}",
            "volumeMount named 'v' is undefined",
        ),
        (
            "spec: {containers: [{image: a, command: [x]}, {image: b, command: [y]}]}",
            "decoration must be enabled to use multiple containers",
        ),
        ("spec: {initContainers: [{image: a}], containers: [{image: a}]}", "init containers"),
    ],
)
def test_pod_spec_rules(tmp_path: Path, spec: str, needle: str) -> None:
    text = f"""
    postsubmits:
      org/repo:
      - name: post
        {spec}
    """
    result = load_text(tmp_path, text)
    assert any(needle in m and "job post:" in m for m in messages(result)), messages(result)


def test_decorated_containers_need_a_command(tmp_path: Path) -> None:
    text = """
    periodics:
    - name: nightly
      interval: 24h
      decorate: true
      spec:
        containers:
        - image: alpine
    """
    err = one_error(load_text(tmp_path, text))
    assert ":7: job nightly: decorated job containers must specify command" in err  # container


@pytest.mark.parametrize(
    ("schedule", "needle"),
    [
        ("", "at least one of cron, interval, or minimum_interval must be set"),
        ("cron: '0 * * * *'\n  interval: 1h", "mutually exclusive"),
        ("interval: 1h\n  minimum_interval: 2h", "mutually exclusive"),
        ("cron: '61 * * * *'", "invalid cron string"),
        ("cron: '@every 1x'", "invalid cron string"),
        ("interval: one hour", "interval: invalid duration"),
        ("minimum_interval: '5'", "minimum_interval: invalid duration"),
    ],
)
def test_periodic_schedule_rules(tmp_path: Path, schedule: str, needle: str) -> None:
    text = f"periodics:\n- name: p1\n  {schedule}\n  spec:\n    containers: [{{image: a}}]\n"
    err = one_error(load_text(tmp_path, text))
    assert "job p1:" in err and needle in err, err


@pytest.mark.parametrize(
    "schedule",
    ["cron: '0 */6 * * *'", "cron: '@daily'", "cron: '0 0 3 * * 1-5'", "interval: 1h30m"],
)
def test_valid_periodic_schedules(tmp_path: Path, schedule: str) -> None:
    text = f"periodics:\n- name: p1\n  {schedule}\n  spec:\n    containers: [{{image: a}}]\n"
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert [p.name for p in result.jobs.periodics] == ["p1"]


def test_branches_with_skip_branches_is_a_warning_like_prow(tmp_path: Path) -> None:
    result = load_text(tmp_path, presubmit("branches: [main]\nskip_branches: [main-old]"))
    assert result.ok
    (warning,) = messages(result, warnings=True)
    assert ":5: job job-a: both branches and skip_branches are set" in warning
    job = result.jobs.presubmits["org/repo"][0]
    assert job.could_run("main") and not job.could_run("main-old")


def test_duplicate_presubmit_on_overlapping_branches(tmp_path: Path) -> None:
    text = presubmit("always_run: true") + "\n".join(presubmit("branches: [main]").splitlines()[2:])
    result = load_text(tmp_path, text)
    err = one_error(result)
    assert f"{tmp_path / 'jobs.yaml'}:9: job job-a: duplicated presubmit job" in err
    assert "also defined at" in err and "jobs.yaml:3" in err
    assert len(result.jobs.presubmits["org/repo"]) == 1  # the first definition is kept


def test_same_name_on_disjoint_branches_is_allowed(tmp_path: Path) -> None:
    text = presubmit("branches: [^main$]") + "\n".join(
        presubmit("branches: [^release-1\\.0$]").splitlines()[2:]
    )
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert len(result.jobs.presubmits["org/repo"]) == 2


def test_same_name_in_other_repos_is_allowed(tmp_path: Path) -> None:
    text = presubmit("always_run: true") + presubmit("always_run: true").replace(
        "presubmits:\n  org/repo:", "  org/other:"
    )
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert result.jobs.counts() == {"presubmits": 2, "postsubmits": 0, "periodics": 0, "repos": 2}


def test_two_jobs_reporting_to_one_context(tmp_path: Path) -> None:
    text = presubmit("context: ci/test") + "\n".join(
        presubmit("context: ci/test", name="job-b").splitlines()[2:]
    )
    err = one_error(load_text(tmp_path, text))
    assert "job job-b: jobs job-a and job-b report to the same GitHub context 'ci/test'" in err


def test_duplicate_periodics(tmp_path: Path) -> None:
    job = "- name: p1\n  interval: 1h\n  spec:\n    containers: [{image: a}]\n"
    err = one_error(load_text(tmp_path, "periodics:\n" + job + job))
    assert ":6: job p1: duplicated periodic job (also at" in err


def test_every_error_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = """
    presubmits:
      org/repo:
      - name: one
        always_run: true
        run_if_changed: x
        spec: {containers: [{image: a}]}
      - name: two
        max_concurrency: -3
        spec: {containers: [{image: a}]}
      - name: three
        spec: {containers: [{image: a}]}
    periodics:
    - name: four
      spec: {containers: [{image: a}]}
    """
    result = load_text(tmp_path, text)
    errs = messages(result)
    assert len(errs) == 3, errs
    assert [e.split(": job ")[1].split(":")[0] for e in errs] == ["one", "two", "four"]
    assert [p.name for p in result.jobs.presubmits["org/repo"]] == ["three"]


def test_type_errors_name_the_field_and_line(tmp_path: Path) -> None:
    text = """
    presubmits:
      org/repo:
      - name: typed
        always_run: true
        spec:
          containers:
          - image: alpine
            args:
            - --timeout
            - [30]
        max_concurrency: lots
    """
    errs = messages(load_text(tmp_path, text))
    assert len(errs) == 2, errs
    assert ":8: job typed: spec.containers[0].args[1]: Input should be a valid string" in errs[0]
    assert ":11: job typed: max_concurrency: Input should be a valid integer" in errs[1]
    assert "(got 'lots')" in errs[1]


def test_missing_name(tmp_path: Path) -> None:
    err = one_error(load_text(tmp_path, "periodics:\n- interval: 1h\n"))
    assert err.startswith(f"{tmp_path / 'jobs.yaml'}:2: name: Field required"), err
