#!/usr/bin/env bash
# fuzz.sh TARGET PACKAGE FUZZTIME — run one fuzz target for FUZZTIME.
#
# Go before 1.27 can fail a fuzz run that found nothing: when -fuzztime
# expires while a worker is still busy (a loaded machine), the
# coordinator reports "context deadline exceeded" as the target's failure
# (https://go.dev/issue/75804, fixed in Go 1.27). Such a run, and only
# such a run, is tried once more: no "Failing input written to" line (a
# real finding always writes its input under testdata/fuzz), no panic, and
# the deadline error as the failure. Anything else fails at once, and so
# does a second deadline failure.
set -uo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 TARGET PACKAGE FUZZTIME" >&2
	exit 2
fi
target=$1 pkg=$2 fuzztime=$3
go=${GO:-go}

# deadline_flake FILE: whether the run logged in FILE failed only by the
# coordinator's deadline race.
deadline_flake() {
	grep -q -- "--- FAIL: $target " "$1" &&
		grep -qE '^[[:space:]]+context deadline exceeded$' "$1" &&
		! grep -q 'Failing input written to' "$1" &&
		! grep -qE '^(panic:|fatal error:)' "$1"
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for attempt in 1 2; do
	echo "$go test -run '^\$' -fuzz '^$target\$' -fuzztime $fuzztime $pkg"
	"$go" test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"
	status=${PIPESTATUS[0]}
	if [ "$status" -eq 0 ]; then
		exit 0
	fi
	if [ "$attempt" -eq 1 ] && deadline_flake "$log"; then
		echo "fuzz.sh: $target failed only by the fuzz coordinator's deadline race (go.dev/issue/75804), with no failing input; running it once more"
		continue
	fi
	exit "$status"
done
