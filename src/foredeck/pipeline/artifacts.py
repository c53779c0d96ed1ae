"""Argo artifacts as IR steps: how a task receives and leaves files through a repository.

A task with artifacts (`TaskSpec.artifacts`) binds the run's artifact repository, the pipeline
workspace `argo-artifacts` (a directory under the run's own, one per run). Its container paths
(`/tmp/message`) live under `pod_root()`, a directory of that task inside the repository
workspace: the front end rewrites them in the steps' text, as it rewrites volume mount paths.
Two generated steps do what Argo's executor does around the main container:

- `argo-artifacts-in`, first: the parent directory of each output artifact's path is made (as
  an image has it), and the path itself when it is a directory on the host (`/tmp`, empty: the
  task's own, not the host's); each input artifact is placed at its path, from its locator
  (the param `argo-artifact-NAME`): `key:K` is the repository entry at key K (a gzipped tar is
  unpacked, a single top entry lands at the path itself, as Argo does), `raw:DATA` is written
  as is, `url:`/`git:`/`remote:` need the network and fail the task with a message saying so;
  an empty locator is a missing artifact (an error unless the artifact is optional);
- `argo-artifacts-out`, last: each output artifact is stored at its key (a key-only location,
  else `WORKFLOW/POD/NAME.tgz`, or `.../NAME` with `archive: none`), as a gzipped tar unless
  `archive: none` (then a file or directory copy), and its locator `key:K` becomes the result
  `argo-artifact-NAME` that later tasks pass on; a missing path fails the task unless the
  artifact is optional (then the locator is empty).

Paths and locators reach the scripts through the environment, never the script text. The
emitters recognise the steps by name and compile `TaskSpec.artifacts` instead.
"""

from __future__ import annotations

from foredeck.pipeline.collector import COLLECT_IMAGE, sh_quote
from foredeck.pipeline.model import ArtifactSpec, Step
from foredeck.types import Source

REPOSITORY = "argo-artifacts"
"""The pipeline (and task) workspace that holds a run's artifact repository."""
PREFIX = "argo-artifact-"
"""Params (inputs) and results (outputs) that carry an artifact's locator."""
IN_STEP = "argo-artifacts-in"
OUT_STEP = "argo-artifacts-out"
STEPS = (IN_STEP, OUT_STEP)
REPOSITORY_PATH = f"$(workspaces.{REPOSITORY}.path)"
MAX_RAW = 256 * 1024
"""Bytes of a `raw` artifact's data (it travels as a param value)."""


def locator_name(artifact: str) -> str:
    """The param / result carrying artifact `artifact`'s locator."""
    return PREFIX + artifact


def artifact_of(name: str) -> str | None:
    """The artifact a param or result name carries, or None for any other name."""
    return name[len(PREFIX) :] if name.startswith(PREFIX) else None


def pod_root() -> str:
    """Where a task's container paths live: its own directory in the repository workspace."""
    return f"{REPOSITORY_PATH}/.pods/$(context.taskRun.name)"


def default_key(artifact: ArtifactSpec) -> str:
    """Argo's default key format, `{{workflow.name}}/{{pod.name}}/NAME.tgz`."""
    suffix = ".tgz" if artifact.archive == "tgz" else ""
    return f"$(context.pipelineRun.name)/$(context.taskRun.name)/{artifact.name}{suffix}"


_IN_HEAD = """set -e
repo=$ARGO_ARTIFACT_REPOSITORY
prepare() {
  if [ -d "$2" ] && [ ! -L "$2" ]; then mkdir -p "$1"; else mkdir -p "$(dirname "$1")"; fi
}
place() {
  loc=$1 dst=$2 name=$3 optional=$4 mode=$5
  case $loc in
  key:*)
    key=${loc#key:}
    case /$key/ in */../*) echo "input artifact '$name': bad key $key" >&2; exit 1;; esac
    src=$repo/${key#/}
    if [ ! -e "$src" ]; then
      [ "$optional" = 1 ] && return 0
      echo "input artifact '$name': key $key is not in the run's artifact repository" >&2
      exit 1
    fi
    mkdir -p "$(dirname "$dst")"; rm -rf "$dst"
    if [ -f "$src" ] && tar -tzf "$src" >/dev/null 2>&1; then
      tmp=$dst.unpack; rm -rf "$tmp"; mkdir -p "$tmp"; tar -xzf "$src" -C "$tmp"
      if [ "$(ls -A "$tmp" | wc -l)" -eq 1 ]; then
        mv "$tmp/$(ls -A "$tmp")" "$dst"; rmdir "$tmp"
      else
        mv "$tmp" "$dst"
      fi
    else
      cp -R "$src" "$dst"
    fi;;
  raw:*)
    mkdir -p "$(dirname "$dst")"; printf '%s' "${loc#raw:}" > "$dst";;
  url:*|git:*|remote:*)
    echo "input artifact '$name': fetching ${loc#*:} needs the network, which a host run" \\
      "does not use; run it on a cluster (--emit argo)" >&2
    exit 1;;
  '')
    [ "$optional" = 1 ] && return 0
    echo "input artifact '$name' has no value (no \\`from\\` and no location)" >&2; exit 1;;
  *) echo "input artifact '$name': unknown locator $loc" >&2; exit 1;;
  esac
  if [ -n "$mode" ]; then chmod -R "$mode" "$dst"; fi
}
"""

_OUT_HEAD = """set -e
repo=$ARGO_ARTIFACT_REPOSITORY
store() {
  src=$1 key=${2#/} result=$3 name=$4 optional=$5 archive=$6 path=$7
  case /$key/ in */../*) echo "output artifact '$name': bad key $key" >&2; exit 1;; esac
  if [ ! -e "$src" ]; then
    if [ "$optional" = 1 ]; then : > "$result"; return 0; fi
    echo "output artifact '$name': $path does not exist" >&2; exit 1
  fi
  out=$repo/$key; mkdir -p "$(dirname "$out")"; rm -rf "$out"
  if [ "$archive" = none ]; then
    cp -R "$src" "$out"
  else
    tar -czf "$out" -C "$(dirname "$src")" "$(basename "$src")"
  fi
  printf 'key:%s' "$key" > "$result"
}
"""


def input_step(
    artifacts: list[ArtifactSpec], paths: dict[tuple[str, str], str], source: Source
) -> Step:
    """The step placing the input `artifacts` at `paths` (host path expressions, by direction
    and name: an input and an output may share a name), and
    making the directories output artifacts go to (a container has its image's tree)."""
    env = {"ARGO_ARTIFACT_REPOSITORY": REPOSITORY_PATH}
    lines = [_IN_HEAD]
    outputs = [a for a in artifacts if a.direction == "output"]
    for i, art in enumerate(outputs):
        env[f"ARGO_ARTIFACT_OUT_{i}"] = paths[(art.direction, art.name)]
        lines.append(f'prepare "$ARGO_ARTIFACT_OUT_{i}" {sh_quote(art.path)}\n')
    for i, art in enumerate(a for a in artifacts if a.direction == "input"):
        env[f"ARGO_ARTIFACT_{i}"] = f"$(params.{locator_name(art.name)})"
        env[f"ARGO_ARTIFACT_{i}_PATH"] = paths[(art.direction, art.name)]
        mode = "" if art.mode is None else format(art.mode, "o")
        lines.append(
            f'place "$ARGO_ARTIFACT_{i}" "$ARGO_ARTIFACT_{i}_PATH" {sh_quote(art.name)}'
            f" {int(art.optional)} {sh_quote(mode)}\n"
        )
    return Step(IN_STEP, COLLECT_IMAGE, script="".join(lines), env=env, source=source)


def output_step(
    artifacts: list[ArtifactSpec],
    paths: dict[tuple[str, str], str],
    keys: dict[str, str],
    source: Source,
) -> Step:
    """The step storing `artifacts` (outputs) from `paths` (by direction and name) at `keys`
    (by name)."""
    env = {"ARGO_ARTIFACT_REPOSITORY": REPOSITORY_PATH}
    lines = [_OUT_HEAD]
    for i, art in enumerate(artifacts):
        env[f"ARGO_ARTIFACT_{i}_PATH"] = paths[(art.direction, art.name)]
        env[f"ARGO_ARTIFACT_{i}_KEY"] = keys[art.name]
        env[f"ARGO_ARTIFACT_{i}_RESULT"] = f"$(results.{locator_name(art.name)}.path)"
        lines.append(
            f'store "$ARGO_ARTIFACT_{i}_PATH" "$ARGO_ARTIFACT_{i}_KEY"'
            f' "$ARGO_ARTIFACT_{i}_RESULT" {sh_quote(art.name)} {int(art.optional)}'
            f" {art.archive} {sh_quote(art.path)}\n"
        )
    return Step(OUT_STEP, COLLECT_IMAGE, script="".join(lines), env=env, source=source)


def is_artifact_step(step: Step) -> bool:
    return step.name in STEPS
