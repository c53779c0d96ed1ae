"""The chaos test against moto's EKS server: holder processes lease clusters and are SIGKILLed
at random points; within the TTL and a janitor interval (plus slack for a loaded machine)
every resource is free or deleted and moto lists no cluster that no live resource names."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from foredeck.db import make_engine, migrate
from foredeck.leases import LeaseKeeper, LeaseService, store
from foredeck.leases.eks import EksClusters
from foredeck.settings import LeaseSettings
from tests.child import ROOT, child_env
from tests.kit.wait import wait_for

EKS = {
    "kind": "eks",
    "region": "eu-west-1",
    "role_arn": "arn:aws:iam::123456789012:role/eks",
    "node_role_arn": "arn:aws:iam::123456789012:role/nodes",
    "subnets": ["subnet-1"],
    "poll_delay": 1,
    "create_timeout": 20,
    "delete_timeout": 20,
}


@pytest.fixture
def aws_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """moto's server on a free port, and the environment that points boto3 at it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    nowhere = str(tmp_path / "absent")
    env = {
        "AWS_ACCESS_KEY_ID": "foredeck-test",
        "AWS_SECRET_ACCESS_KEY": "foredeck-test-secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": nowhere,
        "AWS_SHARED_CREDENTIALS_FILE": nowhere,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_EKS": f"http://{host}:{port}",
    }
    with pytest.MonkeyPatch.context() as mp:
        for name in ["AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"]:
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        try:
            yield env
        finally:
            server.stop()


HOLDERS = ["4", "3", "2", "0.5", "0.5"]  # jobs, leases each, ttl, hold up to, dirty share


def test_chaos_with_eks_leaves_no_unowned_cluster(tmp_path: Path, aws_env: dict[str, str]) -> None:
    ttl = float(HOLDERS[2])
    url = f"sqlite:///{tmp_path / 'leases.db'}"
    migrate(url)
    given = {
        "prefix": "fdchaos",
        "reap_interval": 0.2,
        "janitor_interval": 1.0,
        "types": [{"name": "eks-cluster", "max_count": 8, "provider": EKS}],
    }
    # 3 processes x 4 jobs (threads) x 3 leases, each held up to 0.5 s; half released dirty.
    env = child_env() | aws_env | {"LEASE_SETTINGS": json.dumps(given)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.leases.holder", url, "eks-cluster", f"p{n}", *HOLDERS],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    settings = LeaseSettings.model_validate(given)
    engine = make_engine(url)
    provider = EksClusters(settings.types[0].provider, "fdchaos", session=boto3.session.Session())  # type: ignore[arg-type]
    keeper = LeaseKeeper(LeaseService(engine, settings, providers={"eks-cluster": provider}))
    keeper.start()
    began = time.monotonic()
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline(), "a holder process died before its first lease"
        print(f"first leases after {time.monotonic() - began:.2f}s")
        for proc in random.sample(procs, len(procs)):
            time.sleep(random.uniform(0, 1.0))
            proc.send_signal(signal.SIGKILL)
        for proc in procs:
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        killed = time.monotonic()

        def settled() -> bool:
            states = {r.name: r.state for r in store.resources(engine)}
            live = {n for n, s in states.items() if s != "tombstone"}
            return set(states.values()) <= {"free", "tombstone"} and (
                set(provider.list_owned()) <= live
            )

        wait_for("every cluster free or deleted", settled, ttl + settings.janitor_interval + 30)
        print(f"settled {time.monotonic() - killed:.2f}s after the last kill")
        assert len(store.intervals(engine)) >= 3
        live = {r.name for r in store.resources(engine) if r.state == "free"}
        assert set(provider.list_owned()) == live  # and every free one really exists
    finally:
        keeper.stop()
        engine.dispose()
