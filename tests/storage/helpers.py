"""A run's output directory as the executor leaves it, and the keys publishing it writes."""

from __future__ import annotations

from pathlib import Path

RUN_FILES = [
    "started.json",
    "finished.json",
    "build-log.txt",
    "pipeline-run.json",
    "clone-records.json",
    "prowjob.json",
]


def make_run(root: Path, build: str = "1") -> Path:
    out = root / f"run-{build}"
    (out / "artifacts" / "junit").mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        (out / name).write_text(f"{name} of {build}")
    (out / "artifacts" / "junit" / "junit_01.xml").write_text("<testsuite/>")
    return out


def presubmit_keys(build: str) -> list[str]:
    """Every key `publish_run` writes for `make_run(build)` of presubmit `pull-e2e` (org/repo
    PR 7): the build directory, the alias and both latest-build files (Prow's layout)."""
    run = f"pr-logs/pull/org_repo/7/pull-e2e/{build}"
    return sorted(
        [f"{run}/{name}" for name in [*RUN_FILES, "artifacts/junit/junit_01.xml"]]
        + [
            f"pr-logs/directory/pull-e2e/{build}.txt",
            "pr-logs/directory/pull-e2e/latest-build.txt",
            "pr-logs/pull/org_repo/7/pull-e2e/latest-build.txt",
        ]
    )
