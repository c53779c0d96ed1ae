"""The edits that point one site at a new image, as the pin policy says.

A whole reference keeps its spelling of the name and gets the wanted tag and/or digest. A
reference spread over keys gets each wanted part in its key (added below the name when
missing) and loses the key of a part the policy leaves out: kustomize writes `name:tag@digest`
when both `newTag` and `digest` are set, so a stale `newTag` would survive a digest pin.
"""

from __future__ import annotations

from dataclasses import dataclass

from foredeck.cd.refs import spell
from foredeck.cd.scan import FieldsSite, RefSite, Site
from foredeck.cd.source import Edit, Scalar, delete_line, insert_after, replace


@dataclass(frozen=True)
class Rewrite:
    """One site's old and new reference (`name[:tag][@digest]`) and the edits between them."""

    line: int
    old: str
    new: str
    edits: tuple[Edit, ...]

    @property
    def current(self) -> bool:
        return not self.edits


def rewrite(text: str, site: Site, tag: str | None, digest: str | None) -> Rewrite:
    """Raises `RewriteError` when the site cannot take the change in place."""
    if isinstance(site, RefSite):
        old = site.ref
        new = spell(old.written, tag, digest)
        edits = () if new == site.at.value else (replace(site.at, new),)
        return Rewrite(site.at.line, site.at.value, new, edits)
    return _fields(text, site, tag, digest)


def _fields(text: str, site: FieldsSite, tag: str | None, digest: str | None) -> Rewrite:
    old_tag = site.tag.value if site.tag else None
    old_digest = site.digest.value if site.digest else None
    edits: list[Edit] = []
    parts = (
        (site.tag_key, site.tag_node, site.tag, tag),
        ("digest", site.digest_node, site.digest, digest),
    )
    for key, node, at, wanted in parts:
        have = at.value if at is not None else None
        if (have or None) == wanted:
            continue
        if wanted is None:
            assert node is not None and at is not None
            edits.append(delete_line(text, node, at))
        elif at is not None:
            edits.append(replace(at, wanted))
        else:
            edits.append(insert_after(text, site.mapping, _last(site), key, wanted))
    old = spell(site.written, old_tag or None, old_digest or None)
    return Rewrite(site.anchor.line, old, spell(site.written, tag, digest), tuple(edits))


def _last(site: FieldsSite) -> Scalar:
    """The value below which added keys go: the tag's when there is one, else the name's."""
    return site.tag if site.tag is not None else site.anchor
