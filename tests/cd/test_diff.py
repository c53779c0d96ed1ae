"""The unified diff of a bump, as git prints it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from foredeck.cd.diff import unified_diff
from tests.cd.manifests import write_tree


def test_a_diff_names_both_sides_and_the_changed_line() -> None:
    old = "a: 1\nimage: nginx:1\nb: 2\n"
    new = "a: 1\nimage: nginx:2\nb: 2\n"
    assert unified_diff("x/p.yaml", old, new) == (
        "--- a/x/p.yaml\n+++ b/x/p.yaml\n@@ -1,3 +1,3 @@\n"
        " a: 1\n-image: nginx:1\n+image: nginx:2\n b: 2\n"
    )


def test_a_last_line_without_a_line_break_is_marked() -> None:
    diff = unified_diff("p.yaml", "image: nginx:1", "image: nginx:2")
    assert diff.endswith(
        "-image: nginx:1\n\\ No newline at end of file\n"
        "+image: nginx:2\n\\ No newline at end of file\n"
    )


def test_crlf_lines_keep_their_line_ends() -> None:
    diff = unified_diff("p.yaml", "a: 1\r\nimage: x:1\r\n", "a: 1\r\nimage: x:2\r\n")
    assert "-image: x:1\r\n+image: x:2\r\n" in diff


def test_git_applies_the_diff_of_a_plan(tmp_path: Path) -> None:
    """The printed diff is a patch: applied to the old tree, it gives the planned files."""
    from foredeck.cd import NewImage, plan_bump

    write_tree(tmp_path)
    (tmp_path / "crlf.yaml").write_bytes(b"a: 1\r\nimage: ghcr.io/org/app:v1\r\nb: 2")
    plan = plan_bump(tmp_path, [NewImage.parse("ghcr.io/org/app:v9")], [], "tag")
    (tmp_path / "bump.patch").write_text(plan.diff())
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "apply", "bump.patch"], cwd=tmp_path, check=True)
    assert len(plan.files) == 6
    for one in plan.files:
        assert (tmp_path / one.path).read_bytes() == one.new.encode()
