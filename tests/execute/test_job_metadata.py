"""`metadata.json` in a task's `$ARTIFACTS` joins `finished.json`'s metadata, as Prow's sidecar
merges it; its `images` are what CD bumps. Bad files are said in the log and change nothing."""

from __future__ import annotations

import json
from pathlib import Path

from foredeck.execute import job_metadata
from foredeck.execute.local import run_pipeline
from foredeck.pipeline.model import Pipeline, PipelineRunSpec, PipelineTask, Step, TaskSpec

IMAGE = "registry.example/acme/app:1.2@sha256:" + "a" * 64


def task(name: str, script: str) -> PipelineTask:
    return PipelineTask(name=name, task_spec=TaskSpec(name=name, steps=[Step("s", script=script)]))


async def test_declared_metadata_and_images_reach_finished_json(tmp_path: Path) -> None:
    declare = f"""printf '{{"images": ["{IMAGE}"], "version": "1.2", "run": "mine"}}' \\
        > "$ARTIFACTS/metadata.json" """
    broken = "echo '[1, 2]' > \"$ARTIFACTS/metadata.json\""
    spec = PipelineRunSpec(Pipeline("p", [task("a", declare), task("b", broken)]), name="r")
    result = await run_pipeline(spec, tmp_path / "out")
    assert result.status == "Succeeded"
    finished = json.loads((tmp_path / "out" / "finished.json").read_text())
    metadata = finished["metadata"]
    assert metadata["images"] == [IMAGE]
    assert metadata["version"] == "1.2"
    assert metadata["run"] == "r"  # foredeck's own keys win
    log = (tmp_path / "out" / "build-log.txt").read_text()
    assert "b/metadata.json ignored: not a JSON object" in log


def test_each_bad_file_is_ignored_with_its_reason(tmp_path: Path) -> None:
    cases = {
        "big": b'{"x": "' + b"y" * job_metadata.MAX_BYTES + b'"}',
        "notjson": b"{images:",
        "badimages": b'{"images": "one"}',
        "option": b'{"images": ["--rm"]}',
        "good": b'{"images": ["a:1", "b@sha256:00"], "k": 1}',
        "later": b'{"images": ["a:1", "c:2"], "k": 2}',
    }
    for name, data in cases.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metadata.json").write_bytes(data)
    (tmp_path / "none").mkdir()
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "metadata.json").symlink_to(tmp_path / "good" / "metadata.json")
    (tmp_path / "folder" / "metadata.json").mkdir(parents=True)
    (tmp_path / "not-a-task").symlink_to(tmp_path / "good")  # a link is no task directory
    merged, problems = job_metadata.read_run(tmp_path)
    assert merged == {"images": ["a:1", "b@sha256:00", "c:2"], "k": 2}
    assert sorted(problems) == [
        "badimages/metadata.json ignored: images must be a list of at most 100 image references",
        "big/metadata.json ignored: larger than 64 KiB",
        "folder/metadata.json ignored: not a regular file",
        "linked/metadata.json ignored: not a regular file",
        "notjson/metadata.json ignored: not JSON (JSONDecodeError)",
        "option/metadata.json ignored: images must be a list of at most 100 image references",
    ]
