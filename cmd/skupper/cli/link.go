package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// linkFlags are the options of link update. Links are not created from
// options: they come from "skupper link generate" or tokens.
type linkFlags struct {
	cost int
}

// register adds --cost to cmd.
func (f *linkFlags) register(cmd *cobra.Command, _ bool, help map[string]string) {
	cmd.Flags().IntVar(&f.cost, "cost", 1, help["cost"])
}

// build is not used: there is no "skupper link create".
func (f *linkFlags) build(*cobra.Command, string, []string) (v2alpha1.Object, error) {
	return nil, usageError("links are not created from options; use \"skupper token redeem\" or \"skupper system apply\"")
}

// check validates --cost.
func (f *linkFlags) check(*cobra.Command) error {
	if f.cost < 1 {
		return usageError("invalid --cost %d: expected 1 or more", f.cost)
	}
	return nil
}

// modify sets the link's cost.
func (f *linkFlags) modify(_ *cobra.Command, obj v2alpha1.Object) {
	obj.(*v2alpha1.Link).Spec.Cost = f.cost
}

// removeLink deletes a link and the credentials that came with it: the
// Secret applied with it (system apply of "link generate" output) and the
// input/certs directory a token redemption wrote. Credentials that other
// resources also use are removed only when --credentials remove says so
// or the user agrees when asked; without a terminal to ask on, the
// command is refused with a hint.
func removeLink(a *app, cmd *cobra.Command, s *inputState, loc location, wf *deleteWaitFlags) error {
	l := loc.doc.Object.(*v2alpha1.Link)
	k := loc.doc.Key()
	cr := s.linkCredentials(l)
	mode, _ := cmd.Flags().GetString("credentials")
	remove, err := a.removeCredentials(l, cr, mode)
	if err != nil {
		return err
	}
	keys := []v2alpha1.Key{k}
	if remove && cr.secret != nil {
		keys = append(keys, *cr.secret)
	}
	c, err := s.deletion(keys)
	if err != nil {
		return err
	}
	if err := a.commit(s, c); err != nil {
		return err
	}
	if cr.certDir != "" {
		if remove {
			if err := os.RemoveAll(cr.certDir); err != nil {
				return failed(fmt.Errorf("remove the link's credentials %s: %w", cr.certDir, err))
			}
			a.printf("Removed the link's credentials %s.\n", cr.certDir)
		} else {
			a.printf("Kept the link's credentials %s (used by %s).\n", cr.certDir, strings.Join(cr.users, ", "))
		}
	}
	return a.reportDeletion(s.ns, []v2alpha1.Key{k}, c, wf)
}

// linkDeleteFlags adds --credentials to link delete.
func linkDeleteFlags(cmd *cobra.Command, _ map[string]string) {
	cmd.Flags().String("credentials", "", `what to do with the link's credentials when other resources also use them: "keep" or "remove" (default: ask, or refuse when there is no terminal to ask on)`)
}

// linkCreds are the credentials that came with a link.
type linkCreds struct {
	name string
	// secret is the Secret in the input that holds them, when its file
	// holds nothing else than it and the link.
	secret *v2alpha1.Key
	// certDir is input/certs/<name> when a token redemption wrote it.
	certDir string
	// users are the other resources that use the credentials.
	users []string
}

// any reports whether there are credentials to remove.
func (c linkCreds) any() bool { return c.secret != nil || c.certDir != "" }

// linkCredentials finds the credentials that came with link l.
func (s *inputState) linkCredentials(l *v2alpha1.Link) linkCreds {
	cr := linkCreds{name: linkCredentialsName(l)}
	sk := v2alpha1.Key{Kind: v2alpha1.KindSecret, Name: cr.name}
	if locs := s.find(sk); len(locs) == 1 {
		alone := true
		for _, d := range s.docs {
			if d.File == locs[0].path && d.Key() != sk && d.Key() != v2alpha1.KeyOf(l) {
				alone = false
			}
		}
		if alone {
			cr.secret = &sk
		}
	}
	cr.certDir, _ = s.redeemedCredentials(l)
	for _, d := range s.docs {
		if d.Key() == v2alpha1.KeyOf(l) || d.Key().Kind == v2alpha1.KindSecret {
			continue
		}
		name := tlsCredentialsOf(d.Object)
		if other, ok := d.Object.(*v2alpha1.Link); ok {
			name = linkCredentialsName(other)
		}
		if name == cr.name {
			cr.users = append(cr.users, d.Key().String())
		}
	}
	return cr
}

// linkCredentialsName is the credentials a link uses: tlsCredentials,
// else its name (as upstream).
func linkCredentialsName(l *v2alpha1.Link) string {
	if l.Spec.TLSCredentials != "" {
		return l.Spec.TLSCredentials
	}
	return l.Name
}

// removeCredentials decides whether the link's credentials go with it.
func (a *app) removeCredentials(l *v2alpha1.Link, cr linkCreds, mode string) (bool, error) {
	switch mode {
	case "keep":
		return false, nil
	case "remove":
		return cr.any(), nil
	case "":
	default:
		return false, usageError("invalid --credentials %q: expected keep or remove", mode)
	}
	if !cr.any() || len(cr.users) == 0 {
		return cr.any(), nil
	}
	shared := fmt.Sprintf("the credentials %q of Link %q are also used by %s", cr.name, l.Name, strings.Join(cr.users, ", "))
	if !a.interactive() {
		return false, usageError("%s; give --credentials keep to keep them (the others keep working), or --credentials remove to remove them too (the others stop working)", shared)
	}
	a.printf("Note: %s.\nRemove them too (the others stop working)? [y/N] ", shared)
	answer, _ := bufio.NewReader(a.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// interactive reports whether standard input is a terminal to ask on.
func (a *app) interactive() bool {
	f, ok := a.stdin.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// linkCost renders a link's cost, defaulted as skupperd applies it.
func linkCost(l *v2alpha1.Link) string {
	if l.Spec.Cost == 0 {
		return strconv.Itoa(v2alpha1.DefaultLinkCost)
	}
	return strconv.Itoa(l.Spec.Cost)
}

// linkRow is a row of the link status table.
func linkRow(v view) []string {
	l := v.obj.(*v2alpha1.Link)
	st := v.status()
	return []string{l.Name, orNone(string(st.StatusType)), linkCost(l), orNone(st.Message)}
}

// linkFields is the single-link status.
func linkFields(v view) [][2]string {
	l := v.obj.(*v2alpha1.Link)
	rows := append(statusHead(v), [2]string{"Cost", linkCost(l)})
	if l.Status.RemoteSiteName != "" {
		rows = append(rows, [2]string{"Remote site", l.Status.RemoteSiteName})
	}
	return rows
}

// remoteLinks prints the links other sites of the network made to this
// one, as the site's router reports them (the "Links from remote sites"
// section of "skupper link status").
func remoteLinks(a *app, s *inputState) error {
	a.printf("\nLinks from remote sites:\n\n")
	var rows [][]string
	site := s.site()
	sum, _ := s.ns.ReadSummary()
	if site != nil && sum != nil && sum.SiteID != "" {
		if obj, err := s.ns.ReadStatus(v2alpha1.KeyOf(site)); err == nil {
			for _, rec := range obj.(*v2alpha1.Site).Status.Network {
				for _, l := range rec.Links {
					if rec.ID != sum.SiteID && l.RemoteSiteID == sum.SiteID {
						rows = append(rows, []string{orNone(rec.Name), l.Name, operationalText(l.Operational)})
					}
				}
			}
		}
	}
	if len(rows) == 0 {
		a.printf("<none>\n")
		return nil
	}
	t := newTable(a.stdout, "SITE", "LINK", "STATUS")
	for _, r := range rows {
		t.row(r...)
	}
	return failed(t.flush())
}

func operationalText(up bool) string {
	if up {
		return "Operational"
	}
	return "Not Operational"
}

// linkGenerate builds "skupper link generate".
func (a *app) linkGenerate() *cobra.Command {
	var output, host string
	var cost int
	cmd := &cobra.Command{
		Use:   "generate [name]",
		Short: "Generate a Link resource for use in a remote site",
		Long: `Print a Link and the Secret holding its credentials, for a remote site to
apply ("skupper system apply -f link.yaml" there, or kubectl apply on
Kubernetes). Generating a link requires a site with link access enabled.

The link is one of the static links skupperd keeps in runtime/links, one per
address of this host: the one for the address the site advertises, or the
one for --host. With a name, the Link and its Secret are renamed.`,
		Example: `  # Generate a Link resource and print it to the console
  skupper link generate

  # Generate a Link resource and direct the output to a file
  skupper link generate > link.yaml`,
		Args: positional("skupper link generate [name] [options]", nil, "name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, false); err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
				if err := checkName(v2alpha1.KindLink, name); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("cost") && cost < 1 {
				return usageError("invalid --cost %d: expected 1 or more", cost)
			}
			if host != "" {
				if msg := v2alpha1.ValidateHost(host); msg != "" {
					return usageError("invalid --host: %s", msg)
				}
			}
			s, err := a.loadForStatus()
			if err != nil {
				return err
			}
			objs, err := a.staticLink(s, host)
			if err != nil {
				return err
			}
			for _, o := range objs {
				switch o := o.(type) {
				case *v2alpha1.Link:
					if name != "" {
						o.Name, o.Spec.TLSCredentials = name, name
					}
					if cmd.Flags().Changed("cost") {
						o.Spec.Cost = cost
					}
				case *v2alpha1.Secret:
					if name != "" {
						o.Name = name
					}
				}
			}
			values := make([]any, len(objs))
			for i, o := range objs {
				values[i] = o
			}
			return a.printEncoded(output, values, false)
		},
	}
	cmd.Flags().IntVar(&cost, "cost", 1, "the configured routing cost of sending traffic over the link")
	cmd.Flags().StringVar(&host, "host", "", "the address of this host the remote site dials (default: the address the site advertises)")
	outputFlag(cmd, &output, "yaml", "the output format: json or yaml")
	return cmd
}

// staticLink returns the Secret and Link of the static link for host (""
// for the site's advertised address) from runtime/links.
func (a *app) staticLink(s *inputState, host string) ([]v2alpha1.Object, error) {
	loc, err := s.findSite("")
	if err != nil {
		return nil, failure("There is no existing Skupper site resource in namespace %q; create one with \"skupper site create <name> --enable-link-access\"", s.ns.Name)
	}
	site := loc.doc.Object.(*v2alpha1.Site)
	if !site.Spec.LinkAccessEnabled() {
		return nil, failure("Link access is not enabled for site %q; enable it with \"skupper site update --enable-link-access\"", site.Name)
	}
	links, err := readStaticLinks(s.ns.LinksDir())
	if err != nil {
		return nil, failed(err)
	}
	if len(links) == 0 {
		if running, _ := a.daemonRunning(s.ns); !running {
			return nil, failure("no links have been produced for site %q yet: skupperd is not running; %s", site.Name, startHint)
		}
		return nil, failure("skupperd has not produced the links of site %q yet; check \"skupper site status\" and try again", site.Name)
	}
	// Prefer the RouterAccess of the site's link access.
	var mine []staticLinkFile
	for _, l := range links {
		if l.link.Name == "link-"+site.Name {
			mine = append(mine, l)
		}
	}
	if len(mine) > 0 {
		links = mine
	}
	want := host
	if want == "" {
		if st, err := s.ns.ReadStatus(loc.doc.Key()); err == nil {
			if eps := st.(*v2alpha1.Site).Status.Endpoints; len(eps) > 0 {
				want = eps[0].Host
			}
		}
	}
	var hosts []string
	for _, l := range links {
		if l.host == want {
			return []v2alpha1.Object{l.secret, l.link}, nil
		}
		hosts = append(hosts, l.host)
	}
	if host != "" {
		return nil, failure("no link for host %q; the links of this site are for: %s", host, strings.Join(hosts, ", "))
	}
	return []v2alpha1.Object{links[0].secret, links[0].link}, nil
}

// staticLinkFile is one file of runtime/links.
type staticLinkFile struct {
	host   string
	link   *v2alpha1.Link
	secret *v2alpha1.Secret
}

// readStaticLinks reads runtime/links, sorted by file name.
func readStaticLinks(dir string) ([]staticLinkFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read static links: %w", err)
	}
	var out []staticLinkFile
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := readLimited(path)
		if err != nil {
			return nil, err
		}
		docs, diags := v2alpha1.Decode(path, data)
		if diags.HasErrors() {
			return nil, fmt.Errorf("static link %s: %w", path, diags.Err())
		}
		var f staticLinkFile
		for _, d := range docs {
			switch o := d.Object.(type) {
			case *v2alpha1.Link:
				f.link = o
			case *v2alpha1.Secret:
				f.secret = o
			}
		}
		if f.link == nil || f.secret == nil || len(f.link.Spec.Endpoints) == 0 {
			continue
		}
		f.host = f.link.Spec.Endpoints[0].Host
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].host < out[j].host })
	return out, nil
}

// redeemedCredentials returns the input/certs directory that the token
// redemption which created link l wrote ("" when l was not redeemed or
// the directory is gone).
func (s *inputState) redeemedCredentials(l *v2alpha1.Link) (string, bool) {
	if l.Annotations[redeemedAnnotation] == "" {
		return "", false
	}
	name := l.Spec.TLSCredentials
	if name == "" || v2alpha1.ValidatePathElement(name) != "" {
		return "", false
	}
	dir := s.ns.InputCertDir(name)
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return "", false
	}
	return dir, true
}

// redeemedAnnotation marks a Link written by a token redemption (the
// daemon's reconcile.RedeemedAnnotation).
const redeemedAnnotation = "skupper.io/redeemed-from"

// tlsCredentialsOf returns the tlsCredentials a resource names, if any.
func tlsCredentialsOf(obj v2alpha1.Object) string {
	switch o := obj.(type) {
	case *v2alpha1.Link:
		return o.Spec.TLSCredentials
	case *v2alpha1.Listener:
		return o.Spec.TLSCredentials
	case *v2alpha1.Connector:
		return o.Spec.TLSCredentials
	case *v2alpha1.RouterAccess:
		return o.Spec.TLSCredentials
	}
	return ""
}
