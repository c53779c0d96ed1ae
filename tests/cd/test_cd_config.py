"""`cd:` targets of a postsubmit: validated at config load, each problem at its file and line."""

from __future__ import annotations

from pathlib import Path

from foredeck.config import load_config
from foredeck.config.models import Postsubmit
from tests.config.helpers import write

GOOD = """
postsubmits:
  acme/app:
  - name: build-app
    spec: {containers: [{image: alpine}]}
    cd:
    - repo: acme/manifests
      paths: [deploy/]
      group: app
      pin: both
      labels: [cd, lgtm]
      policy: leave
    - repo: acme/other
      group: app
"""


def test_cd_targets_load_with_their_defaults(tmp_path: Path) -> None:
    write(tmp_path, "jobs.yaml", GOOD)
    result = load_config([tmp_path])
    assert result.errors == []
    [job] = result.jobs.postsubmits["acme/app"]
    assert isinstance(job, Postsubmit)
    first, second = job.cd
    assert (first.repo, first.paths, first.group, first.pin) == (
        "acme/manifests",
        ["deploy/"],
        "app",
        "both",
    )
    assert (first.labels, first.policy, first.base) == (["cd", "lgtm"], "leave", "main")
    assert (second.pin, second.policy, second.paths, second.labels) == (
        "digest",
        "overwrite",
        [],
        [],
    )


def error_lines(tmp_path: Path, target: str) -> list[str]:
    text = (
        "postsubmits:\n  acme/app:\n  - name: build-app\n"
        "    spec: {containers: [{image: alpine}]}\n    cd:\n" + target
    )
    path = write(tmp_path, "jobs.yaml", text)
    result = load_config([tmp_path])
    assert result.jobs.postsubmits.get("acme/app", []) == []  # the job is left out
    return [str(e).removeprefix(f"{path}:") for e in result.errors]


def test_a_bad_group_is_named_at_its_line(tmp_path: Path) -> None:
    [err] = error_lines(tmp_path, "    - repo: acme/manifests\n      group: 'no spaces'\n")
    assert err.startswith("7:") and "cd[0].group" in err and "invalid bump group" in err, err


def test_bad_repo_pin_policy_and_path_are_each_named(tmp_path: Path) -> None:
    target = (
        "    - repo: manifests\n"
        "      group: app\n"
        "      pin: latest\n"
        "      policy: merge\n"
        "      paths: [../etc]\n"
    )
    errors = error_lines(tmp_path, target)
    joined = "\n".join(errors)
    assert "6:" in joined and "repo must be ORG/REPO" in joined
    assert "8:" in joined and "cd[0].pin" in joined
    assert "9:" in joined and "cd[0].policy" in joined
    assert "10:" in joined and "without '..'" in joined


def test_an_unknown_key_and_a_repeated_group_are_errors(tmp_path: Path) -> None:
    [err] = error_lines(tmp_path, "    - {repo: acme/m, group: app, grup: x}\n")
    assert "cd[0].grup" in err and "Extra inputs are not permitted" in err
    target = "    - {repo: acme/m, group: app}\n    - {repo: acme/M, group: app}\n"
    [err] = error_lines(tmp_path, target)
    assert "group 'app' is given twice for acme/M" in err
