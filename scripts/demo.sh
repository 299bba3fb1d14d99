#!/usr/bin/env bash
# The README's main job: build skupperd, lay the hello-world example out as
# two namespaces of a fresh data home, and check them the way the daemon
# loads them.
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
home=$(mktemp -d "${TMPDIR:-/tmp}/skupperd-demo.XXXXXX")
for ns in west east; do
  mkdir -p "$home/namespaces/$ns/input/resources"
  cp examples/hello-world/$ns/*.yaml "$home/namespaces/$ns/input/resources/"
done
echo "Data home: $home"
for ns in west east; do
  echo "== skupperd validate -n $ns"
  ./bin/skupperd validate --data-home "$home" -n "$ns"
done
