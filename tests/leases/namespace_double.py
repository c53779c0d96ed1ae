"""The Kubernetes API double with the core objects the `namespace` provider uses.

`tests/execute/kube/kube_double.py` serves custom objects and pods; this adds namespaces
(create, get, list with an existence or equality label selector, delete, which removes what is
in them), and namespaced RoleBindings and ResourceQuotas (create into an existing namespace,
409 on a duplicate, 404 into a missing one), with the API server's `Status` bodies.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.execute.kube.kube_double import KubeDouble, status_response


class NamespaceDouble(KubeDouble):
    def __init__(self) -> None:
        super().__init__()
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.contents: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}

    def app(self) -> Starlette:
        app = super().app()
        app.router.routes[:0] = [
            Route("/api/v1/namespaces", self._namespaces, methods=["GET", "POST"]),
            Route("/api/v1/namespaces/{name}", self._namespace, methods=["GET", "DELETE"]),
            Route(
                "/api/v1/namespaces/{ns}/resourcequotas",
                self._namespaced("ResourceQuota"),
                methods=["POST"],
            ),
            Route(
                "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
                self._namespaced("RoleBinding"),
                methods=["POST"],
            ),
        ]
        return app

    async def _namespaces(self, request: Request) -> Response:
        if (refused := self._authorised(request)) is not None:
            return refused
        if request.method == "POST":
            body = json.loads(await request.body())
            name = body["metadata"]["name"]
            with self.lock:
                if name in self.namespaces:
                    return status_response(409, "AlreadyExists", f'namespaces "{name}" exists')
                body["status"] = {"phase": "Active"}
                self.namespaces[name] = body
            return JSONResponse(body, status_code=201)
        selector = request.query_params.get("labelSelector")
        with self.lock:
            items = [ns for ns in self.namespaces.values() if _selected(ns, selector)]
        return JSONResponse({"kind": "NamespaceList", "apiVersion": "v1", "items": items})

    async def _namespace(self, request: Request) -> Response:
        if (refused := self._authorised(request)) is not None:
            return refused
        name = request.path_params["name"]
        with self.lock:
            found = self.namespaces.get(name)
            if found is None:
                return status_response(404, "NotFound", f'namespaces "{name}" not found')
            if request.method == "DELETE":
                del self.namespaces[name]
                for key in [k for k in self.contents if k[0] == name]:
                    del self.contents[key]
        return JSONResponse(found)

    def _namespaced(self, kind: str) -> Any:
        async def create(request: Request) -> Response:
            if (refused := self._authorised(request)) is not None:
                return refused
            ns = request.path_params["ns"]
            body = json.loads(await request.body())
            if body.get("kind") not in (None, kind):
                return status_response(400, "BadRequest", f"expected a {kind}")
            with self.lock:
                if ns not in self.namespaces:
                    return status_response(404, "NotFound", f'namespaces "{ns}" not found')
                objects = self.contents.setdefault((ns, kind), {})
                name = body["metadata"]["name"]
                if name in objects:
                    return status_response(409, "AlreadyExists", f"{kind} {name} exists")
                objects[name] = body
            return JSONResponse(body, status_code=201)

        return create


def _selected(obj: dict[str, Any], selector: str | None) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (selector or "").split(",")):
        key, eq, value = term.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True
