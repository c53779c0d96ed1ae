"""API access to a cluster: a kubeconfig file, the pod's in-cluster account, or EKS.

Every target yields a private `kubernetes.client.ApiClient`; the process-wide default
configuration of the `kubernetes` package is never touched, so several clusters (and tests
with their own API double) can be used from one process.

EKS needs no `aws` binary: the endpoint and CA come from `DescribeCluster`, and the bearer
token is what `aws eks get-token` prints: a presigned STS `GetCallerIdentity` URL (SigV4, 60 s,
signing the `x-k8s-aws-id: <cluster>` header), base64url without padding, after `k8s-aws-v1.`.
The token lives 15 minutes; `refresh_api_key_hook` makes a new one before every request once
the current one is 10 minutes old, so long watches keep working.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from foredeck.extras import require

if TYPE_CHECKING:
    from foredeck.settings import KubeSettings

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a format marker, not a secret
CLUSTER_HEADER = "x-k8s-aws-id"
TOKEN_EXPIRES = 60  # seconds the presigned URL is valid; EKS accepts it for 15 minutes
TOKEN_REFRESH = 600.0  # make a new token when the current one is this old

AuthKind = Literal["kubeconfig", "in-cluster", "eks"]
EKS = "EKS authentication"


@dataclass(frozen=True)
class KubeTarget:
    """Where runs go: the credentials to use and the namespace (the controller's CI namespace).

    `kubeconfig`: `kubeconfig` file (None: `$KUBECONFIG` or `~/.kube/config`) and `context`.
    `in-cluster`: the pod's service account. `eks`: `cluster` and `region` (credentials from
    boto3's standard chain, or `aws_profile`).
    """

    namespace: str = "default"
    auth: AuthKind = "kubeconfig"
    kubeconfig: str | None = None
    context: str | None = None
    cluster: str | None = None
    region: str | None = None
    aws_profile: str | None = None


class KubeConfigError(ValueError):
    """A target that cannot give an API client (missing cluster name, unreadable kubeconfig)."""


def target_of(kube: KubeSettings) -> KubeTarget:
    """The cluster part of the `kube` settings, field for field."""
    return KubeTarget(**{f.name: getattr(kube, f.name) for f in fields(KubeTarget)})


def api_client(target: KubeTarget) -> k8s.ApiClient:
    """A new API client for `target`; the caller closes it."""
    if target.auth == "kubeconfig":
        try:
            made: k8s.ApiClient = k8s_config.new_client_from_config(
                config_file=target.kubeconfig, context=target.context
            )
            return made
        except (k8s_config.ConfigException, OSError) as exc:
            raise KubeConfigError(f"kubeconfig: {exc}") from exc
    if target.auth == "in-cluster":
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException as exc:
            raise KubeConfigError(f"in-cluster: {exc}") from exc
        return k8s.ApiClient(configuration)
    if target.auth == "eks":
        if not target.cluster:
            raise KubeConfigError("eks: a cluster name is required")
        return eks_api_client(target.cluster, region=target.region, profile=target.aws_profile)
    raise KubeConfigError(f"unknown auth {target.auth!r}")


def _boto_session(region: str | None, profile: str | None) -> Any:
    boto3 = require("eks", "boto3", EKS)  # untyped library
    return boto3.session.Session(region_name=region, profile_name=profile)


def eks_token(cluster: str, *, session: Any, region: str | None = None) -> str:
    """The bearer token `aws eks get-token --cluster-name <cluster>` prints.

    `session` is a boto3 Session; the STS endpoint is the regional one, as the CLI uses.
    """
    signers = require("eks", "botocore.signers", EKS)  # untyped library
    RequestSigner = signers.RequestSigner
    region = region or session.region_name or "us-east-1"
    sts = session.client("sts", region_name=region)
    signer = RequestSigner(
        sts.meta.service_model.service_id,
        region,
        "sts",
        "v4",
        session.get_credentials(),
        session.events,
    )
    request = {
        "method": "GET",
        "url": f"https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
        "body": {},
        "headers": {CLUSTER_HEADER: cluster},
        "context": {},
    }
    url: str = signer.generate_presigned_url(
        request, region_name=region, expires_in=TOKEN_EXPIRES, operation_name=""
    )
    encoded = base64.urlsafe_b64encode(url.encode()).decode()
    return TOKEN_PREFIX + encoded.rstrip("=")


def describe_cluster(cluster: str, *, session: Any) -> tuple[str, bytes]:
    """The API endpoint and the CA bundle (PEM) of an EKS cluster."""
    eks = session.client("eks")
    info = eks.describe_cluster(name=cluster)["cluster"]
    endpoint = info.get("endpoint")
    ca_data = (info.get("certificateAuthority") or {}).get("data")
    if not endpoint or not ca_data:
        raise KubeConfigError(f"eks: cluster {cluster!r} has no endpoint or CA yet")
    return str(endpoint), base64.b64decode(ca_data)


def eks_api_client(
    cluster: str, *, region: str | None = None, profile: str | None = None, session: Any = None
) -> k8s.ApiClient:
    session = session or _boto_session(region, profile)
    endpoint, ca_pem = describe_cluster(cluster, session=session)
    fd, ca_path = tempfile.mkstemp(prefix="foredeck-eks-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as handle:
        handle.write(ca_pem)
    configuration = k8s.Configuration(host=endpoint)
    configuration.ssl_ca_cert = ca_path
    refresher = _TokenRefresher(cluster, session, region)
    refresher(configuration)
    configuration.refresh_api_key_hook = refresher  # type: ignore[assignment]
    return k8s.ApiClient(configuration)


class _TokenRefresher:
    """Called by the client before each request: a fresh token when the old one ages."""

    def __init__(self, cluster: str, session: Any, region: str | None) -> None:
        self._cluster = cluster
        self._session = session
        self._region = region
        self._made = -TOKEN_REFRESH
        self._lock = threading.Lock()

    def __call__(self, configuration: k8s.Configuration) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._made < TOKEN_REFRESH:
                return
            token = eks_token(self._cluster, session=self._session, region=self._region)
            configuration.api_key = {"BearerToken": f"Bearer {token}"}
            self._made = now


_NAME_CHARS = re.compile(r"[^a-z0-9-]+")


def dns_name(text: str, limit: int = 63) -> str:
    """A DNS-1123 label from any text (`My_Pipeline` -> `my-pipeline`)."""
    name = _NAME_CHARS.sub("-", text.lower()).strip("-")[:limit].rstrip("-")
    return name or "run"
