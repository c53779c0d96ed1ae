"""The interface of the providers that make and delete dynamic resources, and their registry.

A provider names what it makes from foredeck's prefix and a lease id, and marks it (tags,
labels, a name prefix) so that `list_owned` finds everything foredeck made, leaked or not:
the janitor deletes what no live lease resource names.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from foredeck.settings import EksProvider, LeaseProvider, NamespaceProvider

_LEASE_ID = re.compile(r"^[0-9a-f]{32}$")


class ProviderError(Exception):
    """A provider could not make or delete a resource; the message says which and why."""


class Provider(Protocol):
    kind: str

    def name_for(self, lease_id: str) -> str:
        """The name of the resource made for lease `lease_id` (carries the prefix and id)."""
        ...

    def create(self, name: str, lease_id: str) -> dict[str, Any]:
        """Make resource `name`; the user data the holder gets (URL, kubeconfig, ...)."""
        ...

    def delete(self, name: str) -> None:
        """Delete resource `name` and what belongs to it; one that does not exist is fine."""
        ...

    def list_owned(self) -> list[str]:
        """The names of every resource this provider's target holds with foredeck's marks."""
        ...


def check_lease_id(lease_id: str) -> str:
    if not _LEASE_ID.match(lease_id):
        raise ValueError(f"not a lease id: {lease_id!r}")
    return lease_id


def make_provider(config: LeaseProvider, prefix: str) -> Provider:
    """The provider `config` describes (its extra's libraries are imported only here)."""
    if isinstance(config, EksProvider):
        from foredeck.leases.eks import EksClusters

        return EksClusters(config, prefix)
    if isinstance(config, NamespaceProvider):
        from foredeck.leases.namespace import Namespaces

        return Namespaces.from_settings(config, prefix)
    from foredeck.leases.postgres_db import PostgresDatabases

    return PostgresDatabases(config.url.get_secret_value(), prefix)
