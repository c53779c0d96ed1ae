"""The roles file's grants as Kubernetes RBAC and EKS identity mappings, per cluster
(`foredeck access render`; docs/access.md, "Cluster access").

Per cluster: a ClusterRole per role (`foredeck:viewer` ...; each holds the rules of the roles
below it) and, in every namespace, a RoleBinding per role to it, naming each subject at its
highest role there. Bindings without subjects are rendered too, so applying a file that drops
someone takes their access away. EKS clusters also get the `aws-auth` ConfigMap (`mapRoles`,
`mapUsers` as the YAML strings EKS reads) and access entries with namespaced access policies.
The output depends on the file alone: the same file renders byte for byte the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from foredeck.config.clusters import DEFAULT_RULES, Cluster, Identity, KubeRole, Namespace, Rule
from foredeck.config.roles import RANK, ROLES, Grant, RolesFile, higher

RBAC = "rbac.authorization.k8s.io"
MANAGED = {"app.kubernetes.io/managed-by": "foredeck"}
POLICY = "arn:aws:eks::aws:cluster-access-policy/"
POLICIES: dict[KubeRole, str] = {
    "viewer": POLICY + "AmazonEKSViewPolicy",
    "editor": POLICY + "AmazonEKSEditPolicy",
    "admin": POLICY + "AmazonEKSAdminPolicy",
}
NODE_GROUPS = ["system:bootstrappers", "system:nodes"]


class AccessRenderError(ValueError):
    """The file cannot be rendered for a cluster (an unknown one, conflicting subjects)."""


@dataclass(frozen=True, order=True)
class Subject:
    kind: str  # User | Group
    name: str


@dataclass
class AccessEntry:
    """One EKS access entry: an IAM principal, its Kubernetes identity and its policies."""

    principal_arn: str
    username: str | None = None
    groups: list[str] = field(default_factory=list)
    policies: dict[str, list[str]] = field(default_factory=dict)
    """Access policy ARN -> the namespaces it is scoped to."""


@dataclass
class Rendered:
    cluster: Cluster
    objects: list[dict[str, Any]]
    access_entries: list[AccessEntry]


def cluster_role_name(role: KubeRole) -> str:
    return f"foredeck:{role}"


def select(roles: RolesFile, names: list[str] | None) -> list[Cluster]:
    """The clusters named (all without names); an unknown name is an error naming the known."""
    known = {c.name: c for c in roles.clusters}
    if not known:
        raise AccessRenderError("the roles file has no `clusters:` section")
    for name in names or []:
        if name not in known:
            raise AccessRenderError(
                f"unknown cluster {name!r}; the roles file has: {', '.join(sorted(known))}"
            )
    return [known[n] for n in sorted(set(names))] if names else list(roles.clusters)


def render(roles: RolesFile, cluster: Cluster) -> Rendered:
    _check_subjects(roles)
    people = _people(roles, cluster)
    objects = [_cluster_role(cluster, role) for role in ROLES]
    for ns in sorted(cluster.namespaces, key=lambda n: n.name):
        held = _held(roles, cluster, ns, people)
        objects.extend(_binding(ns.name, role, held) for role in ROLES)
    entries: list[AccessEntry] = []
    if cluster.eks is not None:
        entries = _access_entries(roles, cluster, people)
        if cluster.eks.aws_auth:
            objects.append(_aws_auth(cluster, entries))
        if not cluster.eks.access_entries:
            entries = []
    return Rendered(cluster, objects, entries)


# -- who ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    subject: Subject
    arns: tuple[str, ...]


def _people(roles: RolesFile, cluster: Cluster) -> dict[tuple[str, str], _Person]:
    """Every user, team and group the grants name -> its Kubernetes subject and IAM ARNs.
    Logins and teams are GitHub's, whatever their case: their default names are lower case."""
    found: dict[tuple[str, str], _Person] = {}
    users = {k.lower(): v for k, v in roles.subjects.users.items()}
    teams = {k.lower(): v for k, v in roles.subjects.teams.items()}
    for grant in roles.grants:
        for user in grant.users:
            ident = users.get(user.lower(), Identity())
            name = ident.kube or cluster.user_prefix + user.lower()
            found[("user", user.lower())] = _Person(Subject("User", name), tuple(ident.aws))
        for team in grant.teams:
            ident = teams.get(team.lower(), Identity())
            name = ident.kube or cluster.team_prefix + team.lower()
            found[("team", team.lower())] = _Person(Subject("Group", name), tuple(ident.aws))
        for group in grant.groups:
            ident = roles.subjects.groups.get(group, Identity())
            name = ident.kube or cluster.group_prefix + group
            found[("group", group)] = _Person(Subject("Group", name), tuple(ident.aws))
    return found


def _check_subjects(roles: RolesFile) -> None:
    """A `subjects:` entry no grant names is a typo (its person would get no IAM identity)."""
    named = {key for grant in roles.grants for key in _named(grant)}
    section = roles.subjects
    for kind, entries in (("users", section.users), ("teams", section.teams)):
        for name in entries:
            if (kind[:-1], name.lower()) not in named:
                raise AccessRenderError(f"subjects.{kind}: no grant names {name!r} (a typo?)")
    for name in section.groups:
        if ("group", name) not in named:
            raise AccessRenderError(f"subjects.groups: no grant names {name!r} (a typo?)")


def _named(grant: Grant) -> list[tuple[str, str]]:
    return [
        *(("user", u.lower()) for u in grant.users),
        *(("team", t.lower()) for t in grant.teams),
        *(("group", g) for g in grant.groups),
    ]


def reaches(grant: Grant, ns: Namespace) -> bool:
    """A grant reaches a namespace when it covers every repository scope of it."""
    for scope in ns.repos:
        if scope == "*":
            if "*" not in grant.repos:
                return False
            continue
        org, _, repo = scope.partition("/")
        if repo == "*":
            wanted = {"*", f"{org.lower()}/*"}
            if not any(s.lower() in wanted for s in grant.repos):
                return False
        elif not grant.covers(org, repo):
            return False
    return True


def _held(
    roles: RolesFile, cluster: Cluster, ns: Namespace, people: dict[tuple[str, str], _Person]
) -> dict[Subject, KubeRole]:
    """Each subject's highest role in `ns`."""
    held: dict[Subject, KubeRole] = {}
    for grant in roles.grants:
        if not reaches(grant, ns):
            continue
        for key in _named(grant):
            subject = people[key].subject
            best = higher(held.get(subject), grant.role)
            assert best is not None
            held[subject] = best
    return held


# -- RBAC --------------------------------------------------------------------------------


def _rules(cluster: Cluster, role: KubeRole) -> list[dict[str, Any]]:
    rules: list[Rule] = []
    for lower_role in ROLES[: RANK[role]]:
        rules.extend(cluster.rules.get(lower_role, DEFAULT_RULES[lower_role]))
    return [r.model_dump(by_alias=True, exclude_defaults=True) for r in rules]


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(MANAGED)
    return meta


def _cluster_role(cluster: Cluster, role: KubeRole) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": _meta(cluster_role_name(role)),
        "rules": _rules(cluster, role),
    }


def _binding(namespace: str, role: KubeRole, held: dict[Subject, KubeRole]) -> dict[str, Any]:
    subjects = sorted(s for s, r in held.items() if r == role)
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": _meta(cluster_role_name(role), namespace),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": cluster_role_name(role)},
        "subjects": [{"apiGroup": RBAC, "kind": s.kind, "name": s.name} for s in subjects],
    }


# -- EKS ---------------------------------------------------------------------------------


def _access_entries(
    roles: RolesFile, cluster: Cluster, people: dict[tuple[str, str], _Person]
) -> list[AccessEntry]:
    """One entry per IAM ARN: its user name or groups, and per namespace its highest role's
    access policy. An ARN given to two users is refused: it cannot be both."""
    entries: dict[str, AccessEntry] = {}
    for person in people.values():
        for arn in person.arns:
            entry = entries.setdefault(arn, AccessEntry(arn))
            if person.subject.kind == "User":
                if entry.username not in (None, person.subject.name):
                    raise AccessRenderError(
                        f"cluster {cluster.name}: IAM ARN {arn} is given to two users "
                        f"({entry.username} and {person.subject.name})"
                    )
                entry.username = person.subject.name
            elif person.subject.name not in entry.groups:
                entry.groups = sorted([*entry.groups, person.subject.name])
    for ns in sorted(cluster.namespaces, key=lambda n: n.name):
        held = _held(roles, cluster, ns, people)
        for person in people.values():
            for arn in person.arns:
                _add_policy(entries[arn], ns.name, held.get(person.subject))
    for entry in entries.values():
        _keep_highest(entry)
    return [entries[arn] for arn in sorted(entries) if entries[arn].policies]


def _add_policy(entry: AccessEntry, namespace: str, role: KubeRole | None) -> None:
    if role is not None:
        entry.policies.setdefault(POLICIES[role], []).append(namespace)


def _keep_highest(entry: AccessEntry) -> None:
    """A namespace under two policies (the ARN is two people) keeps the higher one only."""
    best: dict[str, KubeRole] = {}
    for role in ROLES:
        for ns in entry.policies.get(POLICIES[role], []):
            best[ns] = role
    policies: dict[str, list[str]] = {}
    for ns, role in sorted(best.items()):
        policies.setdefault(POLICIES[role], []).append(ns)
    entry.policies = dict(sorted(policies.items()))


def _aws_auth(cluster: Cluster, entries: list[AccessEntry]) -> dict[str, Any]:
    assert cluster.eks is not None
    map_roles: list[dict[str, Any]] = [
        {"rolearn": arn, "username": "system:node:{{EC2PrivateDNSName}}", "groups": NODE_GROUPS}
        for arn in sorted(set(cluster.eks.node_roles))
    ]
    map_users: list[dict[str, Any]] = []
    for entry in entries:
        username = entry.username or f"{entry.groups[0]}:{{{{SessionName}}}}"
        row = {"username": username, "groups": entry.groups}
        if ":user/" in entry.principal_arn:
            map_users.append({"userarn": entry.principal_arn, **row})
        else:
            map_roles.append({"rolearn": entry.principal_arn, **row})
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("aws-auth", "kube-system"),
        "data": {"mapRoles": _yaml(map_roles), "mapUsers": _yaml(map_users)},
    }


def _yaml(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "[]\n"
    return yaml.safe_dump(rows, sort_keys=False, default_flow_style=False)


def dump(objects: list[dict[str, Any]]) -> str:
    """Objects as a multi-document YAML stream, in order."""
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)


def entries_document(entries: list[AccessEntry]) -> dict[str, Any]:
    """The access entries as `apply` makes them (for review beside the RBAC objects)."""
    return {
        "accessEntries": [
            {
                "principalArn": e.principal_arn,
                **({"username": e.username} if e.username else {}),
                "kubernetesGroups": e.groups,
                "accessPolicies": [
                    {"policyArn": p, "accessScope": {"type": "namespace", "namespaces": ns}}
                    for p, ns in e.policies.items()
                ],
            }
            for e in entries
        ]
    }
