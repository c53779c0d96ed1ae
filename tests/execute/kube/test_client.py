"""Cluster access: the EKS token (checked against SigV4 recomputed here), DescribeCluster,
kubeconfig errors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest
from moto import mock_aws

from foredeck.execute.kube.client import (
    KubeConfigError,
    KubeTarget,
    api_client,
    dns_name,
    eks_api_client,
    eks_token,
)

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def session(region: str = "eu-west-1") -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=region
    )


def decode(token: str) -> str:
    assert token.startswith("k8s-aws-v1.")
    body = token[len("k8s-aws-v1.") :]
    assert "=" not in body and "+" not in body and "/" not in body  # base64url, no padding
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_query_signature(url: str, headers: dict[str, str], secret: str) -> str:
    """AWS Signature Version 4 for a presigned GET (docs.aws.amazon.com, "Authenticating
    Requests: Using Query Parameters"), written out independently of botocore."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "X-Amz-Signature"]
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query)
    )
    signed = dict(parse_qsl(parts.query))["X-Amz-SignedHeaders"].split(";")
    all_headers = {"host": parts.netloc, **{k.lower(): v for k, v in headers.items()}}
    canonical_headers = "".join(f"{h}:{all_headers[h].strip()}\n" for h in signed)
    payload = hashlib.sha256(b"").hexdigest()
    canonical = "\n".join(
        ["GET", parts.path or "/", canonical_query, canonical_headers, ";".join(signed), payload]
    )
    params = dict(query)
    amz_date = params["X-Amz-Date"]
    _, date, region, service, terminal = params["X-Amz-Credential"].split("/")
    scope = f"{date}/{region}/{service}/{terminal}"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, terminal):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_eks_token_is_a_presigned_get_caller_identity_for_the_cluster() -> None:
    token = eks_token("ci-cluster", session=session())
    url = decode(token)
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    assert parts.scheme == "https" and parts.netloc == "sts.eu-west-1.amazonaws.com"
    assert params["Action"] == "GetCallerIdentity" and params["Version"] == "2011-06-15"
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Expires"] == "60"
    assert params["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    credential = params["X-Amz-Credential"].split("/")
    assert credential[0] == ACCESS_KEY and credential[2:] == ["eu-west-1", "sts", "aws4_request"]
    # The signature covers the cluster name: recomputed from the spec it matches, and with
    # another cluster name it does not (a token for one cluster is refused by another).
    expected = sigv4_query_signature(url, {"x-k8s-aws-id": "ci-cluster"}, SECRET_KEY)
    assert params["X-Amz-Signature"] == expected
    assert sigv4_query_signature(url, {"x-k8s-aws-id": "other"}, SECRET_KEY) != expected


def test_eks_client_uses_describe_cluster_and_a_bearer_token(tmp_path: Path) -> None:
    with mock_aws():
        aws = session("us-west-2")
        eks = aws.client("eks")
        eks.create_cluster(
            name="ci", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={}
        )
        info = eks.describe_cluster(name="ci")["cluster"]
        client = eks_api_client("ci", session=aws)
    try:
        configuration = client.configuration
        assert configuration.host.rstrip("/") == info["endpoint"].rstrip("/")
        ca = Path(configuration.ssl_ca_cert).read_bytes()
        assert ca == base64.b64decode(info["certificateAuthority"]["data"])
        header = configuration.auth_settings()["BearerToken"]["value"]
        assert header.startswith("Bearer k8s-aws-v1.")
        assert "x-k8s-aws-id" in decode(header.removeprefix("Bearer "))
    finally:
        client.close()


def test_bad_targets_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeConfigError, match="kubeconfig"):
        api_client(KubeTarget(kubeconfig=str(tmp_path / "missing")))
    with pytest.raises(KubeConfigError, match="cluster name"):
        api_client(KubeTarget(auth="eks"))
    with pytest.raises(KubeConfigError, match="in-cluster"):
        api_client(KubeTarget(auth="in-cluster"))  # no service account in this test process


def test_dns_name() -> None:
    assert dns_name("My_Pipeline.v2") == "my-pipeline-v2"
    assert dns_name("---") == "run"
    assert len(dns_name("x" * 100)) == 63


async def test_in_cluster_credentials_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pod's service account: token and CA files, `KUBERNETES_SERVICE_*`, HTTPS."""
    from kubernetes.config import incluster_config

    from foredeck.execute.kube.runner import RemoteOptions, run_remote
    from foredeck.pipeline.load import load_run
    from tests.execute.kube.engines import PIPELINERUNS, TektonSim
    from tests.execute.kube.kube_double import KubeDouble
    from tests.kit.kube import NAMESPACE
    from tests.kit.wait import eventually

    double = KubeDouble()
    double.start(tls_dir=tmp_path)
    try:
        token = tmp_path / "token"
        token.write_text(double.token)
        monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
        monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(double.ca_path))
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(double.port))
        run = load_run([Path(__file__).resolve().parents[2] / "data/argo/dag-diamond.yaml"])
        target = KubeTarget(namespace=NAMESPACE, auth="in-cluster")
        task = asyncio.ensure_future(
            run_remote(
                run,
                tmp_path / "out",
                engine="tekton",
                kube=target,
                job_id=3,
                options=RemoteOptions(backoff=0.05),
            )
        )

        def name() -> str | None:
            if task.done():
                task.result()
            names = double.names(PIPELINERUNS, NAMESPACE)
            return names[0] if names and double.watches_open else None

        sim = TektonSim(double, NAMESPACE, await eventually(name, "the run over HTTPS"))
        sim.running()
        sim.finish("True", "Succeeded", results={"final": "x"})
        result = await asyncio.wait_for(task, 30)
        assert result.status == "Succeeded" and result.results == {"final": "x"}
        assert double.url.startswith("https://")
    finally:
        double.stop()
