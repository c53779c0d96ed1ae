"""The Kubernetes API double with RBAC objects and ConfigMaps taken by server-side apply, for
`foredeck access apply`.

`tests/execute/kube/kube_double.py` serves the executors' objects; this adds, at their real
paths, ClusterRoles (cluster-scoped), Roles and RoleBindings (`rbac.authorization.k8s.io/v1`)
and ConfigMaps (`v1`): GET one or a list (of a namespace or of all, with an equality label
selector), DELETE one, and PATCH as server-side apply only
(`application/apply-patch+yaml` with a `fieldManager`, as the API server requires). An apply
creates the object, or merges into it; an apply that changes nothing keeps its
`resourceVersion`, as the API server does. Bodies are validated with
`tests/access/kube_models.py` and refused with a 422 `Status`; a namespaced object in a
namespace the double does not have gets the API server's 404.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.access.kube_models import problems
from tests.execute.kube.kube_double import (
    KubeDouble,
    matches_labels,
    merge_patch,
    status_response,
)

RBAC = ("rbac.authorization.k8s.io", "v1")
KINDS: dict[tuple[str, str, str], str] = {
    (*RBAC, "clusterroles"): "ClusterRole",
    (*RBAC, "roles"): "Role",
    (*RBAC, "rolebindings"): "RoleBinding",
    ("", "v1", "configmaps"): "ConfigMap",
}
SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "namespace")
APPLY = "application/apply-patch+yaml"


class RbacDouble(KubeDouble):
    def __init__(self, namespaces: set[str] | None = None) -> None:
        super().__init__()
        self.namespaces = set(namespaces or {"default", "kube-system"})

    def app(self) -> Starlette:
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        one = ["GET", "PATCH", "DELETE"]
        return Starlette(
            routes=[
                Route(rbac + "/{plural}", self._list, methods=["GET"]),
                Route(rbac + "/{plural}/{name}", self._one, methods=one),
                Route(rbac + "/namespaces/{ns}/{plural}", self._list, methods=["GET"]),
                Route(rbac + "/namespaces/{ns}/{plural}/{name}", self._one, methods=one),
                Route("/api/v1/namespaces/{ns}/{plural}", self._list, methods=["GET"]),
                Route("/api/v1/namespaces/{ns}/{plural}/{name}", self._one, methods=one),
            ]
        )

    # -- for tests ---------------------------------------------------------------------------

    def stored(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """(kind, namespace or "", name) -> the object as given (without server fields)."""
        with self.lock:
            return {
                (KINDS[res], ns, name): _without_server_fields(obj)
                for (res, ns, name), obj in self.objects.items()
            }

    def versions(self) -> dict[tuple[str, str, str], str]:
        with self.lock:
            return {
                (KINDS[res], ns, name): obj["metadata"]["resourceVersion"]
                for (res, ns, name), obj in self.objects.items()
            }

    # -- HTTP --------------------------------------------------------------------------------

    def _resource(
        self, request: Request, every_namespace: bool = False
    ) -> tuple[str, str, str] | None:
        p = request.path_params
        group = "" if request.url.path.startswith("/api/v1/") else RBAC[0]
        resource = (group, "v1", p["plural"])
        if resource not in KINDS:
            return None
        if KINDS[resource] == "ClusterRole" and "ns" in p:
            return None
        if KINDS[resource] != "ClusterRole" and "ns" not in p and not every_namespace:
            return None
        return resource

    async def _list(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        resource = self._resource(request, every_namespace=True)
        if resource is None:
            return status_response(404, "NotFound", "the server could not find the resource")
        ns = request.path_params.get("ns")  # none: every namespace's (or cluster-scoped)
        selector = request.query_params.get("labelSelector")
        with self.lock:
            items = [
                copy.deepcopy(o)
                for (r, n, _), o in self.objects.items()
                if r == resource and (ns is None or n == ns) and matches_labels(o, selector)
            ]
        return JSONResponse({"kind": KINDS[resource] + "List", "items": items, "metadata": {}})

    async def _one(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        resource = self._resource(request)
        if resource is None:
            return status_response(404, "NotFound", "the server could not find the resource")
        kind = KINDS[resource]
        ns, name = request.path_params.get("ns", ""), request.path_params["name"]
        if ns and ns not in self.namespaces:
            return status_response(404, "NotFound", f'namespaces "{ns}" not found')
        key = (resource, ns, name)
        if request.method == "PATCH":
            return await self._apply(request, key)
        with self.lock:
            current = self.objects.get(key)
            if current is None:
                return status_response(404, "NotFound", f'{kind} "{name}" not found')
            if request.method == "DELETE":
                del self.objects[key]
            return JSONResponse(copy.deepcopy(current))

    async def _apply(
        self, request: Request, key: tuple[tuple[str, str, str], str, str]
    ) -> Response:
        resource, ns, name = key
        if request.headers.get("content-type", "").split(";")[0] != APPLY:
            return status_response(
                415, "UnsupportedMediaType", "the double takes apply patches only"
            )
        if not request.query_params.get("fieldManager"):
            return status_response(422, "Invalid", "fieldManager is required for apply requests")
        body = await request.json()
        meta = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(meta, dict) or meta.get("name") != name:
            return status_response(
                400, "BadRequest", "the body's metadata.name differs from the URL"
            )
        if meta.get("namespace", ns) != ns:
            return status_response(400, "BadRequest", "the body's namespace differs from the URL")
        found = problems(body)
        if found or body.get("kind") != KINDS[resource]:
            message = "; ".join(found) or f"expected a {KINDS[resource]}"
            return status_response(
                422, "Invalid", f"{KINDS[resource]} {name} is invalid: {message}"
            )
        with self.lock:
            current = self.objects.get(key)
            merged = merge_patch(current or {}, body)
            if current is not None and merged == current:
                return JSONResponse(copy.deepcopy(current))
            return JSONResponse(
                self.put(resource, ns, merged), status_code=201 if current is None else 200
            )


def _without_server_fields(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    for key in SERVER_FIELDS:
        if key != "namespace" or obj["kind"] == "ClusterRole":
            obj["metadata"].pop(key, None)
    return obj
