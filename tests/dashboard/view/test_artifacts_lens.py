"""The artifacts lens on a run of a real pipeline: text, JSON and images previewed inline
(size-capped), everything listed with its size (issue #19, item 6)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest

from foredeck.dashboard.view.lenses.artifacts import PREVIEW_BYTES, human_size
from foredeck.storage.store import ArtifactStore, open_store
from tests.dashboard.view.builds import XSS, Build, add_row, client_for, run_and_publish
from tests.db.fixtures import Database
from tests.kit.jobs import tekton_task

# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()

SCRIPT = (
    "#!/bin/sh\n"
    'cd "$ARTIFACTS"\n'
    "echo 'coverage: 81%' > notes.txt\n"
    f'printf \'%s\' \'{{"b": [1, 2], "a": "{XSS}"}}\' > data.json\n'
    "printf '{broken' > broken.json\n"
    'i=0; while [ $i -lt 3000 ]; do echo "line $i of a long log"; i=$((i+1)); done > big.log\n'
    f"echo '{PNG}' | base64 -d > pixel.png\n"
    "printf '\\000\\001\\002binary' > blob.bin\n"
    'printf \'<testsuite name="u" tests="0"></testsuite>\' > junit_u.xml\n'
)


def pipeline() -> list[dict[str, Any]]:
    return [
        tekton_task("save", SCRIPT),
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "Pipeline",
            "metadata": {"name": "ci"},
            "spec": {"tasks": [{"name": "save", "taskRef": {"name": "save"}}]},
        },
    ]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArtifactStore, Build]]:
    root = tmp_path_factory.mktemp("artifacts")
    store = open_store(f"file://{root / 'store'}")
    yield store, run_and_publish(store, root / "out", "saver", "periodic", {"pipeline": pipeline()})


def lens(page: str) -> str:
    match = re.search(r'<section class="lens" id="lens-artifacts".*?</section>', page, re.S)
    assert match, "no artifacts lens"
    return match.group(0)


def test_previews_text_json_and_images_and_lists_the_rest_with_sizes(
    db: Database, saved: tuple[ArtifactStore, Build]
) -> None:
    store, build = saved
    assert build.state == "success"
    job_id = add_row(db, build)
    client = client_for(db, store)
    page = client.get(f"/view/{job_id}").text
    found = lens(page)
    figures = re.findall(
        r'<figure class="artifact-preview preview-(\w+)" data-path="([^"]+)"', found
    )
    previews = {path: kind for kind, path in figures}
    kinds = {path.rsplit("/", 1)[1]: kind for path, kind in previews.items()}
    assert kinds == {
        "notes.txt": "text",
        "data.json": "json",
        "broken.json": "text",
        "big.log": "text",
        "pixel.png": "image",
    }
    # JSON re-indented, and escaped; the script in it is text.
    assert "&#34;b&#34;: [\n    1,\n    2\n  ]" in found
    assert XSS not in page and "&lt;script&gt;" in found
    # A large text file: only its first 64 KB, said so.
    big = re.search(r'data-path="[^"]*big\.log".*?</figure>', found, re.S)
    assert big and "(the first 64 KB)" in big.group(0)
    assert "line 2999 of" not in big.group(0) and len(big.group(0)) < PREVIEW_BYTES + 2000
    # The image is shown from the artifact route, which serves it as an image.
    image = re.search(r'<img src="([^"]+pixel\.png)"', found)
    assert image
    served = client.get(image.group(1))
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content.startswith(b"\x89PNG")
    # Everything is listed with its size: the binary too, never previewed.
    rows = dict(
        re.findall(r'<tr><td><a href="[^"]+">([^<]+)</a></td><td class="size">([^<]+)<', found)
    )
    blob = next(path for path in rows if path.endswith("blob.bin"))
    assert rows[blob] == "9 B" and not any(p.endswith("blob.bin") for p in previews)
    assert any(p.endswith("junit_u.xml") for p in rows) and "build-log.txt" in rows
    assert not any(p.endswith("junit_u.xml") for p in previews)


def test_human_sizes() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 1536, 5 * 1024 * 1024, 3 << 40)] == [
        "0 B",
        "1023 B",
        "1 KB",
        "1.5 KB",
        "5 MB",
        "3072 GB",
    ]
