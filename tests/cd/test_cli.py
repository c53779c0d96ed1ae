"""`foredeck bump` on a local directory: the diff, the files written, the exit codes."""

from __future__ import annotations

import io
from pathlib import Path

from foredeck.bump_cli import bump
from tests.cd.manifests import NEW, write_tree

APP = "ghcr.io/org/app"


def run(
    images: list[str], root: Path, paths: list[str], pin: str | None, dry_run: bool
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = bump(images, root, paths, pin, dry_run, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_a_dry_run_prints_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    files = write_tree(tmp_path)
    code, out, err = run([f"{APP}:v2"], tmp_path, [], None, True)
    assert code == 0
    assert "--- a/ci/task.yml\n+++ b/ci/task.yml\n" in out
    assert "-    image: ghcr.io/org/app:v1\n+    image: ghcr.io/org/app:v2\n" in out
    assert "reference(s) to change in 5 file(s)" in err
    assert all((tmp_path / name).read_text() == text for name, text in files.items())


def test_without_dry_run_the_files_are_written(tmp_path: Path) -> None:
    write_tree(tmp_path)
    code, out, err = run([f"{APP}@{NEW}"], tmp_path, ["ci"], None, False)
    assert code == 0
    assert f"+    image: ghcr.io/org/app@{NEW}\n" in out  # the diff is printed too
    assert "bump: wrote 2 file(s)" in err
    assert f"image: ghcr.io/org/app@{NEW}" in (tmp_path / "ci/task.yml").read_text()
    assert "app:v1" in (tmp_path / "chart/values.yaml").read_text()  # not selected
    again = run([f"{APP}@{NEW}"], tmp_path, ["ci"], None, False)
    assert again[0] == 0 and again[1] == ""
    assert "is current" in again[2]


def test_problems_are_named_and_exit_1(tmp_path: Path) -> None:
    write_tree(tmp_path)
    (tmp_path / "bad.yaml").write_text("image: ghcr.io/org/app:v1\nx: y: z\n")
    code, _out, err = run([f"{APP}:v2"], tmp_path, [], "tag", False)
    assert code == 1
    assert "bump: bad.yaml:2: invalid YAML" in err
    assert "app:v2" in (tmp_path / "ci/task.yml").read_text()  # the others were bumped


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    assert run(["nginx"], tmp_path, [], None, True)[:2] == (2, "")
    code, _, err = run(["nginx:1"], tmp_path, [], "digest", True)
    assert code == 2 and "nginx: pin 'digest' needs a digest" in err
    code, _, err = run(["nginx:1"], tmp_path, [], "latest", True)
    assert code == 2 and "--pin must be one of digest, tag, both" in err
    code, _, err = run(["nginx:1"], tmp_path / "none", [], None, True)
    assert code == 2 and "not a directory" in err
