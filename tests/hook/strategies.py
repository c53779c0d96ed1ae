"""Hypothesis strategies for webhook bodies: JSON values, payload-shaped objects, deep nesting."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# A few names, so that generated fields often agree (or disagree only in case or by a part).
NAMES = ["acme", "Acme", "evilorg", "calculator", "x", "a b", "", "a/b"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
names = st.sampled_from(NAMES) | scalars
full_names = st.builds("{}/{}".format, st.sampled_from(NAMES), st.sampled_from(NAMES)) | names


def _objects(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with any subset of `fields`, plus an unrelated field now and then."""
    return st.fixed_dictionaries({}, optional={**fields, "id": json_values})


owners = _objects(login=names) | scalars
repositories = _objects(full_name=full_names, name=names, owner=owners) | json_values
organizations = _objects(login=names) | json_values


@st.composite
def consistent_repositories(draw: st.DrawFn) -> dict[str, Any]:
    """What GitHub sends: `full_name` is `owner.login/name`, `organization` (if any) the owner."""
    owner, name = draw(st.sampled_from(NAMES[:5])), draw(st.sampled_from(NAMES[:5]))
    payload: dict[str, Any] = {
        "repository": {"full_name": f"{owner}/{name}", "name": name, "owner": {"login": owner}}
    }
    if draw(st.booleans()):
        payload["organization"] = {"login": owner}
    return payload


@st.composite
def forged_repositories(draw: st.DrawFn) -> dict[str, Any]:
    """A consistent payload with one of the fields that name the repository changed."""
    payload = draw(consistent_repositories())
    repository = payload["repository"]
    field = draw(st.sampled_from(["full_name", "name", "owner", "organization"]))
    value = draw(names)
    if field == "owner":
        repository["owner"]["login"] = value
    elif field == "organization":
        payload["organization"] = {"login": value}
    else:
        repository[field] = value
    return payload


payloads = (
    consistent_repositories()
    | forged_repositories()
    | st.fixed_dictionaries(
        {},
        optional={
            "action": st.sampled_from(["opened", "created"]) | scalars,
            "repository": repositories,
            "organization": organizations,
            "zen": json_values,
        },
    )
)
"""Payload-shaped objects: the fields that decide the repository, often inconsistent."""


@st.composite
def deeply_nested(draw: st.DrawFn, max_depth: int = 5000) -> bytes:
    """A JSON document nested up to `max_depth` levels, at the top or inside a payload field."""
    around_the_limit = st.sampled_from([d for d in (500, 990, 1_500, 3_000) if d <= max_depth])
    depth = draw(around_the_limit | st.integers(min_value=1, max_value=max_depth))
    kind = draw(st.sampled_from(["array", "object", "mixed"]))
    opening = {"array": [b"["], "object": [b'{"a":'], "mixed": [b"[", b'{"a":']}[kind]
    openers = [opening[i % len(opening)] for i in range(depth)]
    closers = [b"]" if o == b"[" else b"}" for o in reversed(openers)]
    nested = b"".join(openers) + b"1" + b"".join(closers)
    where = draw(st.sampled_from([b"%s", b'{"repository":%s}', b'{"action":"opened","x":%s}']))
    return where % nested
