"""YAML loading that remembers where every mapping and key came from.

Every front end (Tekton, Argo, Prow job config) must name `file:line` in its errors, so documents
are loaded into `SourceMap`s: plain dicts that also know the line of the mapping and of each key.
Safe loading only (no arbitrary tags), with a size limit on every input file.

A key given twice in one mapping is an error by default. Prow job config is read as Prow reads it
(sigs.k8s.io/yaml's non-strict `Unmarshal`): the last value wins, and each repetition is reported
in `Document.duplicate_keys` for the caller to warn about. Keys a merge (`<<: *anchor`) brings in
may always be overridden: that is what merges are for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from foredeck.types import PipelineError, Source

MAX_YAML_BYTES = 10 * 1024 * 1024


class SourceMap(dict[str, Any]):
    """A dict with `source` (the mapping's own position) and per-key positions."""

    source: Source
    key_sources: dict[str, Source]

    def at(self, key: str) -> Source:
        """Where `key` was written, or where the mapping starts when the key is absent."""
        return self.key_sources.get(key, self.source)


@dataclass(frozen=True)
class DuplicateKey:
    """A key given again in the same mapping (`source`) after `first`; the later value won."""

    key: str
    source: Source
    first: Source


class _Loader(yaml.SafeLoader):
    filename = "<string>"
    last_key_wins = False
    duplicates: list[DuplicateKey]


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _mapping(loader: Any, node: yaml.MappingNode, build: Callable[[Any], Any]) -> SourceMap:
    explicit = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
    loader.flatten_mapping(node)
    merged = len(node.value) - explicit  # flatten_mapping puts merged pairs first
    result = SourceMap()
    result.source = Source(loader.filename, node.start_mark.line + 1)
    result.key_sources = {}
    from_merge: set[str] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = build(key_node)
        at = Source(loader.filename, key_node.start_mark.line + 1)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise PipelineError(at, "mapping key must be a scalar")
        skey = str(key) if not isinstance(key, str) else key
        if index < merged:
            from_merge.add(skey)
        elif skey in from_merge:
            from_merge.discard(skey)  # an explicit key overrides a merged one
        elif skey in result:
            if not loader.last_key_wins:
                raise PipelineError(at, f"duplicate key {skey!r}")
            loader.duplicates.append(DuplicateKey(skey, at, result.key_sources[skey]))
        result[skey] = build(value_node)
        result.key_sources[skey] = at
    return result


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> SourceMap:
    return _mapping(loader, node, lambda child: loader.construct_object(child, deep=True))


def _timestamp_text(loader: Any, node: yaml.ScalarNode) -> str:
    """A timestamp stays the text it was written as, as with go-yaml v2 (Kubernetes' and Prow's
    sigs.k8s.io/yaml): `value: 2020-06-24` in an env var is that string, not a date."""
    return str(node.value)


_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(_TIMESTAMP_TAG, _timestamp_text)


# libyaml's parser (when PyYAML was built with it) composes nodes in C, several times faster on
# large job configs; node marks, and so every line number, are the same as the Python parser's.
# Its constructor takes a direct route for plain strings, mappings and lists (everything else
# goes through PyYAML's constructors), and it caches scalar tag resolution. Any error on this path
# falls back to the Python loader, so errors read exactly the same.
_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG
_MAP_TAG = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
_SCALAR_TAGS: dict[tuple[str, tuple[bool, bool]], str] = {}
_FastLoader: type[Any] | None = None


def _build(loader: Any, node: Any) -> Any:
    tag = node.tag
    if tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
        return node.value
    done = loader.constructed_objects.get(node, _build)
    if done is not _build:
        return done  # an alias: share the object, as PyYAML does
    if tag not in (_MAP_TAG, _SEQ_TAG) or isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node, deep=True)
    if node in loader.recursive_objects:
        raise yaml.constructor.ConstructorError(
            None, None, "found unconstructable recursive node", node.start_mark
        )
    loader.recursive_objects[node] = None
    if isinstance(node, yaml.MappingNode):
        data: Any = _mapping(loader, node, lambda child: _build(loader, child))
    else:
        data = [_build(loader, child) for child in node.value]
    del loader.recursive_objects[node]
    loader.constructed_objects[node] = data
    return data


if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(yaml.CSafeLoader):
        filename = "<string>"
        last_key_wins = False
        duplicates: list[DuplicateKey]

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is not yaml.ScalarNode:
                return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
            key = (value, implicit)
            tag = _SCALAR_TAGS.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
                if len(value) <= 64 and len(_SCALAR_TAGS) < 100_000:  # keys and short values
                    _SCALAR_TAGS[key] = tag
            return tag

    def _fast_mapping(loader: Any, node: Any) -> SourceMap:
        return _mapping(loader, node, lambda child: _build(loader, child))

    _CLoader.add_constructor(_MAP_TAG, _fast_mapping)
    _CLoader.add_constructor(_TIMESTAMP_TAG, _timestamp_text)
    _FastLoader = _CLoader


@dataclass
class Document:
    """One YAML document of a (possibly multi-document) file."""

    data: Any
    source: Source
    duplicate_keys: list[DuplicateKey] = field(default_factory=list)
    """Keys given twice in one mapping (only with `last_key_wins`; otherwise an error)."""


def load_documents(text: str, filename: str, *, last_key_wins: bool = False) -> list[Document]:
    """Parse every document in `text`; YAML errors become `PipelineError` with file:line.

    A key repeated in one mapping is an error, or with `last_key_wins` (Prow's reading of job
    config) keeps its last value and is listed in the document's `duplicate_keys`."""
    if len(text.encode("utf-8", errors="replace")) > MAX_YAML_BYTES:
        raise PipelineError(Source(filename, 1), f"file larger than {MAX_YAML_BYTES} bytes")
    if _FastLoader is not None and not yaml.reader.Reader.NON_PRINTABLE.search(text):
        try:
            return _parse(_FastLoader(text), filename, last_key_wins)
        except PipelineError:
            pass  # re-parse below so that errors read exactly as the Python parser words them
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # a control character the YAML spec forbids
        line = text.count("\n", 0, exc.position) + 1
        message = f"invalid YAML: unacceptable character #x{exc.character:04x}"
        raise PipelineError(Source(filename, line), message) from None
    return _parse(loader, filename, last_key_wins)


def _parse(loader: Any, filename: str, last_key_wins: bool = False) -> list[Document]:
    loader.filename = filename
    loader.last_key_wins = last_key_wins
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            loader.duplicates = []
            data = loader.construct_document(node)
            if data is not None:
                source = Source(filename, node.start_mark.line + 1)
                docs.append(Document(data, source, loader.duplicates))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise PipelineError(Source(filename, line), f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise PipelineError(Source(filename, 1), f"invalid YAML: {exc}") from None
    except RecursionError:
        raise PipelineError(Source(filename, 1), "invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    return docs


def load_file(path: Path) -> list[Document]:
    """Read and parse a YAML file, refusing oversized and non-UTF-8 input with a clear error."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PipelineError(Source(str(path), 0), f"cannot read: {exc.strerror}") from None
    if size > MAX_YAML_BYTES:
        raise PipelineError(Source(str(path), 1), f"file larger than {MAX_YAML_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PipelineError(Source(str(path), 1), "file is not UTF-8 text") from None
    return load_documents(text, str(path))


def plain(value: Any) -> Any:
    """Parsed YAML as plain dicts and lists (no `SourceMap`s): what emitters dump and what
    cluster-only data is carried as."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
