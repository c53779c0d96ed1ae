"""Checks HTTP exchanges against GitHub's published OpenAPI description (the vendored subset).

The double routes every request through `OpenAPIContract.match`, so a request for a route GitHub
does not have, or that the double does not serve, cannot pass silently. Schemas are OpenAPI 3.0;
they are converted once to JSON Schema 2020-12 (`nullable`, boolean `exclusiveMinimum`, ...) and
validated with `jsonschema`, resolving `$ref`s against the whole document.

Statuses GitHub can return on any route (304 for a conditional GET, 401/403/404, rate limits,
5xx) are accepted even where an operation does not list them, but their bodies must still be
GitHub's `basic-error` shape.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_DIR = Path(__file__).resolve().parent / "openapi"
SPEC_NAME = "api.github.com.subset.json"
URN = "urn:foredeck:github-openapi"
GENERIC_STATUSES = {401, 403, 404, 429, 500, 502, 503, 504}
MAX_ERRORS = 5


@dataclass(frozen=True)
class Violation:
    """One way an exchange broke GitHub's contract. `kind` is `route`, `request` or `response`."""

    kind: str
    method: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.method} {self.path}: {self.message}"


@dataclass
class Match:
    """A request resolved to one operation of the description."""

    method: str
    template: str
    operation: dict[str, Any]
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)

    @property
    def operation_id(self) -> str:
        return str(self.operation["operationId"])


def _template_regex(template: str, params: dict[str, dict[str, Any]]) -> re.Pattern[str]:
    """Match a raw (still percent-encoded) path; `x-multi-segment` params may span slashes."""
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        pattern += re.escape(literal)
        if name:
            multi = params.get(name, {}).get("x-multi-segment", False)
            pattern += f"(?P<{name}>.+)" if multi else f"(?P<{name}>[^/]+)"
    return re.compile(pattern + "$")


def _upstream_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.compile(pattern + "$")


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema keywords -> JSON Schema 2020-12, over a whole document."""
    if isinstance(node, list):
        return [to_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        out["$ref"] = URN + ref
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool) and out.pop(bound) and limit in out:
            out[bound] = out.pop(limit)
    out.pop("discriminator", None)  # annotation only; oneOf already decides
    if out.get("nullable") is True:
        del out["nullable"]
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def _errors(validator: jsonschema.protocols.Validator, instance: Any) -> list[str]:
    found = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    messages = []
    for err in found[:MAX_ERRORS]:
        best = jsonschema.exceptions.best_match([err])
        where = "/".join(str(p) for p in best.absolute_path) or "<root>"
        messages.append(f"{where}: {best.message[:300]}")
    if len(found) > MAX_ERRORS:
        messages.append(f"... and {len(found) - MAX_ERRORS} more")
    return messages


class OpenAPIContract:
    """The vendored description, with routing and request/response validation."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.info = spec["info"]
        converted = to_json_schema(spec)
        self._doc = converted
        self._registry: Registry[Any] = Registry().with_resource(
            URN, DRAFT202012.create_resource(converted)
        )
        self._routes: list[tuple[int, str, str, re.Pattern[str]]] = []
        for template, item in spec["paths"].items():
            for method, op in item.items():
                params = {p["name"]: p for p in self._parameters(op) if p["in"] == "path"}
                literals = len(re.sub(r"\{[^}]+\}", "", template))
                regex = _template_regex(template, params)
                self._routes.append((literals, method.upper(), template, regex))
        self._routes.sort(key=lambda r: -r[0])  # literal segments win over parameters
        self._upstream = [
            (line.split(" ", 1)[0], _upstream_regex(line.split(" ", 1)[1]))
            for line in spec.get("x-foredeck-all-operations", [])
        ]

    @classmethod
    @functools.cache
    def load(cls) -> OpenAPIContract:
        plain = SPEC_DIR / SPEC_NAME
        packed = SPEC_DIR / (SPEC_NAME + ".gz")
        raw = plain.read_bytes() if plain.exists() else gzip.decompress(packed.read_bytes())
        return cls(json.loads(raw))

    # -- resolution ---------------------------------------------------------------------------

    def _deref(self, node: dict[str, Any]) -> dict[str, Any]:
        """Resolve a component `$ref` (parameters, responses) in the unconverted document."""
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def _parameters(self, op: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._deref(p) for p in op.get("parameters", [])]

    @functools.cache  # noqa: B019 - one contract per process, kept for the session
    def _validator(self, pointer: str) -> jsonschema.protocols.Validator:
        cls = jsonschema.validators.validator_for({}, default=jsonschema.Draft202012Validator)
        return cls(
            {"$ref": f"{URN}#{pointer}"},
            registry=self._registry,
            format_checker=cls.FORMAT_CHECKER,
        )

    def schema_errors(self, pointer: str, instance: Any) -> list[str]:
        """Validate `instance` against the schema at JSON pointer `pointer` of the document."""
        return _errors(self._validator(pointer), instance)

    def operation_ids(self) -> set[str]:
        return {op["operationId"] for item in self.spec["paths"].values() for op in item.values()}

    # -- requests -----------------------------------------------------------------------------

    def match(self, method: str, raw_path: str) -> Match | None:
        for _, route_method, template, regex in self._routes:
            if route_method != method:
                continue
            found = regex.match(raw_path)
            if found:
                op = self.spec["paths"][template][method.lower()]
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                return Match(method, template, op, params)
        return None

    def upstream_has(self, method: str, raw_path: str) -> bool:
        return any(m == method and rx.match(raw_path) for m, rx in self._upstream)

    def check_request(
        self,
        method: str,
        raw_path: str,
        query: list[tuple[str, str]],
        content_type: str,
        body: bytes,
    ) -> tuple[Match | None, list[Violation]]:
        """Resolve and validate one request; path/query values come back typed in the Match."""
        path = unquote(raw_path)

        def bad(kind: str, message: str) -> Violation:
            return Violation(kind, method, path, message)

        match = self.match(method, raw_path)
        if match is None:
            if self.upstream_has(method, raw_path):
                why = (
                    "GitHub has this route but the double does not serve it (add it to extract.py)"
                )
            else:
                why = "no such route in GitHub's REST API"
            return None, [bad("route", why)]
        problems: list[Violation] = []
        params = self._parameters(match.operation)
        index = {(p["in"], p["name"]): p for p in params}
        for name, raw in list(match.path_params.items()):
            spec = index.get(("path", name))
            value, errs = self._coerce(raw, spec["schema"] if spec else {})
            match.path_params[name] = value
            problems += [bad("request", f"path parameter {name}: {e}") for e in errs]
        seen: set[str] = set()
        for name, raw in query:
            spec = index.get(("query", name))
            if spec is None:
                problems.append(bad("request", f"unknown query parameter {name!r}"))
                continue
            if name in seen:
                problems.append(bad("request", f"query parameter {name!r} given twice"))
            seen.add(name)
            value, errs = self._coerce(raw, spec.get("schema", {}))
            match.query[name] = value
            problems += [bad("request", f"query parameter {name}: {e}") for e in errs]
        for p in params:
            if p["in"] == "query" and p.get("required") and p["name"] not in seen:
                problems.append(bad("request", f"missing required query parameter {p['name']!r}"))
        problems += [bad("request", m) for m in self._check_body(match, content_type, body)]
        return match, problems

    def _coerce(self, raw: str, schema: dict[str, Any]) -> tuple[Any, list[str]]:
        kind = schema.get("type", "string")
        value: Any = raw
        try:
            if kind == "integer":
                value = int(raw)
            elif kind == "number":
                value = float(raw)
            elif kind == "boolean":
                if raw not in ("true", "false"):
                    raise ValueError(raw)
                value = raw == "true"
        except ValueError:
            return raw, [f"{raw!r} is not a valid {kind}"]
        validator = jsonschema.Draft202012Validator(to_json_schema(schema), registry=self._registry)
        return value, _errors(validator, value)

    def _check_body(self, match: Match, content_type: str, body: bytes) -> list[str]:
        request_body = match.operation.get("requestBody")
        if request_body is None:
            return ["operation takes no request body"] if body.strip() else []
        request_body = self._deref(request_body)
        if not body.strip():
            return ["request body is required"] if request_body.get("required") else []
        media = content_type.split(";")[0].strip().lower()
        if media not in request_body["content"]:
            return [f"content type {media or '<none>'!r} not accepted"]
        try:
            instance = json.loads(body)
        except ValueError as exc:
            return [f"request body is not JSON: {exc}"]
        pointer = self._pointer(match, "requestBody", "content", media, "schema")
        return [f"body {e}" for e in self.schema_errors(pointer, instance)]

    def _pointer(self, match: Match, *parts: str) -> str:
        escaped = match.template.replace("~", "~0").replace("/", "~1")
        tail = "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)
        return f"/paths/{escaped}/{match.method.lower()}/{tail}"

    # -- responses ----------------------------------------------------------------------------

    def check_response(
        self, match: Match, status: int, content_type: str, body: bytes
    ) -> list[Violation]:
        """Validate a response the double is about to send for `match`."""

        def bad(message: str) -> Violation:
            return Violation("response", match.method, match.template, message)

        responses = match.operation["responses"]
        key = str(status)
        if key in responses:
            response = self._deref(responses[key])
            pointer_parts: tuple[str, ...] = ("responses", key)
            if "$ref" in responses[key]:
                ref = responses[key]["$ref"].removeprefix("#")
                pointer_base = ref
            else:
                pointer_base = self._pointer(match, *pointer_parts)
        elif status == 304 and match.method == "GET":
            return [] if not body else [bad("304 must not carry a body")]
        elif status in GENERIC_STATUSES:
            return [bad(f"{status}: {e}") for e in self._check_error_body(body)]
        elif "default" in responses:
            response = self._deref(responses["default"])
            pointer_base = self._pointer(match, "responses", "default")
        else:
            return [bad(f"status {status} is not documented for {match.operation_id}")]
        content = response.get("content")
        if not content:
            return [bad(f"status {status} must have no body")] if body else []
        media = content_type.split(";")[0].strip().lower()
        if media not in content:
            return [bad(f"content type {media!r} not documented for status {status}")]
        try:
            instance = json.loads(body)
        except ValueError as exc:
            return [bad(f"body is not JSON: {exc}")]
        escaped_media = media.replace("~", "~0").replace("/", "~1")
        pointer = f"{pointer_base}/content/{escaped_media}/schema"
        return [bad(f"{status} body {e}") for e in self.schema_errors(pointer, instance)]

    def _check_error_body(self, body: bytes) -> list[str]:
        if not body:
            return []
        try:
            instance = json.loads(body)
        except ValueError as exc:
            return [f"body is not JSON: {exc}"]
        return self.schema_errors("/components/schemas/basic-error", instance)


def deepcopy_spec() -> dict[str, Any]:
    """A private copy of the vendored description (for tests that tamper with it)."""
    return copy.deepcopy(OpenAPIContract.load().spec)
