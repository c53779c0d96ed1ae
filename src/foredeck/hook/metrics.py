"""Prometheus metrics of the hook and the worker, in a registry per app (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# Label values come from unauthenticated headers: only known event names become labels.
KNOWN_EVENTS = frozenset(
    {
        "branch_protection_rule",
        "check_run",
        "check_suite",
        "code_scanning_alert",
        "commit_comment",
        "create",
        "delete",
        "deployment",
        "deployment_status",
        "discussion",
        "discussion_comment",
        "fork",
        "gollum",
        "installation",
        "installation_repositories",
        "issue_comment",
        "issues",
        "label",
        "member",
        "membership",
        "merge_group",
        "milestone",
        "organization",
        "package",
        "page_build",
        "ping",
        "project",
        "project_card",
        "project_column",
        "public",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_review_thread",
        "push",
        "registry_package",
        "release",
        "repository",
        "repository_dispatch",
        "repository_vulnerability_alert",
        "security_advisory",
        "status",
        "team",
        "team_add",
        "watch",
        "workflow_dispatch",
        "workflow_job",
        "workflow_run",
    }
)


def event_label(event: str | None) -> str:
    if event is None:
        return "none"
    return event if event in KNOWN_EVENTS else "other"


class HookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.deliveries = Counter(
            "foredeck_hook_deliveries",
            "Webhook deliveries by event and HTTP status.",
            ["event", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "foredeck_hook_handling_seconds",
            "Time from request start to response, including the event log commit.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
            registry=registry,
        )
        self._children: dict[tuple[str, int], Counter] = {}

    def delivered(self, event: str | None, status: int, seconds: float) -> None:
        """Count one delivery (the labelled child is looked up once per event and status)."""
        self.latency.observe(seconds)
        key = (event_label(event), status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.deliveries.labels(key[0], str(status))
        child.inc()


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "foredeck_worker_events",
            "Event processing attempts by result (processed, failed, gave_up, parked).",
            ["result"],
            registry=registry,
        )
        self.plugin_errors = Counter(
            "foredeck_worker_plugin_errors",
            "Plugin failures by plugin name.",
            ["plugin"],
            registry=registry,
        )
