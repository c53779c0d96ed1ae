"""Find the image references in a manifest's text: every place a bump may rewrite.

Three shapes, at any depth of any document of a file:
- a whole reference in one value: `image: nginx:1.25` (Kubernetes, Argo, Tekton, Helm values
  that take one string);
- Helm values: a mapping with `repository` (and maybe `registry`, `tag`, `digest`), such as
  `image: {repository: nginx, tag: "1.25"}`;
- a kustomization's `images:` entries (`name`, `newName`, `newTag`, `digest`).
Values that are not references (templates, other strings) are ignored: a site only matters
when its name is one of the bumped images'.

Parsing is libyaml's composer (PyYAML's `CSafeLoader`; its pure-Python loader where PyYAML was
built without libyaml): its nodes carry the exact character range of each value. Nothing is
constructed, as only the positions are used. ruamel.yaml's pure-Python composer gives the same
positions but takes ~30x as long (bench/bump_scan.py), too slow for a tree where every file
names the image.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from foredeck.cd.refs import ImageRef, RefError, parse_ref, split_name
from foredeck.cd.source import RewriteError, Scalar, scalar

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_FLOW_DEPTH = 64
_BRACKETS = re.compile(r"[\[\]{}]")
KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})


@dataclass(frozen=True)
class RefSite:
    """A reference written whole in one value."""

    at: Scalar
    ref: ImageRef

    @property
    def name(self) -> str:
        return self.ref.name


@dataclass(frozen=True)
class FieldsSite:
    """A reference spread over a mapping's keys (Helm values, a kustomize `images:` entry)."""

    kind: Literal["helm", "kustomize"]
    name: str
    written: str
    mapping: MappingNode
    anchor: Scalar  # the name's value: a missing key is added below its line
    tag_key: str
    tag: Scalar | None
    tag_node: Node | None
    digest: Scalar | None
    digest_node: Node | None


Site = RefSite | FieldsSite


@dataclass(frozen=True)
class Unwritable:
    """A reference to `name` that cannot be rewritten in place (a problem if `name` is bumped)."""

    name: str
    line: int
    message: str


class TooDeep(ValueError):
    """Collections nested deeper than any manifest's (and than a pure-Python parser parses in
    good time)."""


def flow_depth(text: str) -> int:
    """How deep `[` and `{` nest (quotes ignored: an upper bound for real manifests)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(text):
        depth = depth + 1 if bracket in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def compose(text: str) -> list[Node]:
    """The documents of `text`; raises `yaml.YAMLError` (with the line) when invalid, and
    `TooDeep` first when flow collections nest over `MAX_FLOW_DEPTH` (pure-Python scanners take
    time quadratic in that depth; libyaml stops at 1,000 levels)."""
    if flow_depth(text) > MAX_FLOW_DEPTH:
        raise TooDeep(f"flow collections nested over {MAX_FLOW_DEPTH} deep")
    return [doc for doc in yaml.compose_all(text, Loader=_LOADER) if doc is not None]


def find_sites(text: str, kustomization: bool = False) -> Iterator[Site | Unwritable]:
    """Every site in `text`, and the references that cannot be rewritten in place. Raises
    `yaml.YAMLError` when `text` is not YAML."""
    seen: set[int] = set()
    for doc in compose(text):
        if kustomization and isinstance(doc, MappingNode):
            yield from _kustomize(text, doc)
        yield from _walk(text, doc, seen, skip=_images_list(doc) if kustomization else None)


def _keys(mapping: MappingNode) -> dict[str, tuple[Node, Node]]:
    return {k.value: (k, v) for k, v in mapping.value if isinstance(k, ScalarNode)}


def _images_list(doc: Node) -> Node | None:
    if isinstance(doc, MappingNode):
        return _keys(doc).get("images", (None, None))[1]
    return None


def _walk(text: str, node: Node, seen: set[int], skip: Node | None) -> Iterator[Site | Unwritable]:
    if id(node) in seen or node is skip:
        return
    seen.add(id(node))
    if isinstance(node, SequenceNode):
        for item in node.value:
            yield from _walk(text, item, seen, skip)
    elif isinstance(node, MappingNode):
        keys = _keys(node)
        if "repository" in keys:
            yield from _helm(text, node, keys)
        image = keys.get("image")
        if image is not None and isinstance(image[1], ScalarNode) and id(image[1]) not in seen:
            seen.add(id(image[1]))
            yield from _whole(text, image[1])
        for _, value in node.value:
            yield from _walk(text, value, seen, skip)


def _whole(text: str, node: ScalarNode) -> Iterator[Site | Unwritable]:
    try:
        ref = parse_ref(node.value.strip())  # stripped: a block scalar is named, not skipped
    except RefError:
        return  # a template, an empty value: not a reference
    try:
        yield RefSite(scalar(text, node), ref)
    except RewriteError as exc:
        yield Unwritable(ref.name, exc.line, str(exc))


def _string(keys: dict[str, tuple[Node, Node]], key: str) -> str:
    node = keys.get(key, (None, None))[1]
    return (
        str(node.value)
        if isinstance(node, ScalarNode) and (node.tag or "").endswith(":str")
        else ""
    )


def _fields(
    text: str, kind: Literal["helm", "kustomize"], mapping: MappingNode, written: str, name_key: str
) -> Iterator[Site | Unwritable]:
    keys = _keys(mapping)
    tag_key = "tag" if kind == "helm" else "newTag"
    try:
        registry, path = split_name(written)
    except RefError:
        return
    try:
        found = {
            key: scalar(text, keys[key][1], keys[key][0])
            for key in (tag_key, "digest")
            if key in keys
        }
        anchor = scalar(text, keys[name_key][1])
    except RewriteError as exc:
        yield Unwritable(f"{registry}/{path}", exc.line, str(exc))
        return
    node = {key: keys[key][0] if key in keys else None for key in (tag_key, "digest")}
    yield FieldsSite(
        kind, f"{registry}/{path}", written, mapping, anchor, tag_key,
        found.get(tag_key), node[tag_key], found.get("digest"), node["digest"],
    )  # fmt: skip


def _helm(
    text: str, mapping: MappingNode, keys: dict[str, tuple[Node, Node]]
) -> Iterator[Site | Unwritable]:
    repository = _string(keys, "repository")
    if not repository:
        return
    registry = _string(keys, "registry")
    written = f"{registry}/{repository}" if registry else repository
    yield from _fields(text, "helm", mapping, written, "repository")


def _kustomize(text: str, doc: MappingNode) -> Iterator[Site | Unwritable]:
    images = _images_list(doc)
    if not isinstance(images, SequenceNode):
        return
    for entry in images.value:
        if not isinstance(entry, MappingNode):
            continue
        keys = _keys(entry)
        name_key = "newName" if _string(keys, "newName") else "name"
        written = _string(keys, name_key)
        if written:
            yield from _fields(text, "kustomize", entry, written, name_key)
