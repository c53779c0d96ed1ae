"""Image references as docker reads them, and the new image a bump writes.

A manifest may spell one image several ways (`nginx`, `docker.io/nginx`,
`index.docker.io/library/nginx`); matching compares the canonical name, writing keeps the
spelling the manifest already uses. The grammar is distribution's `reference` package's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

Pin = Literal["digest", "tag", "both"]
"""How a bumped reference names its image: `name@sha256:...`, `name:tag` or both."""
PINS: tuple[str, ...] = get_args(Pin)

DOCKER_HUB = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_HOST = re.compile(
    r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}")
MAX_REFERENCE = 512


class RefError(ValueError):
    """Text that is not an image reference, or a new image the pin policy cannot write."""


@dataclass(frozen=True)
class ImageRef:
    """A parsed reference: `written` is the name as the text spelled it (no tag, no digest)."""

    registry: str
    path: str
    tag: str | None
    digest: str | None
    written: str

    @property
    def name(self) -> str:
        """The canonical name (`docker.io/library/nginx`), what two spellings share."""
        return f"{self.registry}/{self.path}"

    def __str__(self) -> str:
        return spell(self.written, self.tag, self.digest)


def spell(name: str, tag: str | None, digest: str | None) -> str:
    """`name[:tag][@digest]`."""
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def split_name(name: str) -> tuple[str, str]:
    """(registry, path) of an image name, docker's way: the first component is a registry
    when it has a `.` or `:`, is `localhost` or has capitals; Docker Hub's one-component
    names live under `library/`. Raises `RefError`."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        if not _HOST.fullmatch(first):
            raise RefError(f"{name!r}: {first!r} is not a registry host")
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, name
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    if not _PATH.fullmatch(path):
        raise RefError(f"{name!r} is not an image name (lower-case path components)")
    return registry, path


def parse_ref(text: str) -> ImageRef:
    """`[registry[:port]/]path[:tag][@algorithm:hex]` -> `ImageRef`; raises `RefError`."""
    if not text or len(text) > MAX_REFERENCE:
        raise RefError(f"an image reference has 1 to {MAX_REFERENCE} characters: {text[:60]!r}")
    rest, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise RefError(f"{text!r}: {digest!r} is not a digest (sha256:<64 hex>)")
    name, tag = rest, None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise RefError(f"{text!r}: {tag!r} is not a tag")
    registry, path = split_name(name)
    return ImageRef(registry, path, tag, digest or None, name)


@dataclass(frozen=True)
class NewImage:
    """The image a bump writes: its name and the tag and/or digest the pin policy needs."""

    name: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> NewImage:
        """`NAME[:TAG][@DIGEST]`, as given on the command line."""
        ref = parse_ref(text)
        if ref.tag is None and ref.digest is None:
            raise RefError(f"{text!r} names neither a tag nor a digest to bump to")
        return cls(ref.written, ref.tag, ref.digest)

    def __post_init__(self) -> None:
        parse_ref(spell(self.name, self.tag, self.digest))  # raises on a bad part

    @property
    def canonical(self) -> str:
        registry, path = split_name(self.name)
        return f"{registry}/{path}"

    def wanted(self, pin: Pin) -> tuple[str | None, str | None]:
        """(tag, digest) that a reference pinned by `pin` names; raises `RefError` when this
        image lacks the part `pin` needs."""
        if pin not in PINS:
            raise RefError(f"pin must be one of {', '.join(PINS)}, not {pin!r}")
        need_tag, need_digest = pin in ("tag", "both"), pin in ("digest", "both")
        if need_tag and not self.tag:
            raise RefError(f"{self.name}: pin {pin!r} needs a tag (NAME:TAG)")
        if need_digest and not self.digest:
            raise RefError(f"{self.name}: pin {pin!r} needs a digest (NAME@sha256:...)")
        return (self.tag if need_tag else None, self.digest if need_digest else None)

    def __str__(self) -> str:
        return spell(self.name, self.tag, self.digest)
