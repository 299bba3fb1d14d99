package cli

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/systemd"
)

// installTimeout bounds install and uninstall (starting skupperd waits for
// its first full pass).
const installTimeout = 2 * time.Minute

func (a *app) systemInstall() *cobra.Command {
	return &cobra.Command{
		Use:   "install",
		Short: "Enable and start skupperd under systemd",
		Long: `Enable and start the skupperd service: the system service (skupperd.service in
the system manager, data home /var/lib/skupper) when run as root, otherwise the
calling user's service (systemctl --user, data home ~/.local/share/skupper).
Running it again changes nothing. The unit file comes from the skupperd package
or "make install".

A user's services run only while the user is logged in unless lingering is
enabled; the command says so when it is not.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
			defer cancel()
			res, err := systemd.InstallDaemon(ctx, systemd.InstallOptions{User: os.Geteuid() != 0})
			if err != nil {
				return failure("failed to install skupperd: %v", err)
			}
			switch {
			case res.Started:
				a.printf("skupperd is now running (%s, pid %d).\n", res.Unit, res.MainPID)
			default:
				a.printf("skupperd is already running (%s, pid %d).\n", res.Unit, res.MainPID)
			}
			if hint := res.LingerHint(); hint != "" {
				a.printf("%s\n", hint)
			}
			return nil
		},
	}
}

func (a *app) systemUninstall() *cobra.Command {
	var force, purge bool
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and disable skupperd and the routers it manages",
		Long: `Stop and disable the skupperd service and remove the router units it created.
While a site is active the command refuses, unless --force is given. The data
home (every namespace's input and runtime) is kept unless --purge is given.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := a.home()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
			defer cancel()
			res, err := systemd.UninstallDaemon(ctx, systemd.UninstallOptions{User: os.Geteuid() != 0, Force: force, Purge: purge, DataHome: h.Root})
			var active *systemd.ActiveSitesError
			if errors.As(err, &active) {
				for _, s := range active.Sites {
					a.printf("The %s site is active (namespace %s)\n", orNone(s.Site), s.Namespace)
				}
				return failure("Uninstallation halted: Active sites detected. Use --force flag to stop and remove active sites")
			}
			if err != nil {
				return failure("failed to uninstall skupperd: %v", err)
			}
			for _, s := range res.ActiveSites {
				a.printf("Removed the router of namespace %q.\n", s.Namespace)
			}
			if res.Purged {
				a.printf("Removed the data home %s.\n", h.Root)
			} else {
				a.printf("The data home %s is kept (use --purge to remove it).\n", h.Root)
			}
			a.printf("skupperd is uninstalled.\n")
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "stop and remove the routers of active sites")
	cmd.Flags().BoolVar(&purge, "purge", false, "also remove the data home (all input and runtime files)")
	return cmd
}
