#!/bin/sh
# The postsubmit: package the calculator into $ARTIFACTS.
set -eu
out=${ARTIFACTS:-./_out}
mkdir -p "$out"
tar -cf "$out/calculator.tar" calc.sh
echo "packaged calc.sh into $out/calculator.tar"
