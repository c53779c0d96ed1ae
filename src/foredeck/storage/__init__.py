"""Artifact storage in Prow's layout: a store interface, its back ends, and the path helpers."""

from foredeck.storage.store import ArtifactStore, Entry, open_store

__all__ = ["ArtifactStore", "Entry", "open_store"]
