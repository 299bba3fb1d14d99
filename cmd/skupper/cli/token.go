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
	return newGroup("token", "Issue and redeem tokens that link sites",
		`A token lets a remote site create a link to this site. "skupper token issue"
creates an AccessGrant, which skupperd's grant server serves, and writes a token
file; "skupper token redeem" at the remote site exchanges it for a Link.`,
		a.newTokenIssueCommand(), a.newTokenRedeemCommand())
}

// tokenIssue is "skupper token issue": its options and steps.
type tokenIssue struct {
	a           *app
	window      time.Duration
	redemptions int
	grant       string
	timeout     time.Duration
	// reused is the existing grant --grant named, once ready.
	reused *v2alpha1.AccessGrant
}

func (a *app) newTokenIssueCommand() *cobra.Command {
	t := &tokenIssue{a: a}
	cmd := fileCommand("issue <file>", "Issue a token file redeemable for a link to the current site", t.run)
	cmd.Long = `Issue a token file redeemable for a link to the current site.

This command first creates an AccessGrant, waits until skupperd's grant server
serves it, and then writes the token file (mode 0600: it is a credential).
Issuing a token requires a site with link access enabled and a running
skupperd.`
	cmd.Example = `  skupper token issue ~/token.yaml
  skupper token issue ~/token.yaml --expiration-window 60m --redemptions-allowed 3`
	cmd.Flags().DurationVar(&t.window, "expiration-window", 15*time.Minute, "the period of time in which the token can be redeemed")
	cmd.Flags().IntVar(&t.redemptions, "redemptions-allowed", 1, "the number of times the token can be redeemed")
	cmd.Flags().StringVar(&t.grant, "grant", "", "use the named access grant instead of creating a new one (created with this name when it does not exist; default <site>-<uuid>)")
	cmd.Flags().DurationVar(&t.timeout, "timeout", 60*time.Second, "raise an error if the operation does not complete in this time")
	return cmd
}

// run issues a token to file: check, create the AccessGrant, wait until it
// is served, write the token file.
func (t *tokenIssue) run(file string) error {
	if err := t.check(file); err != nil {
		return err
	}
	s, site, err := t.site()
	if err != nil {
		return err
	}
	grant, err := t.grantName(site)
	if err != nil {
		return err
	}
	k, err := t.createGrant(s, site, grant)
	if err != nil {
		return err
	}
	abs, err := t.writeToken(s.ns, k, file)
	if err != nil {
		return err
	}
	t.printInstructions(abs, file)
	return nil
}

// check validates the options and the token file argument.
func (t *tokenIssue) check(file string) error {
	if t.window <= 0 {
		return usageError("--expiration-window must be positive, got %v", t.window)
	}
	if t.redemptions < 1 {
		return usageError("--redemptions-allowed must be 1 or more, got %d", t.redemptions)
	}
	if fi, err := os.Stat(file); err == nil && fi.IsDir() {
		return usageError("the token file %q is a directory", file)
	}
	return nil
}

// site returns the namespace's input and its site, which must accept links
// and be run by skupperd.
func (t *tokenIssue) site() (*inputState, *v2alpha1.Site, error) {
	s, err := t.a.loadForStatus()
	if err != nil {
		return nil, nil, err
	}
	site := s.site()
	switch {
	case site == nil:
		return nil, nil, failure("there is no existing Skupper site resource in namespace %q; create one with \"skupper site create <name> --enable-link-access\"", s.ns.Name)
	case site.Spec.Edge:
		return nil, nil, failure("edge sites cannot accept links, so they cannot issue tokens")
	case !site.Spec.LinkAccessEnabled():
		return nil, nil, failure("Link access is not enabled at this site; use \"skupper site update --enable-link-access\" to enable it")
	}
	if running, _ := t.a.daemonRunning(s.ns); !running {
		return nil, nil, failure("skupperd is not running, and tokens are served by its grant server; %s", startHint)
	}
	return s, site, nil
}

// grantName returns the name of the AccessGrant: --grant, else
// <site>-<uuid>.
func (t *tokenIssue) grantName(site *v2alpha1.Site) (string, error) {
	grant := t.grant
	if grant == "" {
		grant = site.Name + "-" + uuid.NewString()
		if len(grant) > 63 {
			grant = grant[:63]
		}
	}
	return grant, checkName("AccessGrant", grant)
}

// createGrant writes the AccessGrant and waits until it is ready.
func (t *tokenIssue) createGrant(s *inputState, site *v2alpha1.Site, grant string) (v2alpha1.Key, error) {
	obj := &v2alpha1.AccessGrant{
		TypeMeta:   typeMeta(v2alpha1.KindAccessGrant),
		ObjectMeta: v2alpha1.ObjectMeta{Name: grant},
		Spec:       v2alpha1.AccessGrantSpec{RedemptionsAllowed: t.redemptions, ExpirationWindow: t.window.String()},
	}
	k := v2alpha1.KeyOf(obj)
	if locs := s.find(k); len(locs) > 0 {
		return k, t.reuseGrant(s.ns, k)
	}
	path := s.ns.InputPath(k)
	data, err := encodeFor(path, obj)
	if err != nil {
		return k, failed(err)
	}
	c := newChange()
	c.write(path, data, k)
	since := time.Now()
	if err := t.a.commit(s, c); err != nil {
		return k, err
	}
	t.a.printf("Waiting for status...\n")
	if err := t.a.awaitResource(s.ns, obj, site, since, waitReady, t.timeout); err != nil {
		return k, err
	}
	t.a.printf("Access grant %q is ready.\n", grant)
	return k, nil
}

// reuseGrant waits until the existing grant k is served (as "--grant
// NAME" asks: use the named grant instead of creating one), refusing one
// whose tokens can no longer be redeemed.
func (t *tokenIssue) reuseGrant(ns namespaces.Namespace, k v2alpha1.Key) error {
	t.a.printf("Waiting for status...\n")
	err := t.a.poll(t.timeout, fmt.Sprintf("AccessGrant %q to be ready", k.Name), func() (bool, string, error) {
		obj, err := ns.ReadStatus(k)
		if err != nil {
			return false, "no status yet", nil
		}
		st := obj.GetStatus()
		if c, ok := condition(st, v2alpha1.ConditionRedeemable); ok && c.Status == "False" {
			return true, "", failure("AccessGrant %q cannot issue tokens: %s", k.Name, c.Message)
		}
		if g, ok := obj.(*v2alpha1.AccessGrant); ok {
			// Expiry needs no reconcile to be true.
			if exp, err := time.Parse(time.RFC3339, g.Status.ExpirationTime); err == nil && !t.a.now().Before(exp) {
				return true, "", failure("AccessGrant %q cannot issue tokens: Expired at %s; delete it, or issue a token from a new grant", k.Name, g.Status.ExpirationTime)
			}
		}
		switch st.StatusType {
		case v2alpha1.StatusReady:
			return true, "", nil
		case v2alpha1.StatusError:
			return true, "", failure("AccessGrant %q has an error: %s", k.Name, st.Message)
		}
		return false, fmt.Sprintf("status %s: %s", orNone(string(st.StatusType)), orNone(st.Message)), nil
	})
	if err != nil {
		return err
	}
	if g, err := ns.ReadStatus(k); err == nil {
		ag := g.(*v2alpha1.AccessGrant)
		t.reused = ag
	}
	t.a.printf("Access grant %q is ready.\n", k.Name)
	return nil
}

// writeToken writes the token of the grant k's status to file and returns
// its absolute path.
func (t *tokenIssue) writeToken(ns namespaces.Namespace, k v2alpha1.Key, file string) (string, error) {
	st, err := ns.ReadStatus(k)
	if err != nil {
		return "", failed(err)
	}
	g := st.(*v2alpha1.AccessGrant)
	token := &v2alpha1.AccessToken{
		TypeMeta:   typeMeta(v2alpha1.KindAccessToken),
		ObjectMeta: v2alpha1.ObjectMeta{Name: k.Name},
		Spec:       v2alpha1.AccessTokenSpec{URL: g.Status.URL, Code: g.Status.Code, CA: g.Status.CA},
	}
	out, err := v2alpha1.Marshal(token)
	if err != nil {
		return "", failed(err)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", failed(err)
	}
	return abs, failed(atomicfile.WriteFile(abs, out, namespaces.FilePerm))
}

// printInstructions tells what to do with the token file.
func (t *tokenIssue) printInstructions(abs, file string) {
	t.a.printf("Token file %s created.\n\n", abs)
	t.a.printf("Transfer this file to a remote site. At the remote site,\ncreate a link to this site using the 'skupper token\nredeem' command:\n\n    $ skupper token redeem %s\n\n", file)
	if g := t.reused; g != nil {
		left := g.Spec.RedemptionsAllowed - g.Status.Redemptions
		t.a.printf("The token uses access grant %q: it expires at %s or after %s.\n", g.Name, g.Status.ExpirationTime, plural(left, "more use"))
		return
	}
	uses := "1 use"
	if t.redemptions != 1 {
		uses = fmt.Sprintf("%d uses", t.redemptions)
	}
	t.a.printf("The token expires after %s or after %s.\n", uses, humanDuration(t.window))
}

// fileCommand builds a token command that takes a file argument and runs
// run on it.
func fileCommand(use, short string, run func(file string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  positional(use, []string{"file"}, ""),
		RunE:  func(_ *cobra.Command, args []string) error { return run(args[0]) },
	}
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

// tokenRedeem is "skupper token redeem": its options and steps.
type tokenRedeem struct {
	a       *app
	cost    int
	timeout time.Duration
}

func (a *app) newTokenRedeemCommand() *cobra.Command {
	t := &tokenRedeem{a: a}
	cmd := fileCommand("redeem <file>", "Redeem a token file in order to create a link to a remote site", t.run)
	cmd.Long = `Redeem a token file in order to create a link to a remote site.

The token is handed to skupperd (written to the namespace's input as an
AccessToken); skupperd redeems it once at the grant server that issued it and
writes the resulting Link and its credentials to the input. The command waits
until the Link is configured, or prints the grant server's refusal.`
	cmd.Example = `  skupper token redeem ~/token.yaml
  skupper token redeem ~/token.yaml --link-cost 5`
	cmd.Flags().IntVar(&t.cost, "link-cost", 1, "the link cost to use when creating the link")
	cmd.Flags().DurationVar(&t.timeout, "timeout", 60*time.Second, "raise an error if the operation does not complete in this time")
	return cmd
}

// run redeems the token in file: hand it to skupperd, wait until it is
// redeemed and its links are configured.
func (t *tokenRedeem) run(file string) error {
	if t.cost < 1 {
		return usageError("--link-cost must be 1 or more, got %d", t.cost)
	}
	token, err := t.read(file)
	if err != nil {
		return err
	}
	s, err := t.a.loadForStatus()
	if err != nil {
		return err
	}
	if s.site() == nil {
		return failure("there is no existing Skupper site resource in namespace %q; create one with \"skupper site create <name>\"", s.ns.Name)
	}
	if grant := ownGrant(s, token); grant != "" {
		return usageError("this token was issued by this site (AccessGrant %q of namespace %q): a site cannot link to itself; redeem the token at another site", grant, s.ns.Name)
	}
	path, c, err := t.change(s, token)
	if err != nil {
		return err
	}
	since := time.Now()
	if err := t.a.commit(s, c); err != nil {
		return err
	}
	if running, _ := t.a.daemonRunning(s.ns); !running {
		t.a.printf("Token %q written to %s.\n%s\n", token.Name, path, notRunningHint)
		return nil
	}
	t.a.printf("Waiting for status...\n")
	links, err := t.awaitRedeemed(s.ns, token, since)
	if err != nil {
		return err
	}
	for _, l := range links {
		if err := t.a.awaitConfigured(s.ns, v2alpha1.Key{Kind: v2alpha1.KindLink, Name: l}, t.timeout); err != nil {
			return err
		}
		t.a.printf("Link %q is configured.\n", l)
	}
	t.a.printf("You can now safely delete %s.\n", file)
	return nil
}

// read reads the AccessToken of file, with the link cost set.
func (t *tokenRedeem) read(file string) (*v2alpha1.AccessToken, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, usageError("cannot open token file: %v", err)
	}
	if fi.IsDir() {
		return nil, usageError("the token file %q is a directory", file)
	}
	data, err := readLimited(file)
	if err != nil {
		return nil, usageError("cannot read token file: %v", err)
	}
	docs, diags := v2alpha1.Decode(file, data)
	if diags.HasErrors() {
		return nil, t.a.invalid(diags.Errors())
	}
	if len(docs) != 1 || docs[0].Key().Kind != v2alpha1.KindAccessToken {
		return nil, usageError("%s must hold exactly one AccessToken", file)
	}
	token := docs[0].Object.(*v2alpha1.AccessToken)
	token.Namespace = ""
	token.Spec.LinkCost = t.cost
	return token, nil
}

// change is the change that writes the token to the input (replacing a
// token of the same name), and the file's path.
func (t *tokenRedeem) change(s *inputState, token *v2alpha1.AccessToken) (string, *change, error) {
	k := v2alpha1.KeyOf(token)
	path := s.ns.InputPath(k)
	if locs := s.find(k); len(locs) > 0 {
		if err := locs[0].editable(k, "replaces"); err != nil {
			return "", nil, err
		}
		path = locs[0].path
	}
	out, err := encodeFor(path, token)
	if err != nil {
		return "", nil, failed(err)
	}
	c := newChange()
	c.write(path, out, k)
	return path, c, nil
}

// awaitRedeemed waits until skupperd has redeemed the token written since,
// and returns the links the redemption wrote.
func (t *tokenRedeem) awaitRedeemed(ns namespaces.Namespace, token *v2alpha1.AccessToken, since time.Time) ([]string, error) {
	k := v2alpha1.KeyOf(token)
	var links []string
	err := t.a.poll(t.timeout, fmt.Sprintf("token %q to be redeemed", token.Name), func() (bool, string, error) {
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
			return true, "", failure("token %q was not redeemed: %s", token.Name, st.Status.Message)
		}
		if c, ok := condition(&st.Status.ResourceStatus, v2alpha1.ConditionRedeemed); ok && c.Reason == v2alpha1.ReasonUnreachable {
			return true, "", failure("token %q cannot be redeemed now: %s; skupperd keeps retrying in the background (check the grant server's address, that it runs, and the network), or remove the token by deleting %s", token.Name, c.Message, ns.InputPath(k))
		}
		return false, orNone(st.Status.Message), nil
	})
	return links, err
}

// ownGrant returns the name of the namespace's AccessGrant that issued
// token ("" when none did): its status URL is the token's.
func ownGrant(s *inputState, token *v2alpha1.AccessToken) string {
	for _, d := range s.ofKind(v2alpha1.KindAccessGrant) {
		obj, err := s.ns.ReadStatus(d.Key())
		if err != nil {
			continue
		}
		if g, ok := obj.(*v2alpha1.AccessGrant); ok && g.Status.URL != "" && g.Status.URL == token.Spec.URL {
			return g.Name
		}
	}
	return ""
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
		if from := d.Object.GetObjectMeta().Annotations[redeemedAnnotation]; strings.HasPrefix(from, token+":") {
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
