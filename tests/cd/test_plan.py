"""Planning a bump: every reference found, rewritten as the pin says, nothing else touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from foredeck.cd import BumpPlan, NewImage, Pin, RefError, apply, plan_bump
from tests.cd.manifests import NEW, OLD, changed_lines, write_tree

APP = "ghcr.io/org/app"


def bump(root: Path, text: str, pin: Pin = "both", paths: list[str] | None = None) -> BumpPlan:
    return plan_bump(root, [NewImage.parse(text)], paths or [], pin)


def new_text(plan: BumpPlan, path: str) -> str:
    [one] = [one for one in plan.files if one.path == path]
    return one.new


def test_plain_image_fields_at_any_depth_are_rewritten_and_nothing_else(tmp_path: Path) -> None:
    files = write_tree(tmp_path)
    plan = bump(tmp_path, f"{APP}:v2@{NEW}")
    assert not plan.problems
    new = new_text(plan, "apps/deployment.yaml")
    assert changed_lines(files["apps/deployment.yaml"], new) == [10, 13, 29]
    lines = new.splitlines()
    assert lines[9] == f"          image:   'ghcr.io/org/app:v2@{NEW}'"
    assert lines[12] == f"          image: ghcr.io/org/app:v2@{NEW}  # pinned"
    assert lines[28] == f'              image: "ghcr.io/org/app:v2@{NEW}"'
    assert 'args: ["--image", "ghcr.io/org/app:v1"]' in new  # not an image field
    assert changed_lines(files["ci/workflow.yaml"], new_text(plan, "ci/workflow.yaml")) == [9]
    assert changed_lines(files["ci/task.yml"], new_text(plan, "ci/task.yml")) == [7, 10, 13]
    assert "README.md" not in {one.path for one in plan.files}


def test_the_changes_name_file_line_old_and_new(tmp_path: Path) -> None:
    write_tree(tmp_path)
    plan = bump(tmp_path, f"{APP}:v2", pin="tag")
    found = {(c.path, c.line, c.old, c.new) for c in plan.changes}
    assert ("apps/deployment.yaml", 13, f"{APP}@{OLD}", f"{APP}:v2") in found
    assert ("ci/task.yml", 13, f"{APP}:v0", f"{APP}:v2") in found
    assert all(c.image == APP for c in plan.changes)


def test_helm_values_in_their_variants(tmp_path: Path) -> None:
    files = write_tree(tmp_path)
    plan = bump(tmp_path, f"{APP}:v2@{NEW}", pin="both")
    old = files["chart/values.yaml"]
    new = new_text(plan, "chart/values.yaml")
    assert new == old.replace('  tag: "v1"\n', f'  tag: "v2"\n  digest: {NEW}\n').replace(
        '    tag: v1\n    digest: ""\n', f'    tag: v2\n    digest: "{NEW}"\n'
    ).replace("  tag: v1\nsidecar:", f"  tag: v2\n  digest: {NEW}\nsidecar:").replace(
        f"image: {APP}:v1\n", f"image: {APP}:v2@{NEW}\n"
    )


def test_kustomize_entries_get_their_keys(tmp_path: Path) -> None:
    files = write_tree(tmp_path)
    plan = bump(tmp_path, f"{APP}@{NEW}", pin="digest")
    new = new_text(plan, "apps/kustomization.yaml")
    expected = (
        files["apps/kustomization.yaml"]
        .replace("    newTag: v1\n", f"    digest: {NEW}\n")
        .replace(OLD, NEW)
    )
    assert new == expected
    assert '    newTag: "7"' in new  # redis is not bumped


def test_a_tag_yaml_would_read_as_a_number_stays_a_string(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("image:\n  repository: nginx\n  tag: 1.9\n")
    plan = bump(tmp_path, "nginx:1.10", pin="tag")
    assert new_text(plan, "values.yaml") == 'image:\n  repository: nginx\n  tag: "1.10"\n'


def test_an_empty_tag_gets_its_value(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("image:\n  repository: nginx\n  tag:\n  x: 1\n")
    plan = bump(tmp_path, "nginx:v2", pin="tag")
    assert new_text(plan, "values.yaml") == "image:\n  repository: nginx\n  tag: v2\n  x: 1\n"


def test_spellings_of_one_image_all_match_and_keep_their_spelling(tmp_path: Path) -> None:
    text = (
        "a:\n  image: nginx:1\nb:\n  image: docker.io/library/nginx:1\n"
        "c:\n  image: docker.io/nginx\n"
    )
    (tmp_path / "p.yaml").write_text(text)
    plan = bump(tmp_path, "index.docker.io/nginx:2", pin="tag")
    assert new_text(plan, "p.yaml") == text.replace(":1\n", ":2\n").replace(
        "docker.io/nginx\n", "docker.io/nginx:2\n"
    )


def test_crlf_tabs_comments_and_no_final_newline_are_kept(tmp_path: Path) -> None:
    text = (
        "# top\r\nkind: Pod\r\nspec:\r\n  containers:\r\n  - name: a   # a\ttab\r\n"
        "    image: \"nginx:1\"   # keep\r\n  - {name: b,   image: 'nginx:1' }\r\n"
        "    # trailing\r\nextra: [1,2,  3]"
    )
    (tmp_path / "pod.yaml").write_bytes(text.encode())
    plan = bump(tmp_path, "nginx:2", pin="tag")
    assert plan.problems == []
    apply(plan)
    written = (tmp_path / "pod.yaml").read_bytes().decode()
    assert written == text.replace("nginx:1", "nginx:2")
    assert changed_lines(text, written) == [6, 7]


def test_a_current_reference_is_no_change(tmp_path: Path) -> None:
    text = f"image: ghcr.io/org/app:v2@{NEW}\n"
    (tmp_path / "p.yaml").write_text(text)
    plan = bump(tmp_path, f"{APP}:v2@{NEW}", pin="both")
    assert plan.files == [] and plan.diff() == ""
    [current] = plan.current
    assert (current.path, current.line, current.old) == ("p.yaml", 1, f"{APP}:v2@{NEW}")
    assert apply(plan) == []
    assert (tmp_path / "p.yaml").read_text() == text


def test_an_anchor_and_its_aliases_change_once(tmp_path: Path) -> None:
    text = "a:\n  image: &i nginx:1\nb:\n  image: *i\n"
    (tmp_path / "p.yaml").write_text(text)
    plan = bump(tmp_path, "nginx:2", pin="tag")
    assert new_text(plan, "p.yaml") == "a:\n  image: &i nginx:2\nb:\n  image: *i\n"
    assert len(plan.changes) == 1


def test_path_globs_select_files(tmp_path: Path) -> None:
    write_tree(tmp_path)
    plan = bump(tmp_path, f"{APP}:v2", pin="tag", paths=["ci", "chart/*.yaml"])
    assert {one.path for one in plan.files} == {
        "ci/workflow.yaml",
        "ci/task.yml",
        "chart/values.yaml",
    }


def test_bad_files_are_named_and_the_others_still_bumped(tmp_path: Path) -> None:
    write_tree(tmp_path)
    (tmp_path / "bad.yaml").write_text("image: ghcr.io/org/app:v1\nx: [unclosed\ny: 1\n")
    (tmp_path / "big.yaml").write_text("image: ghcr.io/org/app:v1\n" + "#" * 3000 + "\n")
    (tmp_path / "latin1.yaml").write_bytes(
        "image: ghcr.io/org/app:v1 # caf\xe9\n".encode("latin-1")
    )
    (tmp_path / "block.yaml").write_text("image: |\n  ghcr.io/org/app:v1\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text("image: ghcr.io/org/app:v1\n")
    (tmp_path / "link.yaml").symlink_to(outside)
    plan = plan_bump(tmp_path, [NewImage.parse(f"{APP}:v2")], [], "tag", max_bytes=2000)
    problems = {p.path: str(p) for p in plan.problems}
    assert problems.keys() == {"bad.yaml", "big.yaml", "latin1.yaml", "link.yaml", "block.yaml"}
    assert problems["block.yaml"].startswith("block.yaml:1: ghcr.io/org/app: ")
    assert problems["block.yaml"].endswith("cannot be rewritten in place")
    assert problems["bad.yaml"].startswith("bad.yaml:3: invalid YAML")
    assert "over the limit of 2000" in problems["big.yaml"]
    assert "not UTF-8" in problems["latin1.yaml"]
    assert "symbolic link out of the tree" in problems["link.yaml"]
    assert "ci/task.yml" in {one.path for one in plan.files}
    apply(plan)
    assert outside.read_text() == "image: ghcr.io/org/app:v1\n"
    assert (tmp_path / "block.yaml").read_text() == "image: |\n  ghcr.io/org/app:v1\n"


def test_a_value_that_cannot_be_rewritten_in_place_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text(
        'a:\n  image: "ghcr.io/org/\\\n    app:v1"\nb:\n  image: ghcr.io/org/app:v1\n'
    )
    plan = bump(tmp_path, f"{APP}:v2", pin="tag")
    [problem] = plan.problems
    assert (problem.path, problem.line) == ("v.yaml", 2)
    assert "cannot be rewritten" in problem.message
    assert new_text(plan, "v.yaml").endswith("  image: ghcr.io/org/app:v2\n")


def test_an_unwritable_reference_to_another_image_is_no_problem(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text(
        "a:\n  image: >\n    nginx:1\nb:\n  image: ghcr.io/org/app:v1\n"
    )
    plan = bump(tmp_path, f"{APP}:v2", pin="tag")
    assert plan.problems == []
    assert len(plan.changes) == 1


def test_git_metadata_and_special_files_are_not_read(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text("image: ghcr.io/org/app:v1\n")
    os.mkfifo(tmp_path / "fifo.yaml")  # reading it would block
    plan = bump(tmp_path, f"{APP}:v2", pin="tag")
    assert plan.files == []
    assert [str(p) for p in plan.problems] == ["fifo.yaml: skipped: not a regular file"]


def test_adding_a_key_to_a_flow_mapping_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("image: {repository: nginx, tag: v1}\n")
    plan = bump(tmp_path, f"nginx:v2@{NEW}", pin="both")
    assert plan.files == []
    [problem] = plan.problems
    assert "flow mapping" in problem.message and problem.line == 1


def test_apply_refuses_a_file_changed_since_the_plan(tmp_path: Path) -> None:
    from foredeck.cd import StaleFile

    write_tree(tmp_path)
    plan = bump(tmp_path, f"{APP}:v2", pin="tag")
    (tmp_path / "ci/task.yml").write_text("edited by hand\n")
    with pytest.raises(StaleFile, match=r"ci/task\.yml changed"):
        apply(plan)
    assert (tmp_path / "ci/workflow.yaml").read_text().count("app:v1") == 2  # nothing written


def test_apply_writes_the_planned_bytes_and_keeps_the_mode(tmp_path: Path) -> None:
    write_tree(tmp_path)
    (tmp_path / "ci/task.yml").chmod(0o640)
    plan = bump(tmp_path, f"{APP}:v2", pin="tag")
    written = apply(plan)
    assert sorted(written) == sorted(tmp_path / one.path for one in plan.files)
    for one in plan.files:
        assert (tmp_path / one.path).read_text() == one.new
    assert (tmp_path / "ci/task.yml").stat().st_mode & 0o777 == 0o640
    assert bump(tmp_path, f"{APP}:v2", pin="tag").files == []  # now all current
    assert not list(tmp_path.rglob(".*.yaml.*"))  # no temporary files left


def test_bad_arguments_are_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(RefError, match="given twice"):
        plan_bump(
            tmp_path, [NewImage.parse("nginx:1"), NewImage.parse("docker.io/nginx:2")], [], "tag"
        )
    with pytest.raises(RefError, match="needs a digest"):
        plan_bump(tmp_path, [NewImage.parse("nginx:1")], [], "digest")
    with pytest.raises(NotADirectoryError):
        plan_bump(tmp_path / "none", [NewImage.parse("nginx:1")], [], "tag")


def test_a_tag_pin_removes_a_stale_digest_line_and_keeps_the_rest(tmp_path: Path) -> None:
    text = f"images:\n- name: nginx\n  digest: {OLD}  # pinned\n  newTag: v1\n"
    (tmp_path / "kustomization.yml").write_text(text)
    plan = bump(tmp_path, "nginx:v2", pin="tag")
    assert new_text(plan, "kustomization.yml") == "images:\n- name: nginx\n  newTag: v2\n"


def test_a_key_sharing_its_line_is_not_removed(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text(f"image: {{repository: nginx, digest: {OLD}}}\n")
    plan = bump(tmp_path, f"nginx@{NEW}", pin="digest")
    assert new_text(plan, "values.yaml") == f"image: {{repository: nginx, digest: {NEW}}}\n"
    plan = bump(tmp_path, "nginx:v2", pin="tag")
    assert plan.files == []
    assert "cannot add 'tag' to a flow mapping" in plan.problems[0].message


def test_one_value_two_images_want_differently_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    text = "a:\n  repository: nginx\n  tag: &t v1\nb:\n  repository: redis\n  tag: *t\n"
    (tmp_path / "values.yaml").write_text(text)
    images = [NewImage.parse("nginx:v2"), NewImage.parse("redis:v3")]
    plan = plan_bump(tmp_path, images, [], "tag")
    assert plan.files == []
    assert [str(p) for p in plan.problems] == [
        "values.yaml: left as it was: two changes of one value, line 3 (an alias?)"
    ]
    one = plan_bump(tmp_path, images[:1], [], "tag")  # alone, the shared value is bumped
    assert new_text(one, "values.yaml") == text.replace("&t v1", "&t v2")


def test_a_file_nested_too_deeply_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    flow = "[" * 200_000 + "]" * 200_000  # quadratic for ruamel's scanner: hours
    (tmp_path / "flow.yaml").write_text(f"image: nginx:1\nx: {flow}\n")
    block = "".join(f"{' ' * n}k:\n" for n in range(1200))  # the composer recurses
    (tmp_path / "block.yaml").write_text(f"image: nginx:1\nx:\n{block}")
    (tmp_path / "ok.yaml").write_text("image: nginx:1\nx: [[{a: [1]}]]\n")
    plan = bump(tmp_path, "nginx:2", pin="tag")
    problems = {p.path: p.message for p in plan.problems}
    assert problems.keys() == {"flow.yaml", "block.yaml"}
    assert all("nest" in message for message in problems.values())  # ours, or the parser's
    assert [one.path for one in plan.files] == ["ok.yaml"]


def test_characters_outside_ascii_before_a_reference_do_not_shift_the_splice(
    tmp_path: Path,
) -> None:
    """The parser's positions count characters, as Python's strings do: text with accents,
    CJK and characters outside the Basic Multilingual Plane before a value moves nothing."""
    text = (
        "# café ☕ 🚀 注释\n"
        'metadata: {name: "näme 🚀"}\n'
        "spec:\n"
        "  containers:\n"
        "  - name: ä🚀\n"
        f"    image: {APP}:v1 # ok 🚀\n"
        '    env: [{name: X, value: "ö"}]\n'
        f"  - image: {APP}:v1\n"
    )
    (tmp_path / "pod.yaml").write_text(text, encoding="utf-8")
    plan = bump(tmp_path, f"{APP}:v2", pin="tag")
    assert not plan.problems
    assert new_text(plan, "pod.yaml") == text.replace(f"{APP}:v1", f"{APP}:v2")
