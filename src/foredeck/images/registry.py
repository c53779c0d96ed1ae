"""Image references and registries: the host a reference names, what kind of registry it is,
and whether it is reached over plain HTTP."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # not imported at run time: `foredeck run` stays without pydantic
    from foredeck.settings import ImageSettings

RegistryKind = Literal["config", "ecr", "google"]

_ECR = re.compile(r"\d{12}\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?")
_GOOGLE = re.compile(r"(.+\.)?gcr\.io|[a-z0-9-]+-docker\.pkg\.dev")
DOCKER_HUB = "docker.io"


def registry_host(reference: str) -> str:
    """The registry of `reference` (`HOST[:PORT]/name:tag`): its first path component when that
    looks like a host (a `.`, a `:` or `localhost`), else Docker Hub, as docker reads it."""
    first, sep, _ = reference.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def registry_kind(host: str, settings: ImageSettings) -> RegistryKind:
    """Where the credentials for `host` come from: the setting, else its name's pattern."""
    if host in settings.registry_kinds:
        return settings.registry_kinds[host]
    if _ECR.fullmatch(host):
        return "ecr"
    if _GOOGLE.fullmatch(host):
        return "google"
    return "config"


def ecr_region(host: str) -> str | None:
    """The AWS region an ECR host names (`123456789012.dkr.ecr.eu-west-1.amazonaws.com`)."""
    found = _ECR.fullmatch(host)
    return found.group(2) if found else None


def insecure(host: str, settings: ImageSettings) -> bool:
    """Whether `host` is one of the plain-HTTP registries of the settings."""
    return insecure_in(host, settings.insecure_registries)


def insecure_in(host: str, patterns: Iterable[str]) -> bool:
    """Whether `host` matches one of `patterns` (`HOST:PORT`, `*` allowed)."""
    return any(fnmatch.fnmatchcase(host, pattern) for pattern in patterns)
