"""The image definition: what the chart and the docs rely on. (The image itself is not built in
tests: there is no Docker daemon here; see docs/deploy.md.)"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

from tests.deploy.chart import CHART, ROOT

DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "dangling line continuation"
    result = []
    for entry in logical:
        word, _, rest = entry.strip().partition(" ")
        result.append((word.upper(), " ".join(rest.split())))
    return result


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    start = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[start:]


def _pattern(glob: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**", i):
            out += ".*"
            i += 2
        elif glob[i] == "*":
            out += "[^/]*"
            i += 1
        elif glob[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(glob[i])
            i += 1
    return re.compile(out + r"\Z")


def docker_ignores(dockerignore: str, path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parents = path.split("/")
    candidates = ["/".join(parents[: i + 1]) for i in range(len(parents))]
    ignored = False
    for line in dockerignore.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = _pattern(line.removeprefix("!").strip("/"))
        if any(pattern.match(c) for c in candidates):
            ignored = not negate
    return ignored


def test_runtime_image_shape() -> None:
    steps = instructions(DOCKERFILE.read_text())
    assert all(arg.startswith("python:3.11-slim") for word, arg in steps if word == "FROM")
    final = final_stage(steps)
    words = dict(final)
    assert words["FROM"] == "python:3.11-slim"
    user = words["USER"].split(":")
    assert all(part.isdigit() and int(part) != 0 for part in user), "numeric non-root user"
    assert [w for w, _ in final].index("USER") > max(
        i for i, (w, _) in enumerate(final) if w == "RUN"
    ), "nothing runs as root after USER"
    installs = [arg for word, arg in final if word == "RUN" and "apt-get install" in arg]
    assert installs and "git" in installs[0].split()
    assert any(word == "RUN" and "pip install" in arg for word, arg in final)
    assert json.loads(words["ENTRYPOINT"]) == ["foredeck"]
    assert json.loads(words["CMD"]) == ["serve", "--config", "/etc/foredeck/settings.yaml"]
    assert words["EXPOSE"] == "8888"


def test_entrypoint_is_the_installed_console_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["foredeck"] == "foredeck.cli:main"


def test_the_chart_mounts_what_the_image_expects() -> None:
    steps = dict(final_stage(instructions(DOCKERFILE.read_text())))
    settings_path = json.loads(steps["CMD"])[2]
    deployment = (CHART / "templates" / "_helpers.tpl").read_text()
    assert f'"--config", "{settings_path}"' in deployment
    assert "mountPath: /etc/foredeck" in deployment
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert (
        values["image"]["tag"] == yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    )


def test_build_context_holds_only_the_package_sources() -> None:
    rules = (ROOT / ".dockerignore").read_text()
    sent = [
        "pyproject.toml",
        "README.md",
        "constraints.txt",
        "src/foredeck/cli.py",
        "src/foredeck/py.typed",
    ]
    kept_out = [
        ".git/config",
        ".venv/bin/python",
        ".foredeck/foredeck.db",
        "tests/conftest.py",
        "src/foredeck/__pycache__/cli.cpython-311.pyc",
    ]
    for path in sent:
        assert not docker_ignores(rules, path), path
    for path in kept_out:
        assert docker_ignores(rules, path), path
    for word, arg in instructions(DOCKERFILE.read_text()):
        if word == "COPY" and not arg.startswith("--from"):
            for source in arg.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert not docker_ignores(rules, source.rstrip("/")), source


def test_dockerfile_parser_joins_continuations() -> None:
    text = "# c\nFROM x\nRUN a \\\n    && b\n\nUSER 1:1\n"
    assert instructions(text) == [("FROM", "x"), ("RUN", "a && b"), ("USER", "1:1")]
    assert Path(DOCKERFILE).is_file()
