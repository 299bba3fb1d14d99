#!/bin/sh
# skupperd package: after removal or upgrade (deb postrm, rpm %postun).
#
# systemd reloads its unit files so that the removed (or replaced) units
# are forgotten. The data home /var/lib/skupper is never touched, not even
# on purge.
set -e
command -v systemctl >/dev/null 2>&1 || exit 0
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
