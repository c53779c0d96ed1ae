#!/bin/sh
# A tiny calculator: ./calc.sh add 2 3
set -eu
op=${1:?usage: calc.sh add|sub|mul A B}
a=${2:?missing A}
b=${3:?missing B}
case "$op" in
  add) echo $((a + b)) ;;
  sub) echo $((a - b)) ;;
  mul) echo $((a * b)) ;;
  *) echo "unknown operation: $op" >&2; exit 2 ;;
esac
