"""Regenerate `all-examples.json.gz` and `event-names.json` from the npm packages (README.md).

npm install --prefix /tmp/octo @octokit/webhooks-examples@7.6.1 @octokit/openapi@23.0.2
.venv/bin/python tests/data/webhooks/extract.py /tmp/octo/node_modules/@octokit
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(octokit: Path) -> None:
    index = json.loads((octokit / "webhooks-examples/api.github.com/index.json").read_text())
    examples = {entry["name"]: entry["examples"] for entry in index}
    packed = json.dumps(examples, separators=(",", ":"), sort_keys=True).encode()
    (HERE / "all-examples.json.gz").write_bytes(gzip.compress(packed, mtime=0))
    spec = json.loads((octokit / "openapi/generated/api.github.com.json").read_text())
    names = set(examples)
    for item in spec["x-webhooks"].values():
        for operation in item.values():
            names.add(operation.get("x-github", {}).get("subcategory") or "push")
            for parameter in operation.get("parameters", []):
                if parameter.get("name", "").lower() == "x-github-event":
                    names.add(parameter["example"])
    source = (
        "@octokit/openapi 23.0.2 generated/api.github.com.json x-webhooks (each webhook's "
        "x-github.subcategory and its X-GitHub-Event example) and @octokit/webhooks-examples "
        "7.6.1 api.github.com/index.json (entry names)"
    )
    text = json.dumps({"source": source, "names": sorted(names)}, indent=1)
    (HERE / "event-names.json").write_text(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
