"""OWNERS and OWNERS_ALIASES (Prow's format): who may approve which file."""

from __future__ import annotations

import pytest

from foredeck.hook.plugins.chatops.owners import (
    Owners,
    OwnersError,
    directories_of,
    parse_aliases,
    parse_owners,
)


def owners(files: dict[str, str], aliases: str = "") -> Owners:
    parsed = {d: parse_owners(text, d) for d, text in files.items()}
    return Owners(parsed, parse_aliases(aliases) if aliases else {})


def test_directories_nearest_first() -> None:
    assert directories_of("a/b/c.py") == ["a/b", "a", ""]
    assert directories_of("README.md") == [""]


def test_nested_directories_inherit_their_parents_approvers() -> None:
    o = owners({"": "approvers: [root]", "a": "approvers: [amy]", "a/b": "approvers: [bea]"})
    assert o.approvers("a/b/c.py") == ["bea", "amy", "root"]
    assert o.approvers("a/x.py") == ["amy", "root"]
    assert o.approvers("z.py") == ["root"]
    assert o.nearest_approvers("a/b/deep/c.py") == ("a/b", ["bea"])
    assert o.unapproved(["a/b/c.py", "a/x.py", "z.py"], ["Amy"]) == ["z.py"]


def test_no_parent_owners_stops_inheritance() -> None:
    o = owners(
        {"": "approvers: [root]", "secret": "approvers: [sec]\noptions: {no_parent_owners: true}"}
    )
    assert o.approvers("secret/key.py") == ["sec"]
    assert o.unapproved(["secret/key.py", "main.py"], ["root"]) == ["secret/key.py"]


def test_no_parent_owners_without_approvers_of_its_own_still_inherits() -> None:
    """Prow stops climbing only once some approver was found."""
    o = owners(
        {"": "approvers: [root]", "x": "reviewers: [rev]\noptions: {no_parent_owners: true}"}
    )
    assert o.approvers("x/y.py") == ["root"]


def test_filters_match_the_path_relative_to_their_directory() -> None:
    o = owners({"": "approvers: [root]", "docs": "filters:\n  '^guide\\.md$': {approvers: [ed]}"})
    assert o.approvers("docs/guide.md") == ["ed", "root"]
    assert o.approvers("docs/sub/guide.md") == ["root"]  # relative path is sub/guide.md


def test_aliases_expand_case_insensitively() -> None:
    o = owners({"docs": "approvers: [Doc-Team, zed]"}, "aliases:\n  doc-team: [ann, bob]\n")
    assert o.approvers("docs/a.md") == ["ann", "bob", "zed"]


def test_a_change_touching_three_owners_directories_needs_all_three() -> None:
    o = owners({"a": "approvers: [amy]", "b": "approvers: [ben]", "c": "approvers: [cat]"})
    files = ["a/1.py", "b/2.py", "c/3.py"]
    assert o.unapproved(files, ["amy"]) == ["b/2.py", "c/3.py"]
    assert o.unapproved(files, ["amy", "ben"]) == ["c/3.py"]
    assert o.unapproved(files, ["amy", "ben", "cat"]) == []


def test_suggested_approvers_cover_every_file_with_few_nearest_approvers() -> None:
    o = owners(
        {
            "": "approvers: [root]",
            "a": "approvers: [amy, zed]",
            "b": "approvers: [ben, zed]",
            "c": "approvers: [cat]",
            "d": "reviewers: [dan]",  # no approvers of its own: the root's are nearest
        }
    )
    # zed owns a and b: one name instead of two; cat is c's only; root covers d
    assert o.suggested(["a/1.py", "b/2.py", "c/3.py", "d/4.py"]) == ["zed", "cat", "root"]
    assert o.suggested(["a/1.py"]) == ["amy"]  # a tie goes to the first name
    assert o.suggested([]) == []
    assert owners({"a": "approvers: [amy]"}).suggested(["b/1.py"]) == []  # nobody to ask


def test_filters_choose_owners_by_path_and_labels_follow() -> None:
    text = (
        "filters:\n"
        "  '.*':\n    approvers: [all]\n"
        "  '\\.md$':\n    approvers: [writer]\n    labels: [area/docs]\n"
    )
    o = owners({"": text})
    assert o.approvers("guide.md") == ["all", "writer"]
    assert o.approvers("main.go") == ["all"]
    assert o.labels(["guide.md", "main.go"]) == ["area/docs"]


def test_a_file_no_owners_covers_cannot_be_approved() -> None:
    o = owners({"a": "approvers: [amy]"})
    assert o.unapproved(["b/x.py"], ["amy"]) == ["b/x.py"]
    assert o.nearest_approvers("b/x.py") == ("", [])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("approvers: amy", "approvers must be a list of names"),
        ("- a\n- b", "must be a mapping"),
        ("approvers: [", "not YAML"),
        ("filters: {'(': {approvers: [a]}}", "filter '('"),
        ("options: 3", "options must be a mapping"),
        ("approvers: [" + "a, " * 40000 + "b]", "larger than"),
    ],
)
def test_unusable_owners_files_say_where_and_why(text: str, fragment: str) -> None:
    with pytest.raises(OwnersError) as caught:
        parse_owners(text, "pkg")
    assert str(caught.value).startswith("pkg/OWNERS: ")
    assert fragment in str(caught.value)
