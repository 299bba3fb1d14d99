#!/bin/sh
# skupperd package: before removal (deb prerm, rpm %preun).
#
# Debian calls it with "remove" (or "upgrade", "deconfigure", ...); RPM with
# the number of instances left (0 on removal, 1 or more on an upgrade). On
# removal, skupperd.service is stopped and disabled. The sites' routers
# (skupper-<namespace>.service) are left running and the data home
# /var/lib/skupper is never touched: run "skupper system uninstall" first
# to stop and remove the routers too.
set -e

remove=no
case "$1" in
	remove|0) remove=yes ;;
esac
[ "$remove" = yes ] || exit 0
command -v systemctl >/dev/null 2>&1 || exit 0

root=${DPKG_ROOT:-}
if [ -n "$root" ]; then
	systemctl --root="$root" disable skupperd.service || true
	exit 0
fi
if [ -d /run/systemd/system ]; then
	systemctl stop skupperd.service || true
fi
systemctl disable skupperd.service || true
exit 0
