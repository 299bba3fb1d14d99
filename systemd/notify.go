package systemd

import (
	"fmt"
	"strings"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
)

// Notify sends states ("READY=1", "STATUS=...", "WATCHDOG=1",
// "STOPPING=1", "RELOADING=1") to the service manager with sd_notify(3).
// It reports whether a notification was sent: false without error when
// the process is not run by systemd (NOTIFY_SOCKET unset).
func Notify(states ...string) (bool, error) {
	ok, err := sddaemon.SdNotify(false, strings.Join(states, "\n"))
	if err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	return ok, nil
}

// WatchdogInterval returns the service's watchdog timeout (WatchdogSec=,
// from WATCHDOG_USEC when WATCHDOG_PID is this process), or 0 when the
// watchdog is off. The daemon sends "WATCHDOG=1" every half of it.
func WatchdogInterval() (time.Duration, error) {
	d, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("watchdog: %w", err)
	}
	return d, nil
}
