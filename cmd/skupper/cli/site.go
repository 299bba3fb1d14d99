package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// siteKind is the "skupper site" command group.
var siteKind = &kindSpec{
	kind: v2alpha1.KindSite,
	group: cmdDoc{
		short: "Manage the site of the current namespace",
		long: `A site is the basis of a namespace's configuration: skupperd runs one router
per site. A namespace holds exactly one Site.`,
	},
	create: &cmdDoc{
		use:   "create <name>",
		short: "Create a site",
		long: `Create a site: write input/resources/Site-<name>.yaml. The namespace directory
is created if needed.

When skupperd is running, the command waits until the site is ready: its
router runs (--wait, --timeout).`,
		example: `  # Create a site
  skupper site create west

  # Create a site that can accept links from remote sites
  skupper site create west --enable-link-access`,
	},
	update: &cmdDoc{
		use:   "update [name]",
		short: "Change site settings",
		long: `Change the settings of the namespace's site (the named one, or the only one).
Options not given keep their values; --enable-link-access=false disables link
access.

When skupperd is running, the command waits until the site is ready
(--wait, --timeout).`,
		example: `  # Update the current site to accept links
  skupper site update --enable-link-access`,
	},
	delete: &cmdDoc{
		use:   "delete [name]",
		short: "Delete a site",
		long: `Delete the namespace's site (the named one, or the only one): remove the file
that defines it. skupperd then stops the site's router. With --all, every
resource file of the namespace's input/resources is removed as well.

When skupperd is running, the command waits until the site is gone.`,
		example: `  # Delete the current site
  skupper site delete

  # Delete the current site and all of its associated Skupper resources
  skupper site delete --all`,
	},
	status: &cmdDoc{
		use:   "status [name]",
		short: "Display the status of a site",
		long: `Display the status of the namespace's site, as skupperd last applied it
(runtime/resources). A site that skupperd has not applied yet is shown as
Pending with the reason.`,
		example: `  # Show the status of the current site
  skupper site status`,
	},
	generate: &cmdDoc{
		use:   "generate <name>",
		short: "Generate a Site resource",
		long:  `Print a Site resource (YAML or JSON) without writing anything.`,
		example: `  # Generate a Site resource and print it to the console
  skupper site generate west --enable-link-access

  # Generate a Site resource and direct the output to a file
  skupper site generate east > east.yaml`,
	},
	wait:        waitReady,
	flags:       func() kindFlags { return &siteFlags{} },
	updateFlags: []string{"--enable-link-access", "--edge"},
	find:        (*inputState).findSite,
	beforeCreate: func(s *inputState) error {
		if sites := s.ofKind(v2alpha1.KindSite); len(sites) > 0 {
			return usageError("There is already a site resource defined for the namespace. (Site %q in %s; change it with \"skupper site update\")", sites[0].GetName(), sites[0].File)
		}
		return nil
	},
	deleteFlags: func(cmd *cobra.Command) {
		cmd.Flags().Bool("all", false, "also delete every other resource of the namespace (every file of input/resources)")
	},
	remove: removeSite,
	table: statusTable{
		empty:  "There is no existing Skupper site resource",
		fields: siteFields,
	},
}

// siteFlags are the resource options of site create/update/generate.
type siteFlags struct {
	enableLinkAccess bool
	edge             bool
}

// register adds the site options to cmd.
func (f *siteFlags) register(cmd *cobra.Command, _ bool) {
	fl := cmd.Flags()
	fl.BoolVar(&f.enableLinkAccess, "enable-link-access", false, "allow links from remote sites (spec.linkAccess: default)")
	fl.BoolVar(&f.edge, "edge", false, "make this an edge site (spec.edge): it links to other sites and accepts no links")
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
	return rows
}
