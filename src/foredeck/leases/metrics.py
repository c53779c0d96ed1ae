"""Prometheus: resources by type and state, counted from the database at each scrape (so that
every server reports the same numbers, whichever process changed them)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from foredeck.db.models import LEASE_STATES
from foredeck.leases import store


class LeaseCollector(Collector):
    def __init__(self, engine: Engine, types: list[str]) -> None:
        self.engine = engine
        self.types = types

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "foredeck_lease_resources",
            "Lease resources by type and state (free, busy, dirty, cleaning, tombstone).",
            labels=["type", "state"],
        )
        counts = store.counts(self.engine)
        types = sorted(set(self.types) | {t for t, _ in counts})
        for type_ in types:
            for state in LEASE_STATES:
                family.add_metric([type_, state], counts.get((type_, state), 0))
        yield family
