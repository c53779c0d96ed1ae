"""Presets: Prow's label-selected merge of env, volumes and mounts into jobs.

A preset applies to a job when every one of its labels is on the job with the same value (a
preset without labels applies to all jobs). Merging never overrides: a name the job already
defines is an error, exactly as in Prow's `mergePreset`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from foredeck.config.models import JobBase, Preset


class PresetIndex:
    """Presets by one of their `label:value` pairs, so that finding a job's presets looks up its
    own labels instead of testing every preset (a Kubernetes-sized config: 40 presets, 4,000
    jobs). `matching` gives what that scan would, in declaration order."""

    def __init__(self, presets: Sequence[Preset]) -> None:
        self._everywhere: list[int] = []
        self._by_pair: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._presets = list(presets)
        for i, preset in enumerate(self._presets):
            if preset.labels:
                self._by_pair[next(iter(preset.labels.items()))].append(i)
            else:
                self._everywhere.append(i)

    def matching(self, labels: dict[str, str]) -> list[Preset]:
        found = list(self._everywhere)
        for pair in labels.items():
            found += self._by_pair.get(pair, ())
        found.sort()
        candidates = (self._presets[i] for i in found)
        return [p for p in candidates if p.applies_to(labels)]


def apply_presets(job: JobBase, presets: PresetIndex) -> list[str]:
    """Merge matching presets into `job` in place; returns one message per conflict."""
    problems: list[str] = []
    for preset in presets.matching(job.labels):
        if job.spec is None:
            # A `pipeline:` job: its steps get the preset's env (see `job_pipeline`).
            for env in preset.env:
                if env.value_from is None:
                    job.preset_env.setdefault(env.name, env.value)
            continue
        problem = _merge_into_spec(job, preset)
        if problem:
            problems.append(f"failed to merge presets for podspec: {problem}")
    return problems


def _merge_into_spec(job: JobBase, preset: Preset) -> str | None:
    spec = job.spec
    assert spec is not None
    containers = spec.containers
    if preset.env:
        names = [{e.name for e in c.env} for c in containers]  # large configs: no quadratic scan
        for env in preset.env:
            for c, known in zip(containers, names, strict=True):
                if env.name in known:
                    return f"env var duplicated in pod spec: {env.name}"
                c.env.append(env)
                known.add(env.name)
    for volume in preset.volumes:
        if any(v.get("name") == volume.get("name") for v in spec.volumes):
            return f"volume duplicated in pod spec: {volume.get('name')}"
        spec.volumes.append(volume)
    for mount in preset.volume_mounts:
        for c in containers:
            if any(m.get("name") == mount.get("name") for m in c.volume_mounts):
                return f"volume mount duplicated in pod spec: {mount.get('name')}"
            c.volume_mounts.append(mount)
    for toleration in preset.tolerations:
        if toleration in spec.tolerations:
            return f"toleration duplicated in pod spec: {toleration}"
        spec.tolerations.append(toleration)
    return None


def duplicate_preset_labels(presets: list[Preset]) -> list[tuple[Preset, str]]:
    """Presets repeating a `label:value` pair another preset already uses (an error in Prow)."""
    seen: set[str] = set()
    dupes: list[tuple[Preset, str]] = []
    for preset in presets:
        for key, value in preset.labels.items():
            pair = f"{key}:{value}"
            if pair in seen:
                dupes.append((preset, pair))
            seen.add(pair)
    return dupes
