"""The `tide:` section of the central config (`config/tide.py`): Prow's shape, checked with
`file:line` errors, and Kubernetes' own section loading unchanged."""

from __future__ import annotations

from pathlib import Path

from foredeck.config import load_config
from tests.config.helpers import DATA

K8S = DATA / "k8s-test-infra"


def load(tmp_path: Path, text: str) -> tuple[list[str], list[str]]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    result = load_config([path])
    strip = f"{path}:"
    return (
        [str(e).removeprefix(strip) for e in result.errors],
        [str(w).removeprefix(strip) for w in result.warnings],
    )


def test_kubernetes_tide_section_loads() -> None:
    result = load_config([K8S])
    assert result.ok
    tide = result.jobs.tide
    assert tide is not None and len(tide.queries) == 8 and tide.sync_seconds == 120
    assert tide.batch_limit("kubernetes", "kubernetes") == 15
    assert tide.batch_limit("kubernetes", "website") == 0
    assert tide.method_for("kubernetes-sigs", "ingress2gateway") == "squash"
    assert tide.method_for("kubernetes", "kubernetes", ["tide/merge-method-rebase"]) == "rebase"
    assert tide.blocker_label == "tide/merge-blocker"
    query = tide.queries[0]
    assert "lgtm" in query.labels and "do-not-merge/hold" in query.missing_labels
    kinds = {w.kind for w in result.warnings if "tide field" in w.message}
    assert kinds == {"unused-prow-field"}  # pr_status_base_urls, priority: kept, not used


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    errors, _ = load(
        tmp_path,
        """\
tide:
  sync_period: 10 seconds
  merge_method: {acme/widget: fast}
  batch_size_limit: {"not a repo!": 2}
  queries:
    - labels: [lgtm]
    - repos: [widget]
""",
    )
    assert errors == [
        "2: tide.sync_period: invalid duration '10 seconds' (expected Go syntax such as "
        "'1h30m' or '10s')",
        "3: tide.merge_method.acme/widget: Input should be 'merge', 'squash' or 'rebase'",
        "4: tide.batch_size_limit: keys are ORG or ORG/REPO, not 'not a repo!'",
        "6: tide.queries[0]: a query needs repos or orgs",
        "7: tide.queries[1].repos: must be ORG/REPO, not 'widget'",
    ]


def test_context_options_add_up_and_the_most_specific_skip_wins(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        """\
tide:
  queries: [{orgs: [acme]}]
  context_options:
    required-contexts: [gha/build]
    skip-unknown-contexts: true
    orgs:
      acme:
        optional-contexts: [coverage]
        repos:
          widget:
            required-contexts: [lint]
            skip-unknown-contexts: false
            branches: {release: {required-contexts: [release-check]}}
"""
    )
    tide = load_config([path]).jobs.tide
    assert tide is not None
    options = tide.context_options
    on_main = options.for_branch("acme", "widget", "main")
    assert (on_main.required, on_main.optional, on_main.skip_unknown) == (
        ["gha/build", "lint"],
        ["coverage"],
        False,
    )
    assert options.for_branch("acme", "widget", "release").required[-1] == "release-check"
    assert options.for_branch("acme", "gadget", "main").skip_unknown is True


def test_tide_twice_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("tide: {queries: [{orgs: [acme]}]}\n")
    (tmp_path / "b.yaml").write_text("tide: {queries: [{orgs: [acme]}]}\n")
    result = load_config([tmp_path])
    assert [e.message.split(" (first")[0] for e in result.errors] == ["tide is given twice"]
