"""Regenerate the vendored subset of GitHub's OpenAPI description used by the GitHub double.

The full description is ~13 MB; the double serves a handful of operations, so only those
operations and the components they reference (transitively) are kept. Prose (descriptions,
examples, x-github metadata) is dropped because nothing validates against it; every schema,
parameter and response keyword is copied unchanged. A list of every upstream `METHOD /path` is kept
too, so the double can tell "not a GitHub route" from "a GitHub route the double does not serve".

Usage (from the repository root):

    npm install --prefix /tmp/octo @octokit/openapi
    .venv/bin/python tests/doubles/openapi/extract.py /tmp/octo/node_modules/@octokit/openapi
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SPEC_FILE = "generated/api.github.com.json"
OUT_NAME = "api.github.com.subset.json"
GZIP_ABOVE = 1_000_000

# (method, path template): every operation the double serves.
OPERATIONS: list[tuple[str, str]] = [
    ("get", "/app/installations/{installation_id}"),
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/orgs/{org}/installation"),
    ("get", "/orgs/{org}/members/{username}"),
    ("get", "/repos/{owner}/{repo}/installation"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/assignees"),
    ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/assignees"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("delete", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("delete", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("post", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/statuses"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/repos/{owner}/{repo}/git/blobs/{file_sha}"),
    ("get", "/repos/{owner}/{repo}/git/ref/{ref}"),
    # bump pull requests (docs/cd.md): pulls, and a branch pushed through the Git Data API
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("post", "/repos/{owner}/{repo}/pulls"),
    ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
    ("get", "/repos/{owner}/{repo}/git/commits/{commit_sha}"),
    ("get", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
    ("post", "/repos/{owner}/{repo}/git/blobs"),
    ("post", "/repos/{owner}/{repo}/git/trees"),
    ("post", "/repos/{owner}/{repo}/git/commits"),
    ("post", "/repos/{owner}/{repo}/git/refs"),
    ("patch", "/repos/{owner}/{repo}/git/refs/{ref}"),
    # the merge pool (docs/tide.md): merges, and the issues that block them
    ("put", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),
    ("get", "/repos/{owner}/{repo}/issues"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    # the dashboard's GitHub login (docs/access.md): who signed in, and their teams
    ("get", "/user"),
    ("get", "/user/teams"),
]

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Keys holding a map of names to schemas, or a schema, or a list of schemas.
SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions"}
SCHEMA_VALUES = {"items", "additionalProperties", "not", "contains", "propertyNames"}
SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
PROSE = {"description", "example", "examples", "externalDocs"}


def strip_schema(schema: Any) -> Any:
    """Drop prose from a schema, leaving property *names* such as `description` alone."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in PROSE:
            continue
        if key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: strip_schema(sub) for name, sub in value.items()}
        elif key in SCHEMA_VALUES:
            out[key] = strip_schema(value)
        elif key in SCHEMA_LISTS and isinstance(value, list):
            out[key] = [strip_schema(sub) for sub in value]
        else:
            out[key] = value
    return out


def strip_media(media: dict[str, Any]) -> dict[str, Any]:
    return {k: strip_schema(v) if k == "schema" else v for k, v in media.items() if k not in PROSE}


def strip_content(content: dict[str, Any]) -> dict[str, Any]:
    return {mt: strip_media(media) for mt, media in content.items()}


def strip_parameter(param: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in param:
        return {"$ref": param["$ref"]}
    out = {k: v for k, v in param.items() if k not in PROSE}
    if "schema" in out:
        out["schema"] = strip_schema(out["schema"])
    return out


def strip_headers(headers: dict[str, Any]) -> dict[str, Any]:
    return {name: strip_parameter(h) for name, h in headers.items()}


def strip_response(resp: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in resp:
        return {"$ref": resp["$ref"]}
    out: dict[str, Any] = {"description": resp.get("description", "")}
    if "content" in resp:
        out["content"] = strip_content(resp["content"])
    if "headers" in resp:
        out["headers"] = strip_headers(resp["headers"])
    return out


def strip_request_body(body: dict[str, Any]) -> dict[str, Any]:
    return {"required": body.get("required", False), "content": strip_content(body["content"])}


def strip_operation(op: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op["operationId"], "summary": op.get("summary", "")}
    if "parameters" in op:
        out["parameters"] = [strip_parameter(p) for p in op["parameters"]]
    if "requestBody" in op:
        body = op["requestBody"]
        out["requestBody"] = {"$ref": body["$ref"]} if "$ref" in body else strip_request_body(body)
    out["responses"] = {code: strip_response(r) for code, r in op["responses"].items()}
    return out


def collect_refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            collect_refs(value, found)
    elif isinstance(node, list):
        for value in node:
            collect_refs(value, found)


STRIPPERS = {
    "schemas": strip_schema,
    "parameters": strip_parameter,
    "responses": strip_response,
    "headers": strip_parameter,
    "requestBodies": strip_request_body,
}


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path in OPERATIONS:
        try:
            op = spec["paths"][path][method]
        except KeyError:
            sys.exit(f"extract: {method.upper()} {path} is not in the upstream description")
        paths.setdefault(path, {})[method] = strip_operation(op)

    components: dict[str, dict[str, Any]] = {}
    pending: set[str] = set()
    collect_refs(paths, pending)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in done:
            continue
        done.add(ref)
        parts = ref.split("/")
        if len(parts) != 4 or parts[:2] != ["#", "components"] or parts[2] not in STRIPPERS:
            sys.exit(f"extract: unsupported $ref {ref}")
        kind, name = parts[2], parts[3]
        node = STRIPPERS[kind](spec["components"][kind][name])
        components.setdefault(kind, {})[name] = node
        collect_refs(node, pending)

    all_ops = sorted(
        f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item if m in HTTP_METHODS
    )
    return {
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "paths": dict(sorted(paths.items())),
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
        "x-foredeck-all-operations": all_ops,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", type=Path, help="path to node_modules/@octokit/openapi")
    args = parser.parse_args()
    package = json.loads((args.package_dir / "package.json").read_text())
    spec = json.loads((args.package_dir / SPEC_FILE).read_text())
    subset = extract(spec)
    data = json.dumps(subset, indent=1, sort_keys=False).encode() + b"\n"
    for old in HERE.glob(OUT_NAME + "*"):
        old.unlink()
    if len(data) > GZIP_ABOVE:
        out = HERE / (OUT_NAME + ".gz")
        out.write_bytes(gzip.compress(data, mtime=0))
    else:
        out = HERE / OUT_NAME
        out.write_bytes(data)
    meta = {
        "package": package["name"],
        "version": package["version"],
        "file": SPEC_FILE,
        "extracted": dt.date.today().isoformat(),
        "operations": len(OPERATIONS),
        "components": sum(len(v) for v in subset["components"].values()),
        "bytes": len(data),
    }
    (HERE / "source.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out.relative_to(HERE.parent.parent.parent)}: {json.dumps(meta)}")


if __name__ == "__main__":
    main()
