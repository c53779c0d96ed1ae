"""The Kubernetes API double with API discovery and plain objects, for `resource` tasks.

`tests/execute/kube/kube_double.py` serves custom objects and pods at their real paths; this
adds what the `kubernetes` dynamic client needs (`/version`, `/api`, `/apis`, and each group
version's resource list) and ConfigMaps (`/api/v1`) and Jobs (`batch/v1`) with every verb a
resource template uses: create (409 on a duplicate, `generateName`), get, list with an equality
label selector, replace (PUT), delete (one, or a collection by selector), and PATCH with the
content types the API server takes: JSON merge patch, strategic merge patch (for these kinds
the same as a merge patch: the tests patch no lists), JSON patch (RFC 6902, applied with
`jsonpatch`) and server-side apply (create, or merge into the object). The `metadata` of every
written object is validated against Kubernetes' `ObjectMeta` schema (from the vendored Argo
schema) and Workflows against the Workflow schema, and refused with a 422 `Status` otherwise.
"""

from __future__ import annotations

import copy
import json
import secrets
from functools import cache
from typing import Any

import jsonpatch
from jsonschema import Draft7Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.execute.kube.kube_double import (
    KINDS,
    SCHEMAS,
    KubeDouble,
    argo_validator,
    matches_labels,
    merge_patch,
    status_response,
)

PLAIN: dict[tuple[str, str, str], tuple[str, str, list[str]]] = {
    ("", "v1", "configmaps"): ("ConfigMap", "configmap", ["cm"]),
    ("batch", "v1", "jobs"): ("Job", "job", []),
}
"""(group, version, plural) -> (kind, singular name, short names) of the plain objects."""

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
MERGE = {"application/merge-patch+json", "application/strategic-merge-patch+json"}


@cache
def meta_validator() -> Draft7Validator:
    schema = json.loads((SCHEMAS / "argo-workflows-schema.json").read_text())
    ref = "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    return Draft7Validator({"$ref": ref, "definitions": schema["definitions"]})


def _all() -> dict[tuple[str, str, str], tuple[str, str, list[str]]]:
    custom: dict[tuple[str, str, str], tuple[str, str, list[str]]] = {
        res: (kind, kind.lower(), []) for res, kind in KINDS.items()
    }
    return {**custom, **PLAIN}


class ResourceDouble(KubeDouble):
    """Discovery plus plain objects; custom objects stay the base double's."""

    def app(self) -> Starlette:
        app = super().app()
        one = "/{ns}/{plural}/{name}"
        app.router.routes[:0] = [
            Route("/version", self._version, methods=["GET"]),
            Route("/api", self._core_versions, methods=["GET"]),
            Route("/apis", self._groups, methods=["GET"]),
            Route("/api/{version}", self._resources, methods=["GET"]),
            Route("/apis/{group}/{version}", self._resources, methods=["GET"]),
            Route(
                "/api/{version}/namespaces/{ns}/{plural}",
                self._many,
                methods=["GET", "POST", "DELETE"],
            ),
            Route(
                "/api/{version}/namespaces" + one,
                self._one,
                methods=["GET", "PUT", "PATCH", "DELETE"],
            ),
            Route(
                "/apis/{group}/{version}/namespaces/{ns}/{plural}",
                self._many,
                methods=["GET", "POST", "DELETE"],
            ),
            Route(
                "/apis/{group}/{version}/namespaces" + one,
                self._one,
                methods=["GET", "PUT", "PATCH", "DELETE"],
            ),
        ]
        return app

    # -- discovery ------------------------------------------------------------------------

    async def _version(self, request: Request) -> Response:
        return JSONResponse({"major": "1", "minor": "29", "gitVersion": "v1.29.0"})

    async def _core_versions(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        return JSONResponse(
            {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        )

    async def _groups(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        groups: dict[str, list[str]] = {}
        for group, version, _ in _all():
            if group and version not in groups.setdefault(group, []):
                groups[group].append(version)
        items = [
            {
                "name": name,
                "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
                "preferredVersion": {
                    "groupVersion": f"{name}/{versions[0]}",
                    "version": versions[0],
                },
            }
            for name, versions in groups.items()
        ]
        return JSONResponse({"kind": "APIGroupList", "apiVersion": "v1", "groups": items})

    async def _resources(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        group = request.path_params.get("group", "")
        version = request.path_params["version"]
        found = [
            {
                "name": plural,
                "singularName": singular,
                "namespaced": True,
                "kind": kind,
                "verbs": VERBS,
                "shortNames": shorts,
            }
            for (g, v, plural), (kind, singular, shorts) in _all().items()
            if (g, v) == (group, version)
        ]
        if not found:
            return status_response(404, "NotFound", "the server could not find the resource")
        gv = f"{group}/{version}" if group else version
        return JSONResponse({"kind": "APIResourceList", "groupVersion": gv, "resources": found})

    # -- objects --------------------------------------------------------------------------

    def _key(self, request: Request) -> tuple[tuple[str, str, str], str] | None:
        p = request.path_params
        resource = (p.get("group", ""), p["version"], p["plural"])
        return (resource, p["ns"]) if resource in PLAIN else None

    def _invalid(self, resource: tuple[str, str, str], body: Any) -> Response | None:
        kind = PLAIN[resource][0]
        if not isinstance(body, dict) or body.get("kind") != kind:
            return status_response(400, "BadRequest", f"expected a {kind}")
        errors = [e.message[:200] for e in meta_validator().iter_errors(body.get("metadata", {}))]
        if errors:
            return status_response(
                422, "Invalid", f"{kind} metadata is invalid: " + "; ".join(errors)
            )
        return None

    async def _many(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        key = self._key(request)
        if key is None:  # a custom object: the base double's
            return await self._collection(request)
        resource, ns = key
        selector = request.query_params.get("labelSelector")
        if request.method == "POST":
            body = await request.json()
            if (refused := self._invalid(resource, body)) is not None:
                return refused
            meta = body.setdefault("metadata", {})
            if not meta.get("name"):
                if not meta.get("generateName"):
                    return status_response(422, "Invalid", "metadata.name: Required value")
                meta["name"] = meta["generateName"] + secrets.token_hex(3)
            with self.lock:
                if (resource, ns, meta["name"]) in self.objects:
                    return status_response(409, "AlreadyExists", f"{meta['name']} already exists")
                return JSONResponse(self.put(resource, ns, body), status_code=201)
        with self.lock:
            chosen = [
                (k, obj)
                for k, obj in self.objects.items()
                if k[0] == resource and k[1] == ns and matches_labels(obj, selector)
            ]
            if request.method == "DELETE":
                for k, _ in chosen:
                    del self.objects[k]
        kind = PLAIN[resource][0]
        items = [copy.deepcopy(obj) for _, obj in chosen]
        return JSONResponse(
            {"kind": f"{kind}List", "apiVersion": "v1", "items": items, "metadata": {}}
        )

    async def _one(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        key = self._key(request)
        if key is None:
            if request.method == "PUT":
                return status_response(
                    405, "MethodNotAllowed", "the double replaces plain objects only"
                )
            return await self._item(request)
        resource, ns = key
        name = request.path_params["name"]
        kind = request.headers.get("content-type", "").split(";")[0]
        body: Any = await request.json() if request.method in ("PUT", "PATCH") else None
        with self.lock:
            current = self.objects.get((resource, ns, name))
            if request.method == "PATCH" and kind == "application/apply-patch+yaml":
                merged = merge_patch(current or {}, body)
                return self._write(resource, ns, name, merged, created=current is None)
            if current is None:
                return status_response(404, "NotFound", f'{PLAIN[resource][0]} "{name}" not found')
            if request.method == "GET":
                return JSONResponse(copy.deepcopy(current))
            if request.method == "DELETE":
                del self.objects[(resource, ns, name)]
                return JSONResponse({"kind": "Status", "apiVersion": "v1", "status": "Success"})
            if request.method == "PUT":
                return self._write(resource, ns, name, body, created=False)
            if kind in MERGE:
                return self._write(resource, ns, name, merge_patch(current, body), created=False)
            if kind == "application/json-patch+json":
                try:
                    patched = jsonpatch.apply_patch(current, body)
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                    return status_response(422, "Invalid", f"the JSON patch failed: {exc}")
                return self._write(resource, ns, name, patched, created=False)
        return status_response(415, "UnsupportedMediaType", f"patch type {kind!r}")

    def _write(
        self, resource: tuple[str, str, str], ns: str, name: str, body: Any, created: bool
    ) -> Response:
        body.setdefault("metadata", {})["name"] = name
        if (refused := self._invalid(resource, body)) is not None:
            return refused
        return JSONResponse(self.put(resource, ns, body), status_code=201 if created else 200)


__all__ = ["ResourceDouble", "argo_validator"]
