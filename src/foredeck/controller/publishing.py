"""The controller's artifact store: live snapshots of running jobs, the final publish of every
job, and the seal on builds whose controller died.

The store is opened on first use (once per controller, in a worker thread), so a controller
that never runs a job never reaches a remote store, and a store that cannot be opened fails
the publish of a job, not the controller.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from foredeck.controller import artifacts
from foredeck.controller.live import LivePublisher, LiveSnapshots
from foredeck.controller.queries import DIED
from foredeck.controller.running import Outcome, Running
from foredeck.controller.workspace import OUT
from foredeck.db.models import Job
from foredeck.db.types import utcnow
from foredeck.settings import ControllerSettings
from foredeck.storage import prow
from foredeck.storage.store import ArtifactStore, open_store

log = logging.getLogger(__name__)


class Publisher:
    """Everything a controller writes to the artifact store (see the module docstring)."""

    def __init__(
        self, url: str, settings: ControllerSettings, store: ArtifactStore | None = None
    ) -> None:
        self.url = url
        self.settings = settings
        self._store = store
        self._lock = threading.Lock()

    def store(self) -> ArtifactStore:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.url)
            return self._store

    def start_live(self, r: Running, job: Job) -> LivePublisher | None:
        """Snapshots of the running job's logs to its build directory (`live.py`), if on."""
        c = self.settings
        if c.live_publish_interval <= 0:
            return None
        try:
            build_dir = artifacts.target(job, r.claimed.build_id).build_dir
        except ValueError:
            return None  # no build directory: the final publish will say why
        snapshots = LiveSnapshots(
            self.store,
            build_dir,
            Path(r.claimed.workspace) / OUT,
            max_bytes=c.live_publish_max_bytes,
            max_file_bytes=c.live_publish_max_file_bytes,
        )
        live = LivePublisher(snapshots, c.live_publish_interval, r.id)
        live.start()
        return live

    def publish(self, r: Running, job: Job, outcome: Outcome, agent: str | None) -> str:
        """The run's output (or a build directory saying why there is none) in Prow's layout;
        returns the build directory's URL. Runs in a worker thread."""
        store = self.store()
        workspace = Path(r.claimed.workspace)
        out = workspace / OUT
        if not (out / prow.FINISHED).is_file():
            result = "ABORTED" if outcome.state == "aborted" else "ERROR"
            message = r.censor.text(outcome.description)
            artifacts.write_unrun(out, message, result, time.time())
        if r.leases:
            artifacts.add_metadata(out, {"leases": r.leases})
        paths = artifacts.target(job, r.claimed.build_id)
        url = store.url_for(paths.build_dir)
        job.started_at = job.started_at or utcnow()
        data = artifacts.prowjob(
            job,
            build_id=r.claimed.build_id,
            state=outcome.state,
            description=outcome.description,
            url=url,
            finished=utcnow(),
            agent=agent,
        )
        artifacts.complete_out(out, job, workspace, final_sha=r.final_sha, prowjob_data=data)
        artifacts.censor_out(out, r.censor)
        artifacts.publish(store, paths, out)
        return url

    def seal_dead_build(self, job: Job) -> None:
        """Give the live snapshots of a dead run a `finished.json` (ERROR): readers of the
        bucket (Prow's Spyglass, TestGrid) would otherwise show that build running forever."""
        if not job.build_id:
            return
        try:
            build_dir = artifacts.target(job, job.build_id).build_dir
            store = self.store()
            if not store.exists(f"{build_dir}/{prow.STARTED}"):
                return  # no snapshot reached the store: nothing to seal
            if store.exists(f"{build_dir}/{prow.FINISHED}"):
                return
            data = prow.finished(
                time.time(), passed=False, result="ERROR", metadata={"description": DIED}
            )
            store.write_bytes(f"{build_dir}/{prow.FINISHED}", json.dumps(data).encode())
        except Exception:  # the job's state is already right; the bucket is best effort
            log.exception("could not seal the build of dead job %s", job.id)
