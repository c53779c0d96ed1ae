"""The pods' upload step (`foredeck util upload --to gs://...`, emitted by the kube decoration)
against the GCS emulator, with the same environment as `test_gcs.py` (`servers.py`: ADC from a
generated service-account key, `STORAGE_EMULATOR_HOST`); every request is checked against the
JSON API discovery document there too."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from foredeck.execute.kube.decorate import decorate, upload_target
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.storage import open_store
from tests.execute.kube.test_decorate import (
    BUILD_DIR,
    argo_leaves,
    decoration,
    fake_pod,
    invoke,
    main_refs,
    pipeline,
    upload_argv,
)
from tests.storage.gcs_double import JsonApi
from tests.storage.servers import BUCKET, Gcs

# After the test: every request the emulator got was a JSON API call as Google defines it.
pytestmark = pytest.mark.usefixtures("json_api_checked")


def test_emitted_upload_to_gcs(tmp_path: Path, gcs: Gcs, api: JsonApi) -> None:
    prefix = f"decorate-{uuid.uuid4().hex[:8]}"
    store_url = f"gs://{BUCKET}/{prefix}"
    target, why = upload_target(store_url, BUILD_DIR)
    assert why is None and target is not None
    # The controller's GCS endpoint goes to the upload step as the same variable gcsfs reads.
    endpoint = os.environ["STORAGE_EMULATOR_HOST"]
    assert target.pod_env() == [{"name": "STORAGE_EMULATOR_HOST", "value": endpoint}]
    run = pipeline()
    doc = decorate("tekton", emit_tekton(run), run, decoration(main_refs(), "/r", target))
    artifacts, steps = fake_pod(tmp_path, [0, 0, 7])

    code, output = invoke(upload_argv(doc, artifacts, steps))

    assert code == 7, output  # the step's exit code, after the upload
    assert api.keys(f"{prefix}/") == sorted(
        [
            f"{prefix}/{BUILD_DIR}/artifacts/build/junit.xml",
            f"{prefix}/{BUILD_DIR}/artifacts/build/sub/coverage.txt",
        ]
    )  # the symlink out of $ARTIFACTS (leak.txt) is not published
    assert api.get(f"{prefix}/{BUILD_DIR}/artifacts/build/junit.xml") == b"<testsuite/>"
    store = open_store(store_url)
    assert store.read_bytes(f"{BUILD_DIR}/artifacts/build/sub/coverage.txt") == b"90%"

    argo = decorate("argo", emit_argo(run), run, decoration(main_refs(), "/r", target))
    [artifact] = argo_leaves(argo)["build"]["outputs"]["artifacts"]
    assert artifact["gcs"] == {"bucket": BUCKET, "key": f"{prefix}/{BUILD_DIR}/artifacts/build"}
    assert "private_key" not in json.dumps(argo) + json.dumps(doc)
