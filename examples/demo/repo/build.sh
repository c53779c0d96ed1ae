#!/bin/sh
# The postsubmit: package the calculator into $ARTIFACTS, and record the image reference of
# the package in $ARTIFACTS/metadata.json (Prow's convention), which foredeck's CD bumps in
# acme/manifests. No image is built or pushed here: the demo runs without a registry, so the
# "digest" is the package's sha256 (a real job pushes an image, e.g. with a build-image task).
set -eu
out=${ARTIFACTS:-./_out}
mkdir -p "$out"
tar -cf "$out/calculator.tar" calc.sh
echo "packaged calc.sh into $out/calculator.tar"
digest=$(sha256sum "$out/calculator.tar" | cut -d' ' -f1)
tag=$(printf '%.7s' "${PULL_BASE_SHA:-dev}")
image="registry.example/acme/calculator:$tag@sha256:$digest"
printf '{"images": ["%s"]}\n' "$image" > "$out/metadata.json"
echo "recorded image $image"
