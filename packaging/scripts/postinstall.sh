#!/bin/sh
# skupperd package: after installation (deb postinst, rpm %post).
#
# Debian calls it with "configure <old version>" ("" on a first install);
# RPM with the number of installed instances (1 on a first install, 2 or
# more on an upgrade). A first install enables skupperd.service (the system
# unit) so that it starts on the next boot; it does not start it: run
# "skupper system install" (or "systemctl start skupperd") to start it now.
# An upgrade restarts a running skupperd with the new binary; the sites'
# routers (skupper-<namespace>.service) keep running. The data home
# /var/lib/skupper is never touched.
set -e

first=no
upgrade=no
case "$1" in
	configure)
		if [ -z "$2" ]; then first=yes; else upgrade=yes; fi
		;;
	1) first=yes ;;
	[0-9]*) upgrade=yes ;;
esac

# With DPKG_ROOT set (dpkg --root, chrootless), act on that tree offline.
root=${DPKG_ROOT:-}
if ! command -v systemctl >/dev/null 2>&1; then
	exit 0
fi
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
if [ "$first" = yes ]; then
	if [ -n "$root" ]; then
		systemctl --root="$root" enable skupperd.service || true
	else
		systemctl enable skupperd.service || true
	fi
fi
if [ "$upgrade" = yes ] && [ -z "$root" ] && [ -d /run/systemd/system ]; then
	systemctl try-restart skupperd.service || true
fi
exit 0
