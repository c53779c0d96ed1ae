"""In-repo config (.foredeck.yaml / .foredeck/): jobs for the tested repository only."""

from __future__ import annotations

from pathlib import Path

from foredeck.config import load_config, load_in_repo, merge_in_repo
from tests.config.helpers import messages, one_error, write

CENTRAL = """
presets:
- labels: {preset-cache: "true"}
  env: [{name: CACHE_DIR, value: /cache}]
presubmits:
  org/repo:
  - name: unit
    always_run: true
    spec: {containers: [{image: central, command: [make, test]}]}
  org/other:
  - name: lint
    always_run: true
    spec: {containers: [{image: central}]}
"""

IN_REPO = """
presubmits:
- name: unit
  always_run: true
  spec: {containers: [{image: in-repo}]}
- name: integration
  run_if_changed: ^integration/
  labels: {preset-cache: "true"}
  spec: {containers: [{image: in-repo, command: [make, integration]}]}
postsubmits:
- name: publish
  branches: [^main$]
  pipeline: ci/publish.yaml
"""


def test_single_file(tmp_path: Path) -> None:
    write(tmp_path, ".foredeck.yaml", IN_REPO)
    result = load_in_repo(tmp_path, "org/repo")
    assert result.ok, messages(result)
    assert [j.name for j in result.jobs.presubmits["org/repo"]] == ["unit", "integration"]
    assert [j.name for j in result.jobs.postsubmits["org/repo"]] == ["publish"]
    assert result.files == [".foredeck.yaml"]  # named relative to the repository
    assert all(j.org_repo == "org/repo" for j in result.jobs.all_presubmits())


def test_folder_of_files(tmp_path: Path) -> None:
    job = "- {{name: {}, spec: {{containers: [{{image: x}}]}}}}\n"
    write(tmp_path, ".foredeck/presubmits.yaml", "presubmits:\n" + job.format("a"))
    write(tmp_path, ".foredeck/more/post.yml", "postsubmits:\n" + job.format("b"))
    write(tmp_path, ".foredeck/README.md", "not config")
    result = load_in_repo(tmp_path, "org/repo")
    assert result.ok, messages(result)
    assert result.files == [".foredeck/presubmits.yaml", ".foredeck/more/post.yml"]
    assert result.jobs.counts() == {"presubmits": 1, "postsubmits": 1, "periodics": 0, "repos": 1}


def test_no_in_repo_config(tmp_path: Path) -> None:
    result = load_in_repo(tmp_path, "org/repo")
    assert result.ok and result.files == [] and result.jobs.counts()["repos"] == 0


def test_file_and_folder_together_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, ".foredeck.yaml", IN_REPO)
    write(tmp_path, ".foredeck/x.yaml", IN_REPO)
    err = one_error(load_in_repo(tmp_path, "org/repo"))
    assert err == ".foredeck.yaml:1: both .foredeck.yaml and .foredeck/ exist; use only one"


def test_periodics_and_other_repositories_are_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        ".foredeck.yaml",
        """
        periodics:
        - {name: nightly, interval: 24h, spec: {containers: [{image: x}]}}
        presubmits:
          org/repo:
          - {name: mine, spec: {containers: [{image: x}]}}
          someone/else:
          - {name: theirs, spec: {containers: [{image: x}]}}
        """,
    )
    result = load_in_repo(tmp_path, "org/repo")
    assert messages(result) == [
        ".foredeck.yaml:1: periodics are not allowed in in-repo config",
        ".foredeck.yaml:6: in-repo config may only define jobs for org/repo, not someone/else",
    ]
    assert [j.name for j in result.jobs.all_presubmits()] == ["mine"]


def test_errors_name_the_file_in_the_repository(tmp_path: Path) -> None:
    text = "presubmits:\n- name: bad name\n  spec: {containers: [{image: x}]}\n"
    write(tmp_path, ".foredeck.yaml", text)
    err = one_error(load_in_repo(tmp_path, "org/repo"))
    assert err.startswith(".foredeck.yaml:2: job bad name: name must match regex")


def test_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = write(tmp_path, "outside.yaml", IN_REPO)
    repo = tmp_path / "repo"
    (repo / ".foredeck").mkdir(parents=True)
    (repo / ".foredeck" / "jobs.yaml").symlink_to(outside)
    err = one_error(load_in_repo(repo, "org/repo"))
    assert err == ".foredeck/jobs.yaml:0: points outside the repository"


def test_merge_central_wins_with_a_warning(tmp_path: Path) -> None:
    central = load_config([write(tmp_path, "central/jobs.yaml", CENTRAL)])
    assert central.ok, messages(central)
    repo = tmp_path / "checkout"
    write(repo, ".foredeck.yaml", IN_REPO)
    in_repo = load_in_repo(repo, "org/repo", central=central.jobs)
    assert in_repo.ok, messages(in_repo)
    merged, warnings = merge_in_repo(central.jobs, in_repo, "org/repo")
    assert [str(w) for w in warnings] == [
        ".foredeck.yaml:2: job unit: in-repo presubmit ignored: the central config defines it at "
        f"{tmp_path / 'central/jobs.yaml'}:6"
    ]
    pre = merged.presubmits["org/repo"]
    assert [(j.name, j.spec.containers[0].image if j.spec else None) for j in pre] == [
        ("unit", "central"),
        ("integration", "in-repo"),
    ]
    assert [j.name for j in merged.postsubmits["org/repo"]] == ["publish"]
    # central presets reach in-repo jobs
    integration = pre[1]
    assert integration.spec is not None
    assert [e.name for e in integration.spec.containers[0].env] == ["CACHE_DIR"]
    # other repositories are untouched, and so is the central config itself
    assert merged.presubmits["org/other"] is central.jobs.presubmits["org/other"]
    assert [j.name for j in central.jobs.presubmits["org/repo"]] == ["unit"]
    names = [p.name for p in merged.presubmits_to_run("org/repo", "main", ["integration/x"])]
    assert names == ["unit", "integration"]


def test_same_name_on_other_branches_is_no_clash(tmp_path: Path) -> None:
    central = load_config(
        [
            write(
                tmp_path,
                "c.yaml",
                "presubmits:\n  org/repo:\n  - {name: unit, branches: [^release-1$], "
                "spec: {containers: [{image: c}]}}\n",
            )
        ]
    )
    write(
        tmp_path / "r",
        ".foredeck.yaml",
        "presubmits:\n- {name: unit, branches: [^main$], spec: {containers: [{image: r}]}}\n",
    )
    in_repo = load_in_repo(tmp_path / "r", "org/repo")
    merged, warnings = merge_in_repo(central.jobs, in_repo, "org/repo")
    assert warnings == []
    assert len(merged.presubmits["org/repo"]) == 2
    on_main = merged.presubmits_for("org/repo", "main")
    assert [j.spec.containers[0].image for j in on_main if j.spec] == ["r"]
