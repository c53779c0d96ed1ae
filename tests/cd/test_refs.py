"""Image references read as docker reads them; the new image and what a pin policy needs."""

from __future__ import annotations

import pytest

from foredeck.cd import NewImage, RefError, parse_ref

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "name", "tag", "digest"),
    [
        ("nginx", "docker.io/library/nginx", None, None),
        ("nginx:1.25", "docker.io/library/nginx", "1.25", None),
        ("docker.io/nginx", "docker.io/library/nginx", None, None),
        ("index.docker.io/library/nginx:1", "docker.io/library/nginx", "1", None),
        ("bitnami/redis:7.2", "docker.io/bitnami/redis", "7.2", None),
        ("localhost/app", "localhost/app", None, None),
        ("localhost:5000/team/app:v1", "localhost:5000/team/app", "v1", None),
        ("ghcr.io/org/app@" + DIGEST, "ghcr.io/org/app", None, DIGEST),
        ("gcr.io/p/a/b:v1.2-rc_3@" + DIGEST, "gcr.io/p/a/b", "v1.2-rc_3", DIGEST),
        ("Registry/app", "Registry/app", None, None),  # capitals make a host
        ("[::1]:5000/app:x", "[::1]:5000/app", "x", None),
    ],
)
def test_a_reference_reads_as_docker_reads_it(
    text: str, name: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_ref(text)
    assert (ref.name, ref.tag, ref.digest) == (name, tag, digest)
    assert str(ref) == text  # the spelling is kept


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Nginx",
        "nginx:",
        "nginx:bad tag",
        "nginx@sha256:short",
        "{{ .Values.image }}",
        "https://example.com/x",
        "a//b",
        "x" * 600,
    ],
)
def test_what_is_not_a_reference_is_refused(text: str) -> None:
    with pytest.raises(RefError):
        parse_ref(text)


def test_a_new_image_needs_a_tag_or_a_digest() -> None:
    with pytest.raises(RefError, match="neither a tag nor a digest"):
        NewImage.parse("nginx")
    with pytest.raises(RefError):
        NewImage("nginx", "bad tag")


@pytest.mark.parametrize(
    ("pin", "wanted"),
    [("digest", (None, DIGEST)), ("tag", ("1.26", None)), ("both", ("1.26", DIGEST))],
)
def test_the_pin_decides_what_a_reference_names(pin: str, wanted: tuple[str, str]) -> None:
    image = NewImage.parse(f"nginx:1.26@{DIGEST}")
    assert image.canonical == "docker.io/library/nginx"
    assert image.wanted(pin) == wanted  # type: ignore[arg-type]


def test_a_pin_the_image_cannot_satisfy_is_an_error() -> None:
    with pytest.raises(RefError, match="needs a digest"):
        NewImage.parse("nginx:1.26").wanted("digest")
    with pytest.raises(RefError, match="needs a tag"):
        NewImage.parse(f"nginx@{DIGEST}").wanted("both")
    with pytest.raises(RefError, match="pin must be one of"):
        NewImage.parse("nginx:1").wanted("latest")  # type: ignore[arg-type]
