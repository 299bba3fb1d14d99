package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// checkNoSite checks that the namespace has no site yet: it holds one.
func checkNoSite(s *inputState) error {
	if sites := s.ofKind(v2alpha1.KindSite); len(sites) > 0 {
		return usageError("There is already a site resource defined for the namespace. (Site %q in %s; change it with \"skupper site update\")", sites[0].GetName(), sites[0].File)
	}
	return nil
}

// siteDeleteFlags adds --all to site delete.
func siteDeleteFlags(cmd *cobra.Command, help map[string]string) {
	cmd.Flags().Bool("all", false, help["all"])
}

// siteFlags are the resource options of site create/update/generate.
type siteFlags struct {
	enableLinkAccess bool
	edge             bool
}

// register adds the site options to cmd.
func (f *siteFlags) register(cmd *cobra.Command, _ bool, help map[string]string) {
	fl := cmd.Flags()
	fl.BoolVar(&f.enableLinkAccess, "enable-link-access", false, help["enable-link-access"])
	fl.BoolVar(&f.edge, "edge", false, help["edge"])
}

// build makes a Site from create/generate arguments.
func (f *siteFlags) build(_ *cobra.Command, name string, _ []string) (v2alpha1.Object, error) {
	s := newObject(v2alpha1.KindSite, name).(*v2alpha1.Site)
	if f.enableLinkAccess {
		s.Spec.LinkAccess = v2alpha1.LinkAccessDefault
	}
	s.Spec.Edge = f.edge
	return s, nil
}

// check accepts every site update.
func (f *siteFlags) check(*cobra.Command) error { return nil }

// modify sets the spec fields whose options were given.
func (f *siteFlags) modify(cmd *cobra.Command, obj v2alpha1.Object) {
	s := obj.(*v2alpha1.Site)
	if cmd.Flags().Changed("enable-link-access") {
		s.Spec.LinkAccess = v2alpha1.LinkAccessNone
		if f.enableLinkAccess {
			s.Spec.LinkAccess = v2alpha1.LinkAccessDefault
		}
	}
	if cmd.Flags().Changed("edge") {
		s.Spec.Edge = f.edge
	}
}

// findSite returns the namespace's site: the one named, or the only one.
func (s *inputState) findSite(name string) (location, error) {
	if name != "" {
		return s.locate(v2alpha1.Key{Kind: v2alpha1.KindSite, Name: name})
	}
	sites := s.ofKind(v2alpha1.KindSite)
	switch len(sites) {
	case 0:
		return location{}, failure("There is no existing Skupper site resource in namespace %q%s", s.ns.Name, s.brokenFilesNote())
	case 1:
		return s.locate(sites[0].Key())
	}
	var names []string
	for _, d := range sites {
		names = append(names, d.GetName())
	}
	return location{}, failure("namespace %q defines more than one Site (%s); name the one you mean", s.ns.Name, strings.Join(names, ", "))
}

// removeSite deletes the site; with --all, every resource file of the
// namespace as well.
func removeSite(a *app, cmd *cobra.Command, s *inputState, loc location, wf *deleteWaitFlags) error {
	siteKey := loc.doc.Key()
	if all, _ := cmd.Flags().GetBool("all"); !all {
		return a.deleteResources(s, []v2alpha1.Key{siteKey}, wf)
	}
	c := newChange()
	keys := []v2alpha1.Key{siteKey}
	for _, f := range s.files {
		c.remove(f.Path)
	}
	for _, d := range s.docs {
		if k := d.Key(); k != siteKey && k.Kind != v2alpha1.KindSecret {
			keys = append(keys, k)
		}
		c.touched[d.Key()] = true
	}
	if err := apply(s.ns, c); err != nil {
		return err
	}
	return a.reportDeletion(s.ns, keys, c, wf)
}

// siteFields is the site status, as in the reference ("-" for no message).
func siteFields(v view) [][2]string {
	rows := statusHead(v)
	if v.status().Message == "" {
		rows[2][1] = "-"
	}
	if site, ok := v.obj.(*v2alpha1.Site); ok && site.Status.SitesInNetwork > 0 {
		var names []string
		for _, rec := range site.Status.Network {
			names = append(names, orNone(rec.Name))
		}
		rows = append(rows, [2]string{"Sites in network", strconv.Itoa(site.Status.SitesInNetwork)},
			[2]string{"Network", strings.Join(names, ", ")})
	}
	return rows
}
