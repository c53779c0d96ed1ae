"""Prometheus metrics of the reporter, in the registry it is given (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class ReporterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.reports = Counter(
            "foredeck_reporter_reports",
            "Job states reported, by job state and result (sent, skipped, failed).",
            ["state", "result"],
            registry=registry,
        )
        self.comments = Counter(
            "foredeck_reporter_comments",
            "PR report comment updates by action (created, edited, deleted, unchanged, failed).",
            ["action"],
            registry=registry,
        )
