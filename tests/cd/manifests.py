"""Manifests of each kind a bump reads, with the odd formatting it must keep."""

from __future__ import annotations

from pathlib import Path

OLD = "sha256:" + "1" * 64
NEW = "sha256:" + "2" * 64

DEPLOYMENT = f"""\
# a comment before the document
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, labels: {{app: "web"}}}}   # flow style
spec:
  template:
    spec:
      initContainers:
      -   name: init     # odd indentation
          image:   'ghcr.io/org/app:v1'
      containers:
        - name: web
          image: ghcr.io/org/app@{OLD}  # pinned
          args: ["--image", "ghcr.io/org/app:v1"]
        - {{name: proxy, image: "docker.io/envoyproxy/envoy:v1.30"}}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: job
              image: "ghcr.io/org/app:v1"
"""

ARGO = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: build-
spec:
  templates:
    - name: main
      container:
        image: ghcr.io/org/app:v1
        command: [run]
    - name: script
      script:
        image: python:3.12
        source: |
          print("image: ghcr.io/org/app:v1")
"""

TEKTON = """\
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: t
spec:
  stepTemplate:
    image: ghcr.io/org/app:v1
  steps:
    - name: a
      image: ghcr.io/org/app:v1
  sidecars:
    - name: b
      image: ghcr.io/org/app:v0
"""

KUSTOMIZATION = """\
resources:
  - deployment.yaml
images:
  - name: ghcr.io/org/app   # the app
    newTag: v1
  - name: app
    newName: ghcr.io/org/app
    digest: sha256:1111111111111111111111111111111111111111111111111111111111111111
  - name: redis
    newTag: "7"
"""

VALUES = """\
replicaCount: 1
image:
  repository: ghcr.io/org/app
  tag: "v1"
  pullPolicy: IfNotPresent
worker:
  image:
    registry: ghcr.io
    repository: org/app
    tag: v1
    digest: ""
proxy:
  repository: ghcr.io/org/app
  tag: v1
sidecar:
  image: ghcr.io/org/app:v1
"""


def write_tree(root: Path) -> dict[str, str]:
    """The manifests under `root`; returns their texts by relative path."""
    files = {
        "apps/deployment.yaml": DEPLOYMENT,
        "apps/kustomization.yaml": KUSTOMIZATION,
        "ci/workflow.yaml": ARGO,
        "ci/task.yml": TEKTON,
        "chart/values.yaml": VALUES,
        "README.md": "image: ghcr.io/org/app:v1\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(text.encode())
    return files


def changed_lines(old: str, new: str) -> list[int]:
    """1-based numbers of the lines that differ; both texts must have as many lines."""
    before, after = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(before) == len(after), "lines were added or removed"
    return [n for n, (a, b) in enumerate(zip(before, after, strict=True), 1) if a != b]
