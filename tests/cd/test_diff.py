"""The unified diff of a bump, as git prints it."""

from __future__ import annotations

from foredeck.cd.diff import unified_diff


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
