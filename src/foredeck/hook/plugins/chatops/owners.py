"""OWNERS and OWNERS_ALIASES, in Prow's format, and who may approve which changed file.

An `OWNERS` file in a directory names `approvers` and `reviewers` (logins or aliases from the
root `OWNERS_ALIASES`), `labels`, and `options: {no_parent_owners: true}` to stop inheriting the
parent directories' owners. Instead of the top-level lists, `filters` maps a regular expression
to approvers/reviewers/labels for the files it matches (as Prow's `repoowners`: the pattern is
searched in the file's path relative to the OWNERS file's directory; `.*` is every file).

A changed file is approved when someone who approved is an approver of its directory or of a
parent directory, up to the root or to the first `no_parent_owners` file at or below which some
approver was found (Prow's `entriesForFile`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_OWNERS_BYTES = 64 * 1024


class OwnersError(ValueError):
    """An OWNERS or OWNERS_ALIASES file that cannot be used (its path and why)."""


@dataclass(frozen=True)
class OwnersEntry:
    approvers: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class OwnersFile:
    directory: str
    """`""` for the root, else `a/b`."""
    filters: tuple[tuple[re.Pattern[str], OwnersEntry], ...]
    no_parent_owners: bool = False

    def entries_for(self, path: str) -> list[OwnersEntry]:
        return [entry for regex, entry in self.filters if regex.search(path)]


def _names(raw: Any, where: str, key: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise OwnersError(f"{where}: {key} must be a list of names")
    return tuple(x.strip() for x in raw if x.strip())


def _entry(raw: Mapping[str, Any], where: str) -> OwnersEntry:
    return OwnersEntry(
        approvers=_names(raw.get("approvers"), where, "approvers"),
        reviewers=_names(raw.get("reviewers"), where, "reviewers"),
        labels=_names(raw.get("labels"), where, "labels"),
    )


def _load(text: str, where: str) -> dict[str, Any]:
    if len(text.encode("utf-8", "replace")) > MAX_OWNERS_BYTES:
        raise OwnersError(f"{where}: larger than {MAX_OWNERS_BYTES} bytes")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OwnersError(f"{where}: not YAML: {str(exc)[:200]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OwnersError(f"{where}: must be a mapping")
    return data


def parse_owners(text: str, directory: str) -> OwnersFile:
    where = posixpath.join(directory, "OWNERS") if directory else "OWNERS"
    data = _load(text, where)
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise OwnersError(f"{where}: options must be a mapping")
    filters: list[tuple[re.Pattern[str], OwnersEntry]] = []
    raw_filters = data.get("filters")
    if raw_filters is not None:
        if not isinstance(raw_filters, dict):
            raise OwnersError(f"{where}: filters must map patterns to owners")
        for pattern, raw in raw_filters.items():
            try:
                regex = re.compile(str(pattern))
            except re.error as exc:
                raise OwnersError(f"{where}: filter {str(pattern)[:80]!r}: {exc}") from None
            if not isinstance(raw, dict):
                raise OwnersError(f"{where}: filter {str(pattern)[:80]!r} must be a mapping")
            filters.append((regex, _entry(raw, where)))
    else:
        filters.append((re.compile(".*"), _entry(data, where)))
    return OwnersFile(directory, tuple(filters), bool(options.get("no_parent_owners")))


def parse_aliases(text: str) -> dict[str, tuple[str, ...]]:
    data = _load(text, "OWNERS_ALIASES")
    aliases = data.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise OwnersError("OWNERS_ALIASES: aliases must map names to lists of logins")
    return {
        str(name).lower(): _names(members, "OWNERS_ALIASES", str(name))
        for name, members in aliases.items()
    }


def directories_of(path: str) -> list[str]:
    """`a/b/c.py` -> `["a/b", "a", ""]`: where OWNERS files for it may be, nearest first."""
    found: list[str] = []
    directory = posixpath.dirname(path)
    while directory:
        found.append(directory)
        directory = posixpath.dirname(directory)
    found.append("")
    return found


@dataclass
class Owners:
    files: dict[str, OwnersFile]
    """Directory -> its OWNERS file."""
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def _expand(self, names: Iterable[str]) -> list[str]:
        out: list[str] = []
        for name in names:
            out.extend(self.aliases.get(name.lower(), (name,)))
        return list(dict.fromkeys(n.lower() for n in out))

    def _layers(
        self, path: str, pick: Callable[[OwnersEntry], tuple[str, ...]]
    ) -> list[tuple[str, list[str]]]:
        """(directory, names) of each OWNERS file owning `path`, nearest first."""
        layers: list[tuple[str, list[str]]] = []
        for directory in directories_of(path):
            owners = self.files.get(directory)
            if owners is None:
                continue
            relative = posixpath.relpath(path, directory) if directory else path
            names = [name for entry in owners.entries_for(relative) for name in pick(entry)]
            layers.append((directory, names))
            if owners.no_parent_owners and any(found for _, found in layers):
                break
        return layers

    def approvers(self, path: str) -> list[str]:
        """Everyone who may approve `path` (lower case), nearest first."""
        return self._expand(n for _, names in self._layers(path, _approvers) for n in names)

    def nearest_approvers(self, path: str) -> tuple[str, list[str]]:
        """(the nearest OWNERS directory naming approvers for `path`, its approvers)."""
        for directory, names in self._layers(path, _approvers):
            if names:
                return directory, self._expand(names)
        return "", []

    def labels(self, paths: Iterable[str]) -> list[str]:
        return sorted({n for p in paths for _, names in self._layers(p, _labels) for n in names})

    def suggested(self, paths: Iterable[str]) -> list[str]:
        """A few approvers who, together, can approve every path: each pick is the nearest
        approver owning most of the paths still uncovered (ties: alphabetical), as Prow's
        notifier suggests leaf approvers rather than the root's."""
        wanted = {p: set(self.nearest_approvers(p)[1]) for p in paths}
        wanted = {p: who for p, who in wanted.items() if who}
        picked: list[str] = []
        while wanted:
            counts: dict[str, int] = {}
            for who in wanted.values():
                for name in who:
                    counts[name] = counts.get(name, 0) + 1
            best = min(counts, key=lambda name: (-counts[name], name))
            picked.append(best)
            wanted = {p: who for p, who in wanted.items() if best not in who}
        return picked

    def unapproved(self, paths: Iterable[str], approved_by: Iterable[str]) -> list[str]:
        who = {login.lower() for login in approved_by}
        return [p for p in paths if not who.intersection(self.approvers(p))]


def _approvers(entry: OwnersEntry) -> tuple[str, ...]:
    return entry.approvers


def _labels(entry: OwnersEntry) -> tuple[str, ...]:
    return entry.labels
