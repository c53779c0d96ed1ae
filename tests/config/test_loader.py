"""Loading files and trees: merging, unique basenames, .prowignore, bad input, real-world config."""

from __future__ import annotations

import gc
from pathlib import Path

from foredeck.config import Presubmit, load_config
from tests.config.helpers import REALISTIC, load_text, messages, one_error, write

JOB = """
presubmits:
  org/{repo}:
  - name: {name}
    always_run: true
    spec:
      containers:
      - image: alpine
        command: ["true"]
"""


def test_realistic_prow_config_loads_unchanged() -> None:
    result = load_config([REALISTIC])
    assert result.ok, messages(result)
    assert result.warnings == []
    assert result.jobs.counts() == {
        "presubmits": 8,
        "postsubmits": 2,
        "periodics": 3,
        "repos": 2,
    }
    assert len(result.files) == 4
    e2e = result.jobs.find("pull-kubernetes-e2e-gce", "kubernetes/kubernetes")[0]
    assert isinstance(e2e, Presubmit)
    assert e2e.optional and e2e.max_concurrency == 12 and e2e.cluster == "k8s-infra-prow-build"
    assert [r.org_repo for r in e2e.extra_refs] == ["kubernetes/release", "kubernetes/test-infra"]
    assert e2e.extra_refs[0].path_alias == "k8s.io/release"
    assert e2e.annotations["testgrid-dashboards"] == "presubmits-kubernetes-nonblocking"
    assert e2e.timeout_seconds == 125 * 60
    container = e2e.spec.containers[0] if e2e.spec else None
    assert container is not None and container.security_context == {"privileged": True}
    assert container.resources == {"requests": {"cpu": 4, "memory": "14Gi"}}
    # Kubernetes fields foredeck does not model are kept verbatim.
    assert e2e.spec is not None and e2e.spec.service_account_name == "prowjob-default-sa"
    assert e2e.source.file.endswith("kubernetes/sig-testing-presubmits.yaml")
    assert e2e.source.line == 79
    custom = result.jobs.find("pull-kubernetes-node-e2e-containerd")[0]
    assert isinstance(custom, Presubmit)
    assert custom.trigger_matches("/test node-e2e") and not custom.trigger_matches("/test all")
    periodic = result.jobs.periodic("ci-kubernetes-e2e-gce-cos-serial")
    assert periodic is not None and periodic.cron == "0 */6 * * *"
    assert periodic.reporter_config is not None and periodic.reporter_config.slack is not None
    assert periodic.reporter_config.slack.channel == "sig-node-alerts"
    assert periodic.tags == ["perfDashPrefix: gce-serial"]
    autobump = result.jobs.periodic("ci-test-infra-autobump-prowjobs")
    assert autobump is not None and autobump.minimum_interval_seconds == 12 * 3600


def test_unknown_fields_are_kept_and_reported_as_warnings(tmp_path: Path) -> None:
    text = """
    periodics:
    - name: p1
      interval: 1h
      run_if_chnaged: typo
      jenkins_spec: {github_branch_source_job: true}
      decoration_config: {timeout: 1h, upload_everything: true, censor_secrets: true}
      extra_refs: [{org: o, repo: r, base_ref: main, sparse: true}]
      spec: {containers: [{image: a, command: [x], lifecycle: {preStop: {}}}]}
    """
    result = load_text(tmp_path, text)
    assert result.ok
    warnings = messages(result, warnings=True)
    assert any(":4: job p1: unknown field 'run_if_chnaged'" in w for w in warnings)
    assert any(":5: job p1: Prow field 'jenkins_spec' is kept" in w for w in warnings)
    dc_warning = ":6: job p1: unknown field 'decoration_config.upload_everything'"
    assert any(dc_warning in w for w in warnings)
    assert any("unknown field 'extra_refs[0].sparse'" in w for w in warnings)
    assert len(warnings) == 4, warnings  # censor_secrets is Prow's; pod spec fields are Kubernetes'
    job = result.jobs.periodics[0]
    jenkins = {"github_branch_source_job": True}
    assert job.model_extra == {"run_if_chnaged": "typo", "jenkins_spec": jenkins}
    dumped = job.to_dict()
    assert dumped["run_if_chnaged"] == "typo"
    assert dumped["decoration_config"]["upload_everything"] is True
    assert dumped["spec"]["containers"][0]["lifecycle"] == {"preStop": {}}


def test_directory_tree_is_merged(tmp_path: Path) -> None:
    write(tmp_path, "a/one.yaml", JOB.format(repo="r1", name="j1"))
    write(tmp_path, "a/b/two.yml", JOB.format(repo="r1", name="j2"))
    write(tmp_path, "c/three.yaml", JOB.format(repo="r2", name="j1"))
    write(tmp_path, "c/notes.txt", "presubmits: [not yaml config]")
    result = load_config([tmp_path])
    assert result.ok, messages(result)
    # a directory's own files come before its subdirectories', each level sorted
    assert [j.name for j in result.jobs.presubmits["org/r1"]] == ["j1", "j2"]
    assert [j.name for j in result.jobs.presubmits["org/r2"]] == ["j1"]
    assert len(result.files) == 3


def test_basenames_must_be_unique_across_the_tree(tmp_path: Path) -> None:
    first = write(tmp_path, "a/jobs.yaml", JOB.format(repo="r1", name="j1"))
    second = write(tmp_path, "b/jobs.yaml", JOB.format(repo="r2", name="j2"))
    result = load_config([tmp_path])
    err = one_error(result)
    assert err.startswith(f"{second}:1: duplicated basename is not allowed: jobs.yaml")
    assert str(first) in err
    assert result.jobs.repos() == ["org/r1"]  # the first file still loads


def test_prowignore_excludes_paths_below_its_directory(tmp_path: Path) -> None:
    write(tmp_path, "keep.yaml", JOB.format(repo="r", name="keep"))
    write(tmp_path, "team/.prowignore", "# generated files\n*.generated.yaml\nscratch/\n")
    write(tmp_path, "team/real.yaml", JOB.format(repo="r", name="real"))
    write(tmp_path, "team/x.generated.yaml", "not: [valid")
    write(tmp_path, "team/scratch/wip.yaml", "not: [valid")
    write(tmp_path, "other/y.generated.yaml", JOB.format(repo="r", name="outside-ignore"))
    result = load_config([tmp_path])
    assert result.ok, messages(result)
    names = sorted(j.name for j in result.jobs.all_presubmits())
    assert names == ["keep", "outside-ignore", "real"]


def test_configmap_internals_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "jobs.yaml", JOB.format(repo="r", name="j"))
    write(tmp_path, "..2024_01_01/jobs.yaml", JOB.format(repo="r", name="j"))
    write(tmp_path, "..data.yaml", "broken: [")
    result = load_config([tmp_path])
    assert result.ok, messages(result)
    assert result.jobs.counts()["presubmits"] == 1


def test_bad_yaml_names_file_and_line_and_other_files_still_load(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", JOB.format(repo="r", name="fine"))
    bad = write(tmp_path, "bad.yaml", "presubmits:\n  org/r:\n  - name: x\n    always_run: [\n")
    result = load_config([tmp_path])
    err = one_error(result)
    assert err.startswith(f"{bad}:5: invalid YAML:"), err
    assert [j.name for j in result.jobs.all_presubmits()] == ["fine"]


def test_a_repeated_yaml_key_keeps_its_last_value_as_in_prow(tmp_path: Path) -> None:
    """sigs.k8s.io/yaml's non-strict `Unmarshal` (Prow's) lets the last value win: a warning."""
    text = "periodics:\n- {name: a, interval: 1h, spec: {containers: [{image: i}]}}\n"
    text += "periodics: []\n"
    result = load_text(tmp_path, text)
    assert messages(result) == []
    assert result.jobs.periodics == []
    (warning,) = messages(result, warnings=True)
    assert warning.endswith(
        "jobs.yaml:3: key 'periodics' is given twice in one mapping (first at line 1); "
        "the last one wins, as in Prow"
    )


def test_structural_errors(tmp_path: Path) -> None:
    text = """
    presubmits:
      no-slash: []
      org/ok: {name: not-a-list}
    postsubmits: [wrong]
    periodics:
    - just a string
    presets: {not: a list}
    tide: {queries: []}
    """
    result = load_text(tmp_path, text)
    errs = [e.split("jobs.yaml:")[1] for e in messages(result)]
    assert errs == [
        "2: presubmits key 'no-slash' must be org/repo",
        "3: presubmits.org/ok must be a list of jobs",
        "4: postsubmits must be a mapping of org/repo to a list of jobs",
        "5: a periodic must be a mapping",  # a scalar item has no line: its list's key
        "7: presets must be a list",
    ]
    assert messages(result, warnings=True) == []  # tide: is read (config/tide.py)


def test_document_must_be_a_mapping(tmp_path: Path) -> None:
    err = one_error(load_text(tmp_path, "- a\n- b\n"))
    assert err.endswith("jobs.yaml:1: a job config document must be a mapping")


def test_missing_path(tmp_path: Path) -> None:
    err = one_error(load_config([tmp_path / "nope"]))
    assert err == f"{tmp_path / 'nope'}:0: no such file or directory"


def test_non_utf8_file(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes("periodics: []\n# caf\xe9\n".encode("latin-1"))
    err = one_error(load_config([tmp_path]))
    assert err.endswith("latin1.yaml:1: file is not UTF-8 text")


def test_decorate_all_jobs(tmp_path: Path) -> None:
    write(tmp_path, "settings.yaml", "decorate_all_jobs: true\n")
    write(tmp_path, "jobs.yaml", JOB.format(repo="r", name="j") + "    decorate: false\n")
    write(tmp_path, "more.yaml", JOB.format(repo="r", name="k"))
    result = load_config([tmp_path])
    assert result.ok, messages(result)
    decorate = {j.name: j.decorate for j in result.jobs.all_presubmits()}
    assert decorate == {"j": False, "k": True}


def test_defaults_follow_prow(tmp_path: Path) -> None:
    result = load_text(tmp_path, JOB.format(repo="r", name="pull-unit"))
    job = result.jobs.presubmits["org/r"][0]
    assert job.context == "pull-unit"
    assert job.rerun_command == "/test pull-unit"
    assert job.trigger == r"(?m)^/test( | .* )pull-unit,?($|\s.*)"
    assert job.agent == "kubernetes" and job.cluster == "default"
    assert job.org_repo == "org/r"
    assert job.context_required()


def test_report_false_means_skip_report(tmp_path: Path) -> None:
    result = load_text(tmp_path, JOB.format(repo="r", name="quiet") + "    report: false\n")
    assert result.ok, messages(result)
    job = result.jobs.presubmits["org/r"][0]
    assert job.skip_report and not job.context_required()


def test_a_load_leaves_no_scan_of_its_objects_behind() -> None:
    """While the collector is paused every allocation counts toward the young generation; the
    first allocation after re-enabling it would walk the whole new config (a quarter of the load
    time of a Kubernetes-sized config). The built objects go to the oldest generation instead."""
    import gc

    from foredeck.config.loader import paused_gc

    collections: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(record)
    try:
        with paused_gc():
            built: list[list[object]] = [[] for _ in range(10 * gc.get_threshold()[0])]
        after: list[list[object]] = [
            [] for _ in range(10)
        ]  # allocations that would set off the young scan
    finally:
        gc.callbacks.remove(record)
    assert gc.isenabled()
    assert collections == []
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(built[0]) in oldest and id(built[-1]) in oldest
    assert len(after) == 10


def test_loading_keeps_what_the_process_froze(tmp_path: Path) -> None:
    """`foredeck serve` freezes its start-up objects (the hook's latency); a config reload must
    not hand them back to the collector."""
    (tmp_path / "jobs.yaml").write_text(
        "periodics:\n- name: p\n  interval: 1h\n  spec: {containers: [{image: x}]}\n"
    )
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        load_config([tmp_path])
        # An unfreeze empties the permanent generation; a frozen object freed meanwhile (by
        # this or another thread of the process) only leaves it, so a few may be gone.
        assert gc.get_freeze_count() > frozen // 2
    finally:
        gc.unfreeze()
