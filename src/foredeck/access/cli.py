"""`foredeck access render|apply`: cluster access from the roles file (docs/access.md,
"Cluster access").

`render` writes what `apply` would apply, for review or for GitOps: per cluster
`<cluster>.yaml` (ClusterRoles, RoleBindings, `aws-auth`) and, for EKS access entries,
`<cluster>.access-entries.yaml`; without `--out`, all of it on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from foredeck.access.kube_render import (
    AccessRenderError,
    Rendered,
    dump,
    entries_document,
    render,
    select,
)
from foredeck.config.roles import RolesError, load_roles

access_app = typer.Typer(
    name="access",
    help="Cluster access from the roles file: Kubernetes RBAC and EKS identities.",
    no_args_is_help=True,
    add_completion=False,
)

RolesArg = Annotated[Path, typer.Argument(help="The roles file (api.roles_path).")]
ClusterOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cluster", help="Only this cluster of the file (repeatable).", show_default=False
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"foredeck access: {message}", err=True)
    return typer.Exit(1)


def _rendered(roles_path: Path, clusters: list[str] | None) -> list[Rendered]:
    try:
        roles = load_roles(roles_path)
        return [render(roles, cluster) for cluster in select(roles, clusters)]
    except (RolesError, AccessRenderError) as exc:
        raise _fail(str(exc)) from None


@access_app.command("render")
def render_command(
    roles_path: RolesArg,
    out: Annotated[
        Path | None,
        typer.Option(help="Write one file per cluster here (else stdout).", show_default=False),
    ] = None,
    cluster: ClusterOpt = None,
) -> None:
    """Write the RBAC objects, aws-auth and EKS access entries the roles file asks for."""
    files: dict[str, str] = {}
    for done in _rendered(roles_path, cluster):
        name = done.cluster.name
        files[f"{name}.yaml"] = dump(done.objects)
        if done.access_entries:
            document = entries_document(done.access_entries)
            files[f"{name}.access-entries.yaml"] = yaml.safe_dump(document, sort_keys=False)
    if out is None:
        for filename, text in files.items():
            typer.echo(f"# {filename}\n---\n{text}", nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    for filename, text in files.items():
        (out / filename).write_text(text)
        typer.echo(f"wrote {out / filename}", err=True)


@access_app.command("apply")
def apply_command(
    roles_path: RolesArg,
    cluster: ClusterOpt = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option(help="The kubeconfig file ($KUBECONFIG, ~/.kube/config).", show_default=False),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            help="Also delete foredeck's RoleBindings the file no longer renders, and the EKS "
            "access entries foredeck made for principals it no longer names."
        ),
    ] = False,
) -> None:
    """Apply them: RBAC and aws-auth by server-side apply, EKS access entries with boto3."""
    from foredeck.extras import require

    require("kube", "kubernetes", "foredeck access apply")
    from foredeck.access.kube_apply import (
        AccessApplyError,
        apply_access_entries,
        apply_objects,
        prune_bindings,
    )
    from foredeck.execute.kube.client import KubeConfigError, KubeTarget, api_client

    rendered = _rendered(roles_path, cluster)
    unnamed = [d.cluster.name for d in rendered if d.cluster.context is None]
    if unnamed and len(rendered) > 1:
        raise _fail(
            f"cluster {unnamed[0]} names no kubeconfig context: apply it alone "
            f"(--cluster {unnamed[0]}, to the current context) or give it a `context`"
        )
    for done in rendered:
        c = done.cluster
        try:
            api = api_client(
                KubeTarget(auth="kubeconfig", kubeconfig=kubeconfig, context=c.context)
            )
            try:
                lines = apply_objects(api, done.objects)
                if prune:
                    lines += prune_bindings(api, done.objects)
            finally:
                api.close()
            # A file that names no one in a cluster any more still prunes their entries.
            if c.eks is not None and c.eks.access_entries and (done.access_entries or prune):
                lines += apply_access_entries(
                    _eks(c.eks.region), c.eks.cluster, done.access_entries, prune=prune
                )
        except (AccessApplyError, KubeConfigError) as exc:
            raise _fail(f"cluster {c.name}: {exc}") from None
        for line in lines:
            typer.echo(f"{c.name}: {line}")


def _eks(region: str | None) -> Any:
    from foredeck.extras import require

    boto3 = require("eks", "boto3", "EKS access entries")
    return boto3.session.Session(region_name=region).client("eks")
