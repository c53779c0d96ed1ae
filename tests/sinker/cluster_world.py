"""A database and a Kubernetes API double holding runs of its jobs, for the cluster sweep."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import update

from foredeck.db import Job, session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import JobCreate, create_job
from foredeck.db.models import JobState
from foredeck.execute.kube.engine import BUILD_LABEL, JOB_LABEL, RUN_LABEL
from foredeck.settings import Settings
from tests.db.fixtures import Database
from tests.execute.kube.engines import PIPELINERUNS, WORKFLOWS, ArgoSim, TektonSim
from tests.execute.kube.kube_double import SECRETS, KubeDouble
from tests.kit.kube import NAMESPACE

Engine = Literal["argo", "tekton"]
RESOURCES = {"argo": WORKFLOWS, "tekton": PIPELINERUNS}
KINDS = {"argo": ("argoproj.io/v1alpha1", "Workflow"), "tekton": ("tekton.dev/v1", "PipelineRun")}


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ClusterWorld:
    def __init__(self, db: Database, double: KubeDouble, tmp_path: Path, engine: Engine) -> None:
        self.db, self.double, self.engine = db, double, engine
        self.resource = RESOURCES[engine]
        self.kubeconfig = double.kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
        self.now = time.time()
        self._n = 0

    def settings(self, **sinker: Any) -> Settings:
        return Settings.model_validate(
            {
                "database_url": self.db.url,
                "kube": {
                    "default_agent": self.engine,
                    "namespace": NAMESPACE,
                    "kubeconfig": str(self.kubeconfig),
                },
                "sinker": sinker,
            }
        )

    def job(
        self, state: JobState, build_id: str | None = None, finished_ago: float = 3600.0
    ) -> int:
        self._n += 1
        spec = JobCreate(name=f"job{self._n}", type="periodic", agent=self.engine)
        at = datetime.fromtimestamp(self.now, UTC)
        with write_lock(self.db.engine), session_factory(self.db.engine).begin() as session:
            row, _ = create_job(session, spec, now=at - timedelta(hours=2))
            finished = state not in ("triggered", "pending")
            session.execute(
                update(Job)
                .where(Job.id == row.id)
                .values(
                    state=state,
                    build_id=build_id,
                    finished_at=at - timedelta(seconds=finished_ago) if finished else None,
                )
            )
            return row.id

    def run(
        self, job_id: int, build_id: str | None, *, age: float = 600.0, running: bool = True
    ) -> str:
        """A run object of the job, created `age` seconds ago, running or finished."""
        self._n += 1
        name = f"unit-{job_id}-{self._n:06x}"
        labels = {JOB_LABEL: str(job_id)}
        if build_id is not None:
            labels[BUILD_LABEL] = build_id
        api, kind = KINDS[self.engine]
        meta = {"name": name, "labels": labels, "creationTimestamp": stamp(self.now - age)}
        self.double.put(
            self.resource, NAMESPACE, {"apiVersion": api, "kind": kind, "metadata": meta}
        )
        if self.engine == "argo":
            argo = ArgoSim(self.double, NAMESPACE, name)
            argo.running()
            if not running:
                argo.finish("Succeeded")
        else:
            tekton = TektonSim(self.double, NAMESPACE, name)
            tekton.running()
            if not running:
                tekton.finish("True", "Succeeded")
        return name

    def lease_secret(self, run: str, job_id: int, *, uid: str = "gone", age: float = 600.0) -> str:
        """The run's lease Secret, owned by `run` (the `uid` of a run that no longer exists
        unless given its own)."""
        api, kind = KINDS[self.engine]
        name = f"{run}-leases"
        meta = {
            "name": name,
            "labels": {JOB_LABEL: str(job_id), RUN_LABEL: run},
            "creationTimestamp": stamp(self.now - age),
            "ownerReferences": [{"apiVersion": api, "kind": kind, "name": run, "uid": uid}],
        }
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta}
        self.double.put(SECRETS, NAMESPACE, {**body, "data": {"pg-0.url": "c2VjcmV0"}})
        return name

    def uid(self, run: str) -> str:
        obj = self.double.get(self.resource, NAMESPACE, run)
        assert obj is not None
        return str(obj["metadata"]["uid"])

    def exists(self, run: str) -> bool:
        return self.double.get(self.resource, NAMESPACE, run) is not None

    def secret_exists(self, name: str) -> bool:
        return self.double.get(SECRETS, NAMESPACE, name) is not None

    def stop_asked(self, run: str) -> bool:
        """Whether the run got the engine's abort patch before it went."""
        versions = [
            e.obj
            for e in self.double.history
            if e.resource == self.resource and e.obj["metadata"]["name"] == run
        ]
        spec = [obj.get("spec") or {} for obj in versions]
        if self.engine == "argo":
            return any(s.get("shutdown") == "Terminate" for s in spec)
        return any(s.get("status") == "Cancelled" for s in spec)
