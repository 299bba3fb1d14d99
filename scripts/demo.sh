#!/usr/bin/env bash
# The README's main job (`make run`), done for real: build skupperd; lay the
# hello-world example out as two namespaces (west, east) of a fresh data home
# and validate them; start `skupperd run` (process supervisor, grant server on
# 127.0.0.1, one skupper-router per site); link east to west with a token;
# start an echo service behind east's connector; send a line through west's
# listener across the link and print what came back; print the status of
# both sites; stop everything and check that nothing it started is left.
#
# Environment:
#   KEEP=1      leave skupperd, the routers and the echo service running at
#               the end and print how to stop them
#   SKROUTERD   the router to use (a path or a name on PATH); default
#               skrouterd on PATH, else /usr/sbin/skrouterd. When it is not
#               there the demo runs with the stand-in router
#               (bin/skrouterd-standin), which carries no traffic.
#   DEMO_TRAFFIC_TIMEOUT  seconds to wait for traffic to cross (default 90)
#
# Everything binds loopback addresses only; ports are chosen free at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

keep=${KEEP:-0}
traffic_timeout=${DEMO_TRAFFIC_TIMEOUT:-90}
message="hello from west"

say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

# Processes are inspected through /proc: a fresh Debian image has no
# procps (ps, pgrep).

# alive PID: the process exists and is not a zombie.
alive() {
  local stat
  [ -n "$1" ] && read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) }
  [[ $stat != Z* ]]
}

# cmdline PID prints the command line of a process ("" when it is gone).
cmdline() {
  local -a args=()
  mapfile -d '' args 2>/dev/null <"/proc/$1/cmdline" || true
  printf '%s\n' "${args[*]}"
}

# ---- Which router ---------------------------------------------------------

router_hint="  Fedora/RHEL:    dnf install skupper-router
  Debian/Ubuntu:  no distribution package: build skupper-router from its sources
                  (README.md, \"Getting skupper-router\"); this repository's CI
                  installs the prebuilt .deb in ../shared/router"
if [ -n "${SKROUTERD+set}" ]; then
  router=$(command -v -- "$SKROUTERD" 2>/dev/null || true)
  router_origin="SKROUTERD=$SKROUTERD"
else
  router=$(command -v skrouterd 2>/dev/null || true)
  if [ -z "$router" ] && [ -x /usr/sbin/skrouterd ]; then router=/usr/sbin/skrouterd; fi
  router_origin="skrouterd on PATH or /usr/sbin"
fi
if [ -n "$router" ]; then
  real=1
  say "Router: $router ($("$router" --version 2>/dev/null || echo 'version unknown'))"
else
  real=0
  router=$repo/bin/skrouterd-standin
  cat <<EOF
NOTE: skupper-router (skrouterd) is not installed ($router_origin: not found).
To get it:
$router_hint
This run uses the stand-in router instead ($router):
skupperd, the token exchange and the status commands are the real ones, but
no traffic crosses the stand-in.
EOF
fi

# ---- Build ----------------------------------------------------------------

step "build"
if ! build_out=$({ make build && go build -o bin/demo-echo ./test/echo; } 2>&1); then
  printf '%s\n' "$build_out" >&2
  die "the build failed (output above)"
fi
say "bin/skupperd, bin/skupper, bin/skrouterd-standin, bin/demo-echo"
skupperd=$repo/bin/skupperd
skupper=$repo/bin/skupper
echo_tool=$repo/bin/demo-echo

# ---- State and clean-up ---------------------------------------------------

home=$(mktemp -d "${TMPDIR:-/tmp}/skupperd-demo.XXXXXX")
skupperd_pid=""
echo_pid=""
finished=0   # 1 once the main flow stopped everything itself (or KEEP=1)

# started_pids prints every process this demo started that still exists:
# skupperd, the echo service, and any router running a config of this data
# home (found by its unique path; a router skupperd restarted has a new pid).
started_pids() {
  local p d
  local -a args
  {
    for p in $skupperd_pid $echo_pid; do printf '%s\n' "$p"; done
    for d in /proc/[0-9]*; do # no subshell per process: this runs in a loop
      args=()
      mapfile -d '' args 2>/dev/null <"$d/cmdline" || continue
      if [[ "${args[*]}" == *"$home/namespaces/"* ]]; then printf '%s\n' "${d#/proc/}"; fi
    done
  } | sort -u | while read -r p; do
    if alive "$p"; then printf '%s\n' "$p"; fi
  done
}

# stop_pid PID NAME SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
stop_pid() {
  local pid=$1 name=$2 limit=$3 i
  [ -n "$pid" ] || return 0
  alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do
    alive "$pid" || break
    if ((i > 0 && i % 50 == 0)); then say "   still waiting for $name (pid $pid) to stop ($((i / 10))s of ${limit}s)"; fi
    sleep 0.1
  done
  if alive "$pid"; then
    say "   $name (pid $pid) did not stop within ${limit}s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# stop_all stops what the demo started; it fails, naming them, when
# processes are left behind (and then kills those, by pid).
stop_all() {
  stop_pid "$skupperd_pid" skupperd 20   # skupperd stops its routers itself
  stop_pid "$echo_pid" "echo service" 5
  local left p start=$SECONDS
  while :; do # routers may take a moment to go: allow them 3 s
    left=$(started_pids)
    [ -z "$left" ] && return 0
    ((SECONDS - start < 3)) || break
    sleep 0.2
  done
  say "demo: error: processes left behind after stopping (now killed):" >&2
  for p in $left; do
    say "  pid $p: $(cmdline "$p")" >&2
    kill -KILL "$p" 2>/dev/null || true
  done
  return 1
}

on_exit() {
  local rc=$?
  # Clean-up is bounded; a second Ctrl-C must not cut it short.
  trap - EXIT
  trap '' INT TERM
  if [ "$finished" != 1 ]; then
    say ""
    say "demo: stopping what was started (skupperd, routers, echo service)..."
    stop_all || rc=1
    if [ "$rc" = 0 ]; then rc=1; fi
  fi
  if [ "$rc" = 130 ]; then
    say "demo: interrupted; data home and logs kept in $home (skupperd.log, echo.log)" >&2
  elif [ "$rc" != 0 ]; then
    say "demo: FAILED; logs kept in $home (skupperd.log, echo.log)" >&2
  elif [ "$keep" != 1 ]; then
    rm -rf "$home"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'say ""; say "demo: interrupted"; exit 130' INT TERM

# show_log_tail explains a failure with the end of skupperd's log.
show_log_tail() {
  say "--- last lines of $home/skupperd.log:" >&2
  tail -n 25 "$home/skupperd.log" >&2 || true
}

# router_problem prints the latest error a router reported in skupperd's
# log ("" when none), e.g. a port another process took after skupperd
# chose it. skupperd's own probes of a router's local port show up as
# "No protocol header found": not a problem.
router_problem() {
  grep -E 'msg=router .*\((error|critical)\)|msg="router exited"' "$home/skupperd.log" 2>/dev/null |
    grep -v "No protocol header found" |
    tail -n 1 |
    sed -E -e 's/.* namespace=([^ ]*) output="[^(]*\((error|critical)\) (.*)"$/\1 router: \3/' \
      -e 's/.*msg="router exited" namespace=([^ ]*) (.*)/\1 router exited: \2/' || true
}

# ---- Echo service and ports -----------------------------------------------

step "echo service (the backend behind east's connector)"
"$echo_tool" serve -addr 127.0.0.1:0 -port-file "$home/echo.port" \
  </dev/null >"$home/echo.log" 2>&1 &
echo_pid=$!
for ((i = 0; i < 100; i++)); do
  [ -s "$home/echo.port" ] && break
  alive "$echo_pid" || { cat "$home/echo.log" >&2; die "the echo service exited at start"; }
  sleep 0.1
done
[ -s "$home/echo.port" ] || die "the echo service did not report its port within 10s"
echo_port=$(cat "$home/echo.port")
say "echo service: 127.0.0.1:$echo_port (pid $echo_pid)"
# wait_status NS WHAT DESCRIPTION REGEX: wait up to 30s until
# `skupper -n NS WHAT status` prints a line matching REGEX, showing progress;
# on timeout say so and go on (the status printed below says why).
wait_status() {
  local ns=$1 what=$2 desc=$3 re=$4 start=$SECONDS elapsed
  until "$skupper" --data-home "$home" -n "$ns" "$what" status 2>/dev/null | grep -Eq "$re"; do
    elapsed=$((SECONDS - start))
    if ((elapsed >= 30)); then
      say "   still no $desc after ${elapsed}s; the status below says why"
      return 0
    fi
    say "   waiting for $desc (${elapsed}s of 30s)"
    sleep 1
  done
}

# pick_port prints a port free on 127.0.0.1 now and not already chosen.
chosen=" $echo_port "
pick_port() {
  local p i
  for ((i = 0; i < 20; i++)); do
    p=$("$echo_tool" free-port) || die "cannot find a free port on 127.0.0.1"
    if [[ $chosen != *" $p "* ]]; then
      printf '%s\n' "$p"
      return 0
    fi
  done
  die "cannot find a free port on 127.0.0.1"
}
listener_port=$(pick_port); chosen+="$listener_port "
inter_router_port=$(pick_port); chosen+="$inter_router_port "
edge_port=$(pick_port)
say "ports chosen free at run time (the example's fixed ones may be taken):"
say "  east Connector/backend: localhost:$echo_port (example: 9090)"
say "  west Listener/backend:  127.0.0.1:$listener_port (example: 8080)"
say "  west link access:       127.0.0.1:$inter_router_port inter-router, 127.0.0.1:$edge_port edge"

# ---- Lay out the example --------------------------------------------------

step "lay out examples/hello-world in data home $home"
for ns in west east; do
  mkdir -p "$home/namespaces/$ns/input/resources"
  cp examples/hello-world/$ns/*.yaml "$home/namespaces/$ns/input/resources/"
done
# The copies get the ports chosen above; check the edit took.
sed -i -E "s/^(  port: )8080\$/\1$listener_port/" "$home/namespaces/west/input/resources/site.yaml"
sed -i -E "s/^(  port: )9090\$/\1$echo_port/" "$home/namespaces/east/input/resources/site.yaml"
grep -q "^  port: $listener_port\$" "$home/namespaces/west/input/resources/site.yaml" ||
  die "could not set the listener port in the copy of examples/hello-world/west/site.yaml"
grep -q "^  port: $echo_port\$" "$home/namespaces/east/input/resources/site.yaml" ||
  die "could not set the connector port in the copy of examples/hello-world/east/site.yaml"
# West's link access would listen on all interfaces, on ports other
# skupperd instances default to; keep the demo on loopback and free ports
# with an explicit RouterAccess of the same name.
cat >"$home/namespaces/west/input/resources/routeraccess.yaml" <<EOF
# The demo's link access: the one Site.spec.linkAccess implies, bound to
# loopback only, on ports chosen free at run time.
apiVersion: skupper.io/v2alpha1
kind: RouterAccess
metadata:
  name: west
spec:
  bindHost: 127.0.0.1
  roles:
    - name: inter-router
      port: $inter_router_port
    - name: edge
      port: $edge_port
EOF
for ns in west east; do
  say "$ns: $(cd "$home/namespaces/$ns/input/resources" && echo *.yaml)"
done

for ns in west east; do
  step "skupperd validate -n $ns"
  "$skupperd" validate --data-home "$home" -n "$ns"
done

# ---- skupperd ------------------------------------------------------------

step "start skupperd"
say "skupperd run --data-home $home --supervisor process --grant-server-addr 127.0.0.1:0 --advertise-host 127.0.0.1 --router-binary $router"
"$skupperd" run --data-home "$home" --supervisor process \
  --grant-server-addr 127.0.0.1:0 --advertise-host 127.0.0.1 \
  --router-binary "$router" </dev/null >"$home/skupperd.log" 2>&1 &
skupperd_pid=$!
say "skupperd pid $skupperd_pid; log: $home/skupperd.log"
ready=0
for ((i = 1; i <= 300; i++)); do
  if ! alive "$skupperd_pid"; then show_log_tail; die "skupperd exited at start"; fi
  if grep -q 'msg=ready' "$home/skupperd.log" &&
    [ "$(grep -c 'msg="router started"' "$home/skupperd.log")" -ge 2 ]; then
    ready=1
    break
  fi
  if ((i % 50 == 0)); then say "   waiting for skupperd and both routers to start ($((i / 10))s of 30s)"; fi
  sleep 0.1
done
[ "$ready" = 1 ] || { show_log_tail; die "skupperd and both routers were not up within 30s"; }
grant_addr=$(sed -n 's/.*msg="grant server listening" addr=\([^ ]*\).*/\1/p' "$home/skupperd.log" | head -n 1)
say "skupperd is ready; grant server on https://${grant_addr:-?}"
sed -n 's/.*msg="router started" namespace=\([^ ]*\) pid=\([0-9]*\).*/router for \1: pid \2/p' "$home/skupperd.log"

# ---- Link ---------------------------------------------------------------

step "link east to west with a token"
say "\$ skupper -n west token issue $home/west.token"
"$skupper" --data-home "$home" -n west token issue --timeout 60s "$home/west.token" ||
  { show_log_tail; die "skupper token issue failed"; }
say "\$ skupper -n east token redeem $home/west.token"
"$skupper" --data-home "$home" -n east token redeem --timeout 60s "$home/west.token" ||
  { show_log_tail; die "skupper token redeem failed"; }

# ---- Traffic --------------------------------------------------------------

traffic=""
if [ "$real" = 1 ]; then
  step "traffic: west's listener 127.0.0.1:$listener_port -> link -> east's connector -> echo service 127.0.0.1:$echo_port"
  # West's router binds the listener once east's connector is reachable
  # across the link: retry until the line comes back.
  start=$SECONDS
  last=""
  while :; do
    if out=$("$echo_tool" send -addr "127.0.0.1:$listener_port" -msg "$message" -timeout 3s 2>&1); then
      traffic=$out
      break
    fi
    last=$out
    alive "$skupperd_pid" || { show_log_tail; die "skupperd exited while waiting for traffic"; }
    elapsed=$((SECONDS - start))
    problem=$(router_problem)
    if ((elapsed >= traffic_timeout)); then
      show_log_tail
      die "no echo through 127.0.0.1:$listener_port within ${traffic_timeout}s (last attempt: $last)${problem:+; latest router error: $problem}"
    fi
    say "   waiting for traffic to cross the link (${elapsed}s of ${traffic_timeout}s): $last"
    if [ -n "$problem" ]; then say "     latest router error: $problem"; fi
    sleep 2
  done
  ms=${traffic##* }
  got=${traffic% *}
  say "sent '$message' → got back '$got' across the link (${ms} ms)"
  say "echo service: $(tail -n 1 "$home/echo.log")"
  # Every status below is observed from the routers: wait until both
  # sites report what the link carries, so that the tables show it.
  wait_status east link "east's link to be reported Ready" '^[^ ]+ +Ready '
  wait_status east site "east to count 2 sites in the network" '^Sites in network: +2$'
  wait_status west site "west to count 2 sites in the network" '^Sites in network: +2$'
  wait_status west link "west to list east's link under \"Links from remote sites\"" '^east +'
  wait_status west listener "west's listener to be matched by east's connector" '^backend +Ready '
  wait_status east connector "east's connector to be matched by west's listener" '^backend +Ready '
else
  step "traffic: skipped"
  say "the stand-in router carries no traffic; see the note at the end"
fi

# ---- Status ---------------------------------------------------------------

for ns in west east; do
  for what in site link listener connector; do
    step "$ns: skupper $what status"
    "$skupper" --data-home "$home" -n "$ns" "$what" status || say "(exit status $?)"
  done
done


# ---- Stop or keep ---------------------------------------------------------

if [ "$keep" = 1 ]; then
  finished=1
  step "KEEP=1: everything keeps running"
  say "skupperd pid $skupperd_pid (log $home/skupperd.log), echo service pid $echo_pid"
  say "  west listener:  127.0.0.1:$listener_port    echo service: 127.0.0.1:$echo_port"
  say "  try:  $echo_tool send -addr 127.0.0.1:$listener_port -msg hi   # prints the echo and the round trip in ms"
  say "  CLI:  $skupper --data-home $home -n west link status"
  say "To stop it all (skupperd stops its routers) and remove the data home:"
  say "  kill $skupperd_pid $echo_pid && rm -rf $home"
  exit 0
fi

step "stop"
stop_all || exit 1
finished=1
say "skupperd, both routers and the echo service stopped; no process left behind"
if [ "$real" = 1 ]; then
  say ""
  say "Done: two sites linked by a token, and '$message' crossed the real skupper-router network."
else
  cat <<EOF

Done, with the stand-in router. What this run could not show: traffic
crossing the link. The stand-in checks each router config as skupper-router
would and binds its sockets, but it makes no links and forwards nothing.
Install skupper-router and run 'make run' again:
$router_hint
EOF
fi
