"""Presets: label-selected merge of env, volumes and mounts (Prow's mergePreset)."""

from __future__ import annotations

from pathlib import Path

from foredeck.config import load_config
from tests.config.helpers import PRESETS, REALISTIC, load_text, messages, one_error


def job(name: str, labels: str, extra: str = "") -> str:
    return f"""
  - name: {name}
    labels: {labels}
    spec:
      containers:
      - {{name: main, image: a, command: [x]{extra}}}
      - {{name: side, image: b, command: [y]}}
    decorate: true
"""


def env_of(result: object, name: str) -> dict[str, list[str]]:
    jobs = {j.name: j for j in result.jobs.all_jobs()}  # type: ignore[attr-defined]
    spec = jobs[name].spec
    return {c.name: [e.name for e in c.env] for c in spec.containers}


def test_preset_applies_when_all_its_labels_match(tmp_path: Path) -> None:
    text = (
        PRESETS
        + "presubmits:\n  org/repo:"
        + job("creds", '{preset-creds: "true"}')
        + job("both", '{preset-creds: "true", preset-region: eu, preset-tier: gold}')
        + job("region-only", "{preset-region: eu}")
        + job("wrong-value", '{preset-creds: "false"}')
    )
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert env_of(result, "creds") == {
        "main": ["CREDS", "EVERYWHERE"],
        "side": ["CREDS", "EVERYWHERE"],
    }
    assert env_of(result, "both")["main"] == ["CREDS", "REGION", "EVERYWHERE"]
    assert env_of(result, "region-only")["main"] == ["EVERYWHERE"]
    assert env_of(result, "wrong-value")["side"] == ["EVERYWHERE"]
    creds = result.jobs.find("creds")[0]
    assert creds.spec is not None
    assert [v["name"] for v in creds.spec.volumes] == ["creds"]
    assert [m["mountPath"] for m in creds.spec.containers[1].volume_mounts] == ["/etc/creds"]


def test_conflicting_env_is_an_error(tmp_path: Path) -> None:
    text = (
        PRESETS
        + "presubmits:\n  org/repo:"
        + job("clash", '{preset-creds: "true"}', extra=", env: [{name: CREDS, value: mine}]")
    )
    err = one_error(load_text(tmp_path, text))
    assert "job clash: failed to merge presets for podspec: " in err
    assert err.endswith("env var duplicated in pod spec: CREDS")


def test_conflicting_volume_is_an_error(tmp_path: Path) -> None:
    text = """
    presets:
    - labels: {a: b}
      volumes: [{name: cache, emptyDir: {}}]
    periodics:
    - name: p
      interval: 1h
      labels: {a: b}
      spec:
        volumes: [{name: cache, emptyDir: {}}]
        containers: [{image: a}]
    """
    err = one_error(load_text(tmp_path, text))
    assert "job p: failed to merge presets for podspec: volume duplicated in pod spec: cache" in err


def test_duplicate_label_pairs_across_presets(tmp_path: Path) -> None:
    text = """
    presets:
    - labels: {preset-x: "true"}
      env: [{name: A, value: "1"}]
    - labels: {preset-x: "true"}
      env: [{name: B, value: "2"}]
    """
    err = one_error(load_text(tmp_path, text))
    assert err.endswith("jobs.yaml:4: duplicated preset 'label:value' pair: preset-x:true")


def test_presets_from_another_file_apply(tmp_path: Path) -> None:
    result = load_config([REALISTIC])
    gce = result.jobs.find("pull-kubernetes-e2e-gce")[0]
    assert gce.spec is not None
    names = [e.name for e in gce.spec.containers[0].env]
    assert "GOOGLE_APPLICATION_CREDENTIALS" in names and "JENKINS_GCE_SSH_PRIVATE_KEY_FILE" in names
    unit = result.jobs.find("ci-kubernetes-unit")[0]  # no preset labels
    assert unit.spec is not None and unit.spec.containers[0].env == []


def test_matching_presets_come_in_declaration_order() -> None:
    """The index that spares a Kubernetes-sized config a scan of every preset for every job
    returns what that scan would: each preset whose labels all match, in declaration order."""
    from foredeck.config.models import Preset
    from foredeck.config.presets import PresetIndex

    declared = [
        Preset(labels={"a": "1"}),
        Preset(),
        Preset(labels={"b": "2", "a": "1"}),
        Preset(labels={"a": "2"}),
        Preset(labels={"c": "3"}),
    ]
    index = PresetIndex(declared)
    for labels in ({}, {"a": "1"}, {"a": "1", "b": "2"}, {"b": "2"}, {"a": "2", "c": "3"}):
        expected = [p for p in declared if p.applies_to(labels)]
        assert index.matching(labels) == expected, labels
