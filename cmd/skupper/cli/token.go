package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
)

func (a *app) newTokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Issue and redeem tokens that link sites",
		Long: `A token lets a remote site create a link to this site. "skupper token issue"
creates an AccessGrant, which skupperd's grant server serves, and writes a token
file; "skupper token redeem" at the remote site exchanges it for a Link.`,
		Args: noArgs,
		RunE: helpOrUnknown,
	}
	cmd.AddCommand(a.newTokenIssueCommand(), a.newTokenRedeemCommand())
	return cmd
}

func (a *app) newTokenIssueCommand() *cobra.Command {
	var (
		window      time.Duration
		redemptions int
		grant       string
		timeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "issue <file>",
		Short: "Issue a token file redeemable for a link to the current site",
		Long: `Issue a token file redeemable for a link to the current site.

This command first creates an AccessGrant, waits until skupperd's grant server
serves it, and then writes the token file (mode 0600: it is a credential).
Issuing a token requires a site with link access enabled and a running
skupperd.`,
		Example: `  skupper token issue ~/token.yaml
  skupper token issue ~/token.yaml --expiration-window 60m --redemptions-allowed 3`,
		Args: positional("issue <file>", []string{"file"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if window <= 0 {
				return usageError("--expiration-window must be positive, got %v", window)
			}
			if redemptions < 1 {
				return usageError("--redemptions-allowed must be 1 or more, got %d", redemptions)
			}
			if fi, err := os.Stat(file); err == nil && fi.IsDir() {
				return usageError("the token file %q is a directory", file)
			}
			ns, err := a.existingNS()
			if err != nil {
				return err
			}
			s, err := readInput(ns)
			if err != nil {
				return failed(err)
			}
			site := s.site()
			if site == nil {
				return failure("there is no existing Skupper site resource in namespace %q; create one with \"skupper site create <name> --enable-link-access\"", ns.Name)
			}
			if site.Spec.Edge {
				return failure("edge sites cannot accept links, so they cannot issue tokens")
			}
			if !site.Spec.LinkAccessEnabled() {
				return failure("Link access is not enabled at this site; use \"skupper site update --enable-link-access\" to enable it")
			}
			if running, _ := a.daemonRunning(ns); !running {
				return failure("skupperd is not running, and tokens are served by its grant server; %s", startHint)
			}
			if grant == "" {
				grant = site.Name + "-" + uuid.NewString()
				if len(grant) > 63 {
					grant = grant[:63]
				}
			}
			if err := checkName("AccessGrant", grant); err != nil {
				return err
			}
			obj := &v2alpha1.AccessGrant{
				TypeMeta:   typeMeta(v2alpha1.KindAccessGrant),
				ObjectMeta: v2alpha1.ObjectMeta{Name: grant},
				Spec:       v2alpha1.AccessGrantSpec{RedemptionsAllowed: redemptions, ExpirationWindow: window.String()},
			}
			k := v2alpha1.KeyOf(obj)
			if locs := s.find(k); len(locs) > 0 {
				return usageError("AccessGrant %q already exists in namespace %q; choose another --grant", grant, ns.Name)
			}
			path := ns.InputPath(k)
			data, err := encodeFor(path, obj)
			if err != nil {
				return failed(err)
			}
			c := newChange()
			c.write(path, data, k)
			since := time.Now()
			if err := a.commit(s, c); err != nil {
				return err
			}
			a.printf("Waiting for status...\n")
			if err := a.awaitResource(ns, obj, site, since, waitReady, timeout); err != nil {
				return err
			}
			a.printf("Access grant %q is ready.\n", grant)
			st, err := ns.ReadStatus(k)
			if err != nil {
				return failed(err)
			}
			g := st.(*v2alpha1.AccessGrant)
			token := &v2alpha1.AccessToken{
				TypeMeta:   typeMeta(v2alpha1.KindAccessToken),
				ObjectMeta: v2alpha1.ObjectMeta{Name: grant},
				Spec:       v2alpha1.AccessTokenSpec{URL: g.Status.URL, Code: g.Status.Code, CA: g.Status.CA},
			}
			out, err := v2alpha1.Marshal(token)
			if err != nil {
				return failed(err)
			}
			abs, err := filepath.Abs(file)
			if err != nil {
				return failed(err)
			}
			if err := atomicfile.WriteFile(abs, out, namespaces.FilePerm); err != nil {
				return failed(err)
			}
			a.printf("Token file %s created.\n\n", abs)
			a.printf("Transfer this file to a remote site. At the remote site,\ncreate a link to this site using the 'skupper token\nredeem' command:\n\n    $ skupper token redeem %s\n\n", file)
			uses := "1 use"
			if redemptions != 1 {
				uses = fmt.Sprintf("%d uses", redemptions)
			}
			a.printf("The token expires after %s or after %s.\n", uses, humanDuration(window))
			return nil
		},
	}
	cmd.Flags().DurationVar(&window, "expiration-window", 15*time.Minute, "the period of time in which the token can be redeemed")
	cmd.Flags().IntVar(&redemptions, "redemptions-allowed", 1, "the number of times the token can be redeemed")
	cmd.Flags().StringVar(&grant, "grant", "", "the name of the AccessGrant to create (default <site>-<uuid>)")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "raise an error if the operation does not complete in this time")
	return cmd
}

// humanDuration renders 15m0s as "15 minutes", 1h0m0s as "1 hour".
func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func (a *app) newTokenRedeemCommand() *cobra.Command {
	var (
		cost    int
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "redeem <file>",
		Short: "Redeem a token file in order to create a link to a remote site",
		Long: `Redeem a token file in order to create a link to a remote site.

The token is handed to skupperd (written to the namespace's input as an
AccessToken); skupperd redeems it once at the grant server that issued it and
writes the resulting Link and its credentials to the input. The command waits
until the Link is configured, or prints the grant server's refusal.`,
		Example: `  skupper token redeem ~/token.yaml
  skupper token redeem ~/token.yaml --link-cost 5`,
		Args: positional("redeem <file>", []string{"file"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if cost < 1 {
				return usageError("--link-cost must be 1 or more, got %d", cost)
			}
			fi, err := os.Stat(file)
			if err != nil {
				return usageError("cannot open token file: %v", err)
			}
			if fi.IsDir() {
				return usageError("the token file %q is a directory", file)
			}
			data, err := readLimited(file)
			if err != nil {
				return usageError("cannot read token file: %v", err)
			}
			docs, diags := v2alpha1.Decode(file, data)
			if diags.HasErrors() {
				return a.invalid(diags.Errors())
			}
			if len(docs) != 1 || docs[0].Key().Kind != v2alpha1.KindAccessToken {
				return usageError("%s must hold exactly one AccessToken", file)
			}
			token := docs[0].Object.(*v2alpha1.AccessToken)
			token.Namespace = ""
			token.Spec.LinkCost = cost
			ns, err := a.existingNS()
			if err != nil {
				return err
			}
			s, err := readInput(ns)
			if err != nil {
				return failed(err)
			}
			if s.site() == nil {
				return failure("there is no existing Skupper site resource in namespace %q; create one with \"skupper site create <name>\"", ns.Name)
			}
			k := v2alpha1.KeyOf(token)
			path := ns.InputPath(k)
			c := newChange()
			if locs := s.find(k); len(locs) > 0 {
				if err := locs[0].editable(k, "replaces"); err != nil {
					return err
				}
				path = locs[0].path
			}
			out, err := encodeFor(path, token)
			if err != nil {
				return failed(err)
			}
			c.write(path, out, k)
			since := time.Now()
			if err := a.commit(s, c); err != nil {
				return err
			}
			running, _ := a.daemonRunning(ns)
			if !running {
				a.printf("Token %q written to %s.\n%s\n", token.Name, path, notRunningHint)
				return nil
			}
			a.printf("Waiting for status...\n")
			var links []string
			err = a.poll(timeout, fmt.Sprintf("token %q to be redeemed", token.Name), func() (bool, string, error) {
				if !reconciledSince(ns, since) {
					return false, "skupperd has not reconciled the change yet", nil
				}
				obj, err := ns.ReadStatus(k)
				if err != nil {
					return false, "no status yet", nil
				}
				st := obj.(*v2alpha1.AccessToken)
				if !applied(token, st, nil) {
					return false, "the status still shows a previous token", nil
				}
				switch {
				case st.Status.Redeemed:
					links = redeemedLinks(ns, token.Name)
					return true, "", nil
				case st.Status.StatusType == v2alpha1.StatusError:
					return true, "", failure("%s", st.Status.Message)
				}
				return false, orNone(st.Status.Message), nil
			})
			if err != nil {
				return err
			}
			for _, l := range links {
				link := &v2alpha1.Link{TypeMeta: typeMeta(v2alpha1.KindLink), ObjectMeta: v2alpha1.ObjectMeta{Name: l}}
				if err := a.awaitConfigured(ns, v2alpha1.KeyOf(link), timeout); err != nil {
					return err
				}
				a.printf("Link %q is configured.\n", l)
			}
			a.printf("You can now safely delete %s.\n", file)
			return nil
		},
	}
	cmd.Flags().IntVar(&cost, "link-cost", 1, "the link cost to use when creating the link")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "raise an error if the operation does not complete in this time")
	return cmd
}

// redeemedLinks lists the Links of the input that the token's redemption
// wrote (annotated with the token's name).
func redeemedLinks(ns namespaces.Namespace, token string) []string {
	s, err := readInput(ns)
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range s.ofKind(v2alpha1.KindLink) {
		if from := d.Object.GetObjectMeta().Annotations["skupper.io/redeemed-from"]; strings.HasPrefix(from, token+":") {
			out = append(out, d.GetName())
		}
	}
	return out
}

// awaitConfigured waits until a resource's status has Configured=True.
func (a *app) awaitConfigured(ns namespaces.Namespace, k v2alpha1.Key, timeout time.Duration) error {
	return a.poll(timeout, fmt.Sprintf("%s %q to be configured", k.Kind, k.Name), func() (bool, string, error) {
		obj, err := ns.ReadStatus(k)
		if err != nil {
			return false, "no status yet", nil
		}
		st := obj.GetStatus()
		if st.StatusType == v2alpha1.StatusError {
			return true, "", failure("%s %q has an error: %s", k.Kind, k.Name, st.Message)
		}
		if c, ok := condition(st, v2alpha1.ConditionConfigured); ok && c.Status == "True" {
			return true, "", nil
		}
		return false, orNone(st.Message), nil
	})
}
