"""Jobs as the tests write and read them: config builders, and the job API of a running server."""

from __future__ import annotations

from typing import Any

import httpx

from tests.kit.wait import wait_for

FINAL = frozenset({"success", "failure", "aborted", "error"})


def shell(script: str, image: str = "alpine") -> dict[str, Any]:
    """A Prow pod spec of one container running `sh -c script`."""
    return {"containers": [{"image": image, "command": ["sh", "-c", script]}]}


def tekton_task(name: str, script: str) -> dict[str, Any]:
    """A Tekton Task of one step running `script` (a pipeline's inline document)."""
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": name},
        "spec": {"steps": [{"name": "run", "image": "busybox", "script": script}]},
    }


class JobsApi:
    """The calls tests make to `/api/jobs` of the server at `base_url()`."""

    api_token: str | None = None

    def base_url(self) -> str:
        raise NotImplementedError

    def jobs(self, **params: Any) -> list[dict[str, Any]]:
        """The jobs matching `params` (the list's query parameters), oldest first."""
        r = httpx.get(f"{self.base_url()}/api/jobs", params={"limit": 500, **params}, timeout=10)
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["jobs"]
        return sorted(found, key=lambda j: int(j["id"]))

    def job(self, job_id: int) -> dict[str, Any]:
        r = httpx.get(f"{self.base_url()}/api/jobs/{job_id}", timeout=10)
        assert r.status_code == 200, r.text
        detail: dict[str, Any] = r.json()
        return detail

    def start_job(self, name: str) -> dict[str, Any]:
        """`POST /api/jobs` (Prow's gangway) with the API token."""
        r = httpx.post(
            f"{self.base_url()}/api/jobs",
            json={"name": name},
            headers={"Authorization": f"Bearer {self.api_token}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    def finished(self, count: int, **params: Any) -> list[dict[str, Any]] | None:
        """The jobs matching `params` once there are `count` and all are final, else None."""
        found = self.jobs(**params)
        if len(found) == count and all(j["state"] in FINAL for j in found):
            return found
        return None

    def state(self, job_id: int, states: set[str], timeout: float = 60.0) -> dict[str, Any]:
        """The job once its state is one of `states`."""

        def reached() -> dict[str, Any] | None:
            job = self.job(job_id)
            return job if job["state"] in states else None

        return wait_for(f"job {job_id} to reach {sorted(states)}", reached, timeout)

    def final(self, job_id: int, timeout: float = 60.0) -> dict[str, Any]:
        return self.state(job_id, set(FINAL), timeout)
