"""The local watcher: turns changes in local repositories into webhook events.

Every `scm.local_poll_interval` it lists `<local_root>/ORG/REPO` and their branches and logs, into
the same event log the webhook endpoint writes:

- `push` when the base branch (`scm.local_base_branch`) points at a new commit;
- `pull_request` `opened` for a new `pr/N` branch (`reopened` when it was closed before),
  `synchronize` when it moves, `closed` when it is deleted (`merged` when its head is on the
  base branch by then).

The last seen commit of every ref is kept in memory, seeded from the local events already in the
log, so a restart neither repeats an event nor mistakes a moved pull request for a new one; and
delivery ids are deterministic, so the log refuses a duplicate anyway. Events are logged only
when their commit succeeds, and what was seen is remembered only then: a failed scan is simply
done again.

A local user's comments (`/test`, `/retest`) are logged as events by `local.comments`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine, select

from foredeck.db.engine import read_only
from foredeck.db.eventlog import NewEvent
from foredeck.db.models import Event, EventPayload
from foredeck.db.types import utcnow
from foredeck.polling import Poller
from foredeck.scm.local.events import (
    delivery_id,
    log_local_events,
    new_event,
    pull_json,
    pull_request_payload,
    push_payload,
    repository_json,
)
from foredeck.scm.local.names import LocalScmError, pr_number, pull_ref
from foredeck.scm.local.pulls import LocalPulls

log = logging.getLogger(__name__)

SEED_LIMIT = 50_000
"""Local events read back from the log at start (newest first) to know the refs already seen."""

_Key = tuple[str, str, str]  # org, repo, full ref


@dataclass
class _Scan:
    """What one scan found: events to log, and the memory to adopt once they are committed."""

    events: list[NewEvent] = field(default_factory=list)
    heads: dict[_Key, str | None] = field(default_factory=dict)
    pulls: dict[_Key, dict[str, Any] | None] = field(default_factory=dict)


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.scans = Counter(
            "foredeck_local_watch_scans", "Scans of the local repositories", registry=registry
        )
        self.failures = Counter(
            "foredeck_local_watch_scan_failures", "Scans that failed", registry=registry
        )
        self.events = Counter(
            "foredeck_local_watch_events", "New events logged by the watcher", registry=registry
        )


class LocalWatcher:
    def __init__(
        self,
        pulls: LocalPulls,
        engine: Engine,
        *,
        poll_interval: float = 1.0,
        on_logged: Callable[[], None] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.pulls = pulls
        self.repos = pulls.repos
        self.poll_interval = poll_interval
        self.on_logged = on_logged
        self._engine = engine
        self._heads: dict[_Key, str] = {}
        self._pulls: dict[_Key, dict[str, Any]] = {}
        self._closed: set[_Key] = set()
        self._seeded = False
        self._metrics = _Metrics(registry) if registry is not None else None
        errors = self._metrics.failures.inc if self._metrics is not None else None
        self._poller = Poller(
            "foredeck-local-watch", self.scan_once, lambda: self.poll_interval, errors
        )

    def start(self) -> threading.Thread:
        """Scan in a daemon thread until `stop()`: now, then every `poll_interval` seconds."""
        return self._poller.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._poller.stop(timeout)

    # -- scanning ----------------------------------------------------------------------------

    def seed(self) -> None:
        """Learn the refs already reported from the local events in the log.

        Newest first, streamed: the latest event of a ref decides its state, and at most
        `SEED_LIMIT` payloads are read however long the log is.
        """
        stmt = (
            select(Event.event, Event.action, Event.org, Event.repo, EventPayload.body)
            .join(EventPayload, EventPayload.event_id == Event.id)
            .where(Event.delivery_id.like("local-%"), Event.event.in_(("push", "pull_request")))
            .order_by(Event.id.desc())
            .limit(SEED_LIMIT)
        )
        decided: set[_Key] = set()
        with read_only(self._engine).connect() as conn:
            for kind, action, org, repo, body in conn.execution_options(yield_per=500).execute(
                stmt
            ):
                if org is None or repo is None:
                    continue
                try:
                    payload = orjson.loads(body)
                    if kind == "push":
                        key: _Key = (org, repo, str(payload["ref"]))
                        pull = None
                        sha = str(payload["after"])
                    else:
                        pull = payload["pull_request"]
                        key = (org, repo, pull_ref(int(pull["number"])))
                        sha = str(pull["head"]["sha"])
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, LocalScmError):
                    continue
                if key in decided:
                    continue
                decided.add(key)
                if action == "closed":
                    self._closed.add(key)
                    continue
                self._heads[key] = sha
                if pull is not None:
                    self._pulls[key] = pull
        self._seeded = True

    def scan_once(self) -> int:
        """Scan every repository once; returns how many new events were logged."""
        if not self._seeded:
            self.seed()
        scan = _Scan()
        for org, repo in self.repos.list_repos():
            try:
                self._scan_repo(org, repo, scan)
            except LocalScmError as exc:
                log.warning("local watcher: %s/%s skipped: %s", org, repo, exc)
        results = log_local_events(self._engine, scan.events, self.on_logged)
        for key, sha in scan.heads.items():
            if sha is None:
                self._heads.pop(key, None)
            else:
                self._heads[key] = sha
        for key, pull in scan.pulls.items():
            if pull is None:
                self._pulls.pop(key, None)
                self._closed.add(key)
            else:
                self._pulls[key] = pull
                self._closed.discard(key)
        new = sum(1 for r in results if not r.duplicate)
        if self._metrics is not None:
            self._metrics.scans.inc()
            self._metrics.events.inc(new)
        if new:
            log.info("local watcher: %d new event(s)", new)
        return new

    def _scan_repo(self, org: str, repo: str, scan: _Scan) -> None:
        """Add the events of one repository to `scan` (all of them, or none on an error)."""
        repos, views = self.repos, self.pulls
        branches = repos.branches(org, repo)
        events: list[NewEvent] = []
        heads: dict[_Key, str | None] = {}
        pulls: dict[_Key, dict[str, Any] | None] = {}
        repository: dict[str, Any] | None = None

        def repository_payload() -> dict[str, Any]:
            nonlocal repository
            if repository is None:
                repository = repository_json(views, org, repo)
            return repository

        base_ref = f"refs/heads/{repos.base_branch}"
        base = branches.get(repos.base_branch)
        if base is not None and self._heads.get((org, repo, base_ref)) != base:
            before = self._heads.get((org, repo, base_ref))
            payload = push_payload(views, org, repo, base_ref, before, base)
            events.append(
                new_event("push", delivery_id(org, repo, base_ref, base, "push"), payload)
            )
            heads[(org, repo, base_ref)] = base

        open_refs: set[str] = set()
        for branch, sha in sorted(branches.items()):
            number = pr_number(branch)
            if number is None or base is None:
                continue
            ref = pull_ref(number)
            open_refs.add(ref)
            before = self._heads.get((org, repo, ref))
            if before == sha:
                continue
            pr = views.pull(org, repo, number)
            pull = pull_json(pr)
            if before is None:
                action = "reopened" if (org, repo, ref) in self._closed else "opened"
                payload = pull_request_payload(
                    views, action, pull, repository_payload(), pr.user.login
                )
                delivery = delivery_id(org, repo, ref, sha, action)
            else:
                action = "synchronize"
                pusher = repos.commit(org, repo, sha).login
                payload = pull_request_payload(
                    views, action, pull, repository_payload(), pusher, before=before
                )
                # The old head is part of the id: A -> B -> A is two synchronize events.
                delivery = delivery_id(org, repo, ref, f"{before}..{sha}", action)
            events.append(new_event("pull_request", delivery, payload))
            heads[(org, repo, ref)] = sha
            pulls[(org, repo, ref)] = pull

        for key, last in sorted(self._pulls.items(), key=lambda item: item[0]):
            if key[:2] != (org, repo) or key[2] in open_refs:
                continue
            head = str(last["head"]["sha"])
            closed = dict(last, state="closed")
            closed["merged"] = base is not None and repos.is_ancestor(org, repo, head, base)
            closed["closed_at"] = utcnow().isoformat().replace("+00:00", "Z")
            payload = pull_request_payload(
                views, "closed", closed, repository_payload(), str(last["user"]["login"])
            )
            events.append(
                new_event("pull_request", delivery_id(org, repo, key[2], head, "closed"), payload)
            )
            heads[key] = None
            pulls[key] = None

        scan.events.extend(events)
        scan.heads.update(heads)
        scan.pulls.update(pulls)
