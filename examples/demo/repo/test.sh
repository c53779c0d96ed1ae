#!/bin/sh
# The unit tests: one line per case, a JUnit report in $ARTIFACTS, exit 1 on any failure.
set -u
failures=0
total=0
cases=""
check() {
  total=$((total + 1))
  got=$(./calc.sh "$1" "$2" "$3" 2>&1)
  if [ "$got" = "$4" ]; then
    echo "PASS calc $1 $2 $3 = $4"
    cases="$cases<testcase classname=\"calc\" name=\"$1 $2 $3\"/>"
  else
    echo "FAIL calc $1 $2 $3: expected $4, got $got"
    failures=$((failures + 1))
    cases="$cases<testcase classname=\"calc\" name=\"$1 $2 $3\"><failure message=\"expected $4, got $got\"/></testcase>"
  fi
}
check add 2 3 5
check sub 7 4 3
for extra in tests/*.cases; do
  [ -f "$extra" ] || continue
  while read -r op a b want; do
    [ -n "$op" ] && check "$op" "$a" "$b" "$want"
  done < "$extra"
done
if [ -n "${ARTIFACTS:-}" ]; then
  mkdir -p "$ARTIFACTS"
  printf '<testsuites tests="%s" failures="%s"><testsuite name="calc" tests="%s" failures="%s">%s</testsuite></testsuites>\n' \
    "$total" "$failures" "$total" "$failures" "$cases" > "$ARTIFACTS/junit_unit.xml"
fi
echo "$total tests, $failures failed"
[ "$failures" -eq 0 ]
