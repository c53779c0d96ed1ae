"""A provider that keeps its "cloud" in a dict, for the service's and janitor's unit tests."""

from __future__ import annotations

import threading
import time
from typing import Any

from foredeck.leases.provider import ProviderError, check_lease_id


class FakeProvider:
    kind = "fake"

    def __init__(self, prefix: str = "fdt") -> None:
        self.prefix = prefix
        self.held: dict[str, str] = {}
        self.fail_create = False
        self.create_delay = 0.0
        self.deleted: list[str] = []
        self._lock = threading.Lock()

    def name_for(self, lease_id: str) -> str:
        return f"{self.prefix}-{check_lease_id(lease_id)}"

    def create(self, name: str, lease_id: str) -> dict[str, Any]:
        with self._lock:
            self.held[name] = lease_id
        time.sleep(self.create_delay)  # a cluster takes minutes
        if self.fail_create:  # made, then failed: a half-made resource to clean up
            raise ProviderError(f"fake: {name}: quota exceeded")
        return {"endpoint": f"fake://{name}"}

    def delete(self, name: str) -> None:
        with self._lock:
            self.held.pop(name, None)
            self.deleted.append(name)

    def list_owned(self) -> list[str]:
        with self._lock:
            return sorted(self.held)
