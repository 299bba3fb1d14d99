#!/usr/bin/env bash
# The README's main job: build skupperd, lay the hello-world example out as
# two namespaces of a fresh data home, validate them, reconcile them once
# into router configuration, and load each configuration into the stand-in
# router (which checks it as skupper-router would and binds its sockets).
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
echo "== skupperd reconcile"
./bin/skupperd reconcile --data-home "$home"
for ns in west east; do
  echo "== $ns: runtime/resources"
  ls "$home/namespaces/$ns/runtime/resources"
  echo "== $ns: router config check (stand-in skrouterd)"
  # The stand-in exits 1 on a config the router would refuse; otherwise it
  # binds the sockets and runs until stopped.
  ./bin/skrouterd-standin -c "$home/namespaces/$ns/runtime/router/skrouterd.json" &
  pid=$!
  for _ in $(seq 50); do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; exit 1; fi
    if [ -n "$(ss -Hltnp 2>/dev/null | grep "pid=$pid,")" ]; then break; fi
    sleep 0.1
  done
  kill "$pid"; wait "$pid" || true
done
echo "== west: static links for remote sites"
ls "$home/namespaces/west/runtime/links"
