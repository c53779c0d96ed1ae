"""Prometheus metrics of the controller, in the registry it is given (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(
            "foredeck_controller_jobs_started",
            "Jobs claimed and started by this controller.",
            registry=registry,
        )
        self.finished = Counter(
            "foredeck_controller_jobs_finished",
            "Jobs this controller ran to an end, by final state.",
            ["state"],
            registry=registry,
        )
        self.recovered = Counter(
            "foredeck_controller_jobs_recovered",
            "Jobs of dead controllers recovered, by new state (error, triggered).",
            ["state"],
            registry=registry,
        )
        self.running = Gauge(
            "foredeck_controller_jobs_running",
            "Jobs running in this controller now.",
            registry=registry,
        )
