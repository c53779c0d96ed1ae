"""The roles file's cluster section: which namespaces of which clusters the roles reach, what each
role may do there, and who the grants' people are to Kubernetes and AWS (docs/access.md,
"Cluster access").

`foredeck access render` turns it into RBAC objects and EKS mappings (`foredeck.access.kube`).
Kubernetes names that would hand out the cluster's own identities (`system:` users and groups)
are refused here: a typo in the roles file must never map someone to `system:masters`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KubeRole = Literal["viewer", "editor", "admin"]
MAX_ITEMS = 10_000

RESERVED = ("system:", "eks:", "aws:", "amazon:", "iam:")
"""Prefixes of Kubernetes' and EKS's own users and groups."""
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
CLUSTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
IAM_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$")
_SCOPE = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,99}/(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,99}))$")


def _kube_name(value: str) -> str:
    if not value or len(value) > 253 or any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError(f"{value!r} is not a Kubernetes user or group name")
    if value.lower().startswith(RESERVED):
        raise ValueError(
            f"{value!r}: `system:` names are the cluster's own (and `eks:`, `aws:`, `amazon:`, "
            "`iam:` EKS's); not granted here"
        )
    return value


class Identity(BaseModel):
    """Who one user, team or group is to a cluster: its Kubernetes name and its IAM ARN."""

    model_config = ConfigDict(extra="forbid")

    kube: str | None = None
    """The User (for a user) or Group (team, OIDC group) name in RBAC; default below."""
    aws: list[str] = Field(default_factory=list, max_length=100)
    """IAM roles or users (ARNs) that act as it on EKS clusters."""

    @field_validator("kube")
    @classmethod
    def _kube(cls, value: str | None) -> str | None:
        return None if value is None else _kube_name(value)

    @field_validator("aws")
    @classmethod
    def _arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not IAM_ARN.match(arn):
                raise ValueError(f"{arn!r} is not an IAM role or user ARN")
        return value


class Subjects(BaseModel):
    """Identities by GitHub login, GitHub team (`org/team`) and OIDC group. Without an entry a
    user is the User `<user_prefix><login>`, a team the Group `<team_prefix><org/team>` and a
    group the Group `<group_prefix><group>` (the cluster's prefixes), with no IAM identity."""

    model_config = ConfigDict(extra="forbid")

    users: dict[str, Identity] = Field(default_factory=dict, max_length=MAX_ITEMS)
    teams: dict[str, Identity] = Field(default_factory=dict, max_length=MAX_ITEMS)
    groups: dict[str, Identity] = Field(default_factory=dict, max_length=MAX_ITEMS)


class Rule(BaseModel):
    """One RBAC `PolicyRule`, in its Kubernetes spelling."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_groups: list[str] = Field(alias="apiGroups", min_length=1, max_length=100)
    resources: list[str] = Field(min_length=1, max_length=100)
    verbs: list[str] = Field(min_length=1, max_length=20)
    resource_names: list[str] = Field(default_factory=list, alias="resourceNames", max_length=100)


class Namespace(BaseModel):
    """A namespace and the repositories whose jobs run there: a grant reaches it when it covers
    all of them (a grant on `acme/*` reaches a namespace of `acme/widget`, not one of `*`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    repos: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=MAX_ITEMS)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a namespace name (a DNS label)")
        return value

    @field_validator("repos")
    @classmethod
    def _repos(cls, value: list[str]) -> list[str]:
        for scope in value:
            if not _SCOPE.match(scope):
                raise ValueError(f"{scope!r} is not `*`, `org/*` or `org/repo`")
        return value


class Eks(BaseModel):
    """The EKS side of a cluster: IAM identities mapped through the `aws-auth` ConfigMap and/or
    access entries with namespaced access policies."""

    model_config = ConfigDict(extra="forbid")

    cluster: str
    region: str | None = None
    aws_auth: bool = True
    access_entries: bool = True
    node_roles: list[str] = Field(default_factory=list, max_length=100)
    """The node groups' IAM roles: `aws-auth` is rewritten whole, so they must be in it."""

    @field_validator("node_roles")
    @classmethod
    def _nodes(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not IAM_ARN.match(arn) or ":role/" not in arn:
                raise ValueError(f"{arn!r} is not an IAM role ARN")
        return value


class Cluster(BaseModel):
    """One cluster (the CI cluster, a test cluster) and its namespaces."""

    model_config = ConfigDict(extra="forbid")

    name: str
    context: str | None = None
    """The kubeconfig context `foredeck access apply` uses (default: the current one)."""
    eks: Eks | None = None
    namespaces: list[Namespace] = Field(min_length=1, max_length=1000)
    rules: dict[KubeRole, list[Rule]] = Field(default_factory=dict)
    """What a role adds to the one below it; default: `DEFAULT_RULES`."""
    user_prefix: str = ""
    team_prefix: str = "github:"
    group_prefix: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not CLUSTER_NAME.match(value):
            raise ValueError(f"{value!r} is not a cluster name (letters, digits, `_`, `-`)")
        return value

    @model_validator(mode="after")
    def _unique(self) -> Cluster:
        names = [ns.name for ns in self.namespaces]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"namespace {twice[0]!r} is listed twice")
        for prefix in (self.user_prefix, self.team_prefix, self.group_prefix):
            if prefix.lower().startswith(RESERVED):
                raise ValueError(f"prefix {prefix!r}: `system:` names are the cluster's own")
        return self


def unique_clusters(clusters: list[Cluster]) -> list[Cluster]:
    names = [c.name for c in clusters]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"cluster {twice[0]!r} is listed twice")
    return clusters


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> Rule:
    return Rule(apiGroups=groups, resources=resources, verbs=verbs)


_READ = ["get", "list", "watch"]
DEFAULT_RULES: dict[KubeRole, list[Rule]] = {
    "viewer": [
        rule([""], ["pods", "pods/log", "events"], _READ),
        rule(["argoproj.io"], ["workflows"], _READ),
        rule(["tekton.dev"], ["pipelineruns", "taskruns"], _READ),
    ],
    "editor": [
        rule([""], ["pods"], ["delete"]),
        rule(["argoproj.io"], ["workflows"], ["create", "delete"]),
        rule(["tekton.dev"], ["pipelineruns"], ["create", "delete"]),
    ],
    "admin": [rule(["*"], ["*"], ["*"])],
}
"""Viewer reads pods, logs and runs; editor also starts and deletes runs and deletes pods;
admin may do anything in the namespace (bound by a RoleBinding, never cluster-wide)."""
