"""Bump scan + rewrite over 5,000 generated manifest files, beside a plain YAML load of them.

Generates a manifests tree of mixed kinds (Deployments, CronJobs with a second document,
Argo Workflows, Tekton Tasks, Helm values, kustomizations), each file naming one to three of
`--images` images, then times `plan_bump` + `apply` (find every reference to `--bumped` of
them, rewrite, write the files) against reading every file and `yaml.load_all` with PyYAML's
`CSafeLoader` (libyaml), the floor for any YAML reader. `ratio` = bump / load; median of
`--repeat` runs, each on a fresh tree (generation is not timed).

The engine parses a file with libyaml's composer only when its text names one of the bumped
images (a substring search). `--every-file` makes every file name a bumped image: that case
parses and rewrites all of them.

Target: bump < 2 s.

    PYTHONPATH=src .venv/bin/python bench/bump_scan.py [--files 5000] [--images 40]
        [--bumped 2] [--repeat 3] [--every-file]

Measured on the 2-core development VM shared with other helpers (load average 2.5 to 4.7),
defaults (5,000 files, 2.0 MB; 2 of 40 images bumped: ~470 files parsed, ~490 references):
with ruamel.yaml's pure-Python composer finding the positions, bump 1.6-3.4 s per run, median
of runs 1.99-2.84 s (composing the ~470 files: 1.5-2.2 s), so the target was met only on a
quiet machine; with libyaml's composer (the same character positions), bump 0.55-1.20 s,
medians 0.60-0.78 s, against a libyaml load of all files of 1.0-1.9 s: ratio 0.49-0.51.
`--every-file` (4,800 files changed): 17.8 s with ruamel, 5.2 s with libyaml, of which
~2.8 s is writing 4,800 files each through a new temporary file renamed over it (overwriting
in place takes a tenth of that on this disk, but a crash could leave a file half-written).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from ruamel.yaml import YAML

from foredeck.cd import NewImage, apply, plan_bump

TARGET_S = 2.0
DIGEST = "sha256:" + "f" * 64
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def image(n: int) -> str:
    return f"ghcr.io/example/service-{n:02d}" if n % 3 else f"docker.io/example/tool{n:02d}"


def container(name: str, ref: str, indent: str) -> str:
    return (
        f"{indent}- name: {name}  # the {name} container\n"
        f'{indent}  image: "{ref}"\n'
        f"{indent}  args: [--port, '8080']\n"
        f"{indent}  resources: {{limits: {{cpu: 500m, memory: 256Mi}}}}\n"
    )


def deployment(i: int, refs: list[str]) -> str:
    containers = "".join(container(f"c{n}", ref, "        ") for n, ref in enumerate(refs))
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n"
        f"  labels: {{app: app-{i}, tier: backend}}\nspec:\n  replicas: 2\n  template:\n"
        f"    metadata:\n      labels:\n        app: app-{i}\n    spec:\n"
        f"      containers:\n{containers}"
    )


def cronjob(i: int, refs: list[str]) -> str:
    containers = "".join(container(f"c{n}", ref, "            ") for n, ref in enumerate(refs))
    service = f"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: job-{i}\nspec:\n"
    return (
        f"apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: job-{i}\nspec:\n"
        f'  schedule: "0 {i % 24} * * *"\n  jobTemplate:\n    spec:\n      template:\n'
        f"        spec:\n          restartPolicy: OnFailure\n          containers:\n"
        f"{containers}{service}  ports: [{{port: 80}}]\n"
    )


def argo(i: int, refs: list[str]) -> str:
    templates = "".join(
        f"    - name: t{n}\n      container:\n        image: {ref}\n        command: [run]\n"
        for n, ref in enumerate(refs)
    )
    return (
        f"apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n"
        f"  generateName: wf-{i}-\nspec:\n  entrypoint: t0\n  templates:\n{templates}"
    )


def tekton(i: int, refs: list[str]) -> str:
    steps = "".join(
        f"    - name: s{n}\n      image: {ref}\n      script: |\n        echo step {n}\n"
        for n, ref in enumerate(refs)
    )
    return (
        f"apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: task-{i}\nspec:\n"
        f"  stepTemplate:\n    env: [{{name: HOME, value: /tekton/home}}]\n  steps:\n{steps}"
    )


def values(i: int, refs: list[str]) -> str:
    blocks = []
    for n, ref in enumerate(refs):
        name, _, tag = ref.rpartition(":")
        blocks.append(f'part{n}:\n  image:\n    repository: {name}\n    tag: "{tag}"\n')
    return f"# values of chart {i}\nreplicaCount: 1\n" + "".join(blocks)


def kustomization(i: int, refs: list[str]) -> str:
    entries = "".join(
        f"  - name: {ref.rpartition(':')[0]}\n    newTag: {ref.rpartition(':')[2]}\n"
        for ref in refs
    )
    return f"resources:\n  - deployment-{i}.yaml\nimages:\n{entries}"


KINDS = [deployment, cronjob, argo, tekton, values]


def generate(root: Path, files: int, images: int, every: str | None, seed: int) -> int:
    """Write the tree; the number of bytes written."""
    rng = random.Random(seed)
    size = 0
    for i in range(files):
        refs = [
            f"{image(rng.randrange(images))}:v1.{rng.randrange(9)}"
            for _ in range(rng.randint(1, 3))
        ]
        if every:
            refs[0] = f"{every}:v1.0"
        folder = root / f"team-{i % 50:02d}"
        folder.mkdir(exist_ok=True)
        if i % 25 == 0:
            path, text = folder / "kustomization.yaml", kustomization(i, refs)
        else:
            kind = KINDS[i % len(KINDS)]
            path, text = folder / f"{kind.__name__}-{i}.yaml", kind(i, refs)
        path.write_text(text)
        size += len(text)
    return size


def time_bump(root: Path, bumped: list[NewImage]) -> tuple[float, int, int]:
    start = time.perf_counter()
    plan = plan_bump(root, bumped, [], "both")
    apply(plan)
    elapsed = time.perf_counter() - start
    assert not plan.problems, plan.problems
    return elapsed, len(plan.files), len(plan.changes)


def time_load(root: Path) -> float:
    start = time.perf_counter()
    for path in sorted(root.rglob("*.yaml")):
        list(yaml.load_all(path.read_text(), Loader=Loader))
    return time.perf_counter() - start


def time_parse(root: Path, needles: list[str]) -> tuple[int, float, float]:
    """The files a bump parses (those naming an image): their count, and the time to compose
    them with ruamel.yaml's pure-Python composer and with libyaml (what the engine uses)."""
    texts = [p.read_text() for p in sorted(root.rglob("*.yaml"))]
    texts = [text for text in texts if any(needle in text for needle in needles)]
    start = time.perf_counter()
    for text in texts:
        list(YAML(typ="safe", pure=True).compose_all(text))
    middle = time.perf_counter()
    for text in texts:
        list(yaml.compose_all(text, Loader=Loader))
    return len(texts), middle - start, time.perf_counter() - middle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--bumped", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--every-file", action="store_true")
    args = parser.parse_args()
    bumped = [NewImage(image(n), "v2.0", DIGEST) for n in range(args.bumped)]
    every = bumped[0].name if args.every_file else None
    bumps, loads = [], []
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="foredeck-bump-bench-") as tmp:
            root = Path(tmp)
            size = generate(root, args.files, args.images, every, seed=run)
            if run == 0:
                needles = [one.name.rpartition("/")[2] for one in bumped]
                parsed, ruamel_s, libyaml_s = time_parse(root, needles)
                print(
                    f"parse step: {parsed} files name a bumped image; composing them takes "
                    f"{ruamel_s:.3f} s with ruamel.yaml, {libyaml_s:.3f} s with libyaml"
                )
            loads.append(time_load(root))
            elapsed, files, changes = time_bump(root, bumped)
            bumps.append(elapsed)
            print(
                f"run {run}: bump {elapsed:.3f} s ({changes} references in {files} files), "
                f"load {loads[-1]:.3f} s"
            )
    bump_s, load_s = statistics.median(bumps), statistics.median(loads)
    print(
        f"files={args.files} bytes={size} images={args.images} bumped={args.bumped} "
        f"every_file={args.every_file} loader={Loader.__name__}"
    )
    print(
        f"bump={bump_s:.3f}s load={load_s:.3f}s ratio={bump_s / load_s:.2f} "
        f"target<{TARGET_S}s {'met' if bump_s < TARGET_S else 'MISSED'}"
    )
    return 0 if bump_s < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
