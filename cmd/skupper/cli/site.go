package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// siteFlags are the resource options of site create/update/generate.
type siteFlags struct {
	enableLinkAccess bool
	edge             bool
}

// register adds the site options to cmd.
func (f *siteFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.enableLinkAccess, "enable-link-access", false, "allow links from remote sites (spec.linkAccess: default)")
	fl.BoolVar(&f.edge, "edge", false, "make this an edge site (spec.edge): it links to other sites and accepts no links")
}

// apply sets the spec fields: all of them for create, those whose flags
// were given for update.
func (f *siteFlags) apply(cmd *cobra.Command, s *v2alpha1.Site, create bool) {
	if create {
		if f.enableLinkAccess {
			s.Spec.LinkAccess = v2alpha1.LinkAccessDefault
		}
		s.Spec.Edge = f.edge
		return
	}
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

// newSite builds a Site from create/generate arguments.
func newSite(cmd *cobra.Command, name string, f *siteFlags) (*v2alpha1.Site, error) {
	if err := checkName(v2alpha1.KindSite, name); err != nil {
		return nil, err
	}
	s := &v2alpha1.Site{TypeMeta: typeMeta(v2alpha1.KindSite), ObjectMeta: v2alpha1.ObjectMeta{Name: name}}
	f.apply(cmd, s, true)
	return s, nil
}

// newSiteCommand builds the "skupper site" command group.
func (a *app) newSiteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "site",
		Short: "Manage the site of the current namespace",
		Long: `A site is the basis of a namespace's configuration: skupperd runs one router
per site. A namespace holds exactly one Site.`,
		Args: noArgs,
		RunE: helpOrUnknown,
	}
	cmd.AddCommand(a.siteCreate(), a.siteUpdate(), a.siteDelete(), a.siteStatus(), a.siteGenerate())
	return cmd
}

// siteCreate builds "skupper site create".
func (a *app) siteCreate() *cobra.Command {
	f := &siteFlags{}
	wf := &waitFlags{}
	cmd := &cobra.Command{
		Use:   "create <name>",
		Short: "Create a site",
		Long: `Create a site: write input/resources/Site-<name>.yaml. The namespace directory
is created if needed.

When skupperd is running, the command waits until the site is ready: its
router runs (--wait, --timeout).`,
		Example: `  # Create a site
  skupper site create west

  # Create a site that can accept links from remote sites
  skupper site create west --enable-link-access`,
		Args: positional("skupper site create <name> [options]", []string{"<name>"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			site, err := newSite(cmd, args[0], f)
			if err != nil {
				return err
			}
			if _, err := wf.mode(); err != nil {
				return err
			}
			ns, err := a.ns()
			if err != nil {
				return err
			}
			s, err := readInput(ns)
			if err != nil {
				return failed(err)
			}
			if sites := s.ofKind(v2alpha1.KindSite); len(sites) > 0 {
				return usageError("There is already a site resource defined for the namespace. (Site %q in %s; change it with \"skupper site update\")", sites[0].GetName(), sites[0].File)
			}
			return a.createResource(s, site, wf)
		},
	}
	f.register(cmd)
	wf.register(cmd, waitReady)
	return cmd
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

// siteUpdate builds "skupper site update".
func (a *app) siteUpdate() *cobra.Command {
	f := &siteFlags{}
	wf := &waitFlags{}
	cmd := &cobra.Command{
		Use:   "update [name]",
		Short: "Change site settings",
		Long: `Change the settings of the namespace's site (the named one, or the only one).
Options not given keep their values; --enable-link-access=false disables link
access.

When skupperd is running, the command waits until the site is ready
(--wait, --timeout).`,
		Example: `  # Update the current site to accept links
  skupper site update --enable-link-access`,
		Args: positional("skupper site update [name] [options]", nil, "name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
				if err := checkName(v2alpha1.KindSite, name); err != nil {
					return err
				}
			}
			mode, err := wf.mode()
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("enable-link-access") && !cmd.Flags().Changed("edge") {
				return errNoChange("--enable-link-access", "--edge")
			}
			s, err := a.loadForStatus()
			if err != nil {
				return err
			}
			loc, err := s.findSite(name)
			if err != nil {
				return err
			}
			site := v2alpha1.DeepCopy(loc.doc.Object).(*v2alpha1.Site)
			f.apply(cmd, site, false)
			return a.updateResource(s, loc, site, mode, wf.timeout)
		},
	}
	f.register(cmd)
	wf.register(cmd, waitReady)
	return cmd
}

// siteDelete builds "skupper site delete".
func (a *app) siteDelete() *cobra.Command {
	wf := &deleteWaitFlags{}
	var all bool
	cmd := &cobra.Command{
		Use:   "delete [name]",
		Short: "Delete a site",
		Long: `Delete the namespace's site (the named one, or the only one): remove the file
that defines it. skupperd then stops the site's router. With --all, every
resource file of the namespace's input/resources is removed as well.

When skupperd is running, the command waits until the site is gone.`,
		Example: `  # Delete the current site
  skupper site delete

  # Delete the current site and all of its associated Skupper resources
  skupper site delete --all`,
		Args: positional("skupper site delete [name] [options]", nil, "name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
				if err := checkName(v2alpha1.KindSite, name); err != nil {
					return err
				}
			}
			if err := wf.check(); err != nil {
				return err
			}
			s, err := a.loadForStatus()
			if err != nil {
				return err
			}
			loc, err := s.findSite(name)
			if err != nil {
				return err
			}
			siteKey := loc.doc.Key()
			if !all {
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
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also delete every other resource of the namespace (every file of input/resources)")
	wf.register(cmd)
	return cmd
}

// siteStatus builds "skupper site status".
func (a *app) siteStatus() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status [name]",
		Short: "Display the status of a site",
		Long: `Display the status of the namespace's site, as skupperd last applied it
(runtime/resources). A site that skupperd has not applied yet is shown as
Pending with the reason.`,
		Example: `  # Show the status of the current site
  skupper site status`,
		Args: positional("skupper site status [name] [options]", nil, "name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, true); err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
				if err := checkName(v2alpha1.KindSite, name); err != nil {
					return err
				}
			}
			s, err := a.loadForStatus()
			if err != nil {
				return err
			}
			vs, err := a.views(s, v2alpha1.KindSite, name)
			if err != nil {
				return failed(err)
			}
			if name != "" && len(vs) == 0 {
				return s.notFound(v2alpha1.Key{Kind: v2alpha1.KindSite, Name: name})
			}
			if output != "" {
				values := make([]any, len(vs))
				for i, v := range vs {
					values[i] = v.obj
				}
				return a.printEncoded(output, values, len(vs) == 1)
			}
			if len(vs) == 0 {
				a.printf("There is no existing Skupper site resource\n")
				return nil
			}
			for i, v := range vs {
				if i > 0 {
					a.printf("\n")
				}
				if err := fields(a.stdout, siteFields(v)); err != nil {
					return failed(err)
				}
			}
			return nil
		},
	}
	outputFlag(cmd, &output, "", "print status in a structured format: json or yaml")
	return cmd
}

// siteFields is the site status, as in the reference ("-" for no message).
func siteFields(v view) [][2]string {
	site := v.obj.(*v2alpha1.Site)
	st := v.status()
	msg := st.Message
	if msg == "" {
		msg = "-"
	}
	return [][2]string{
		{"Name", site.Name},
		{"Status", orNone(string(st.StatusType))},
		{"Message", msg},
	}
}

// siteGenerate builds "skupper site generate".
func (a *app) siteGenerate() *cobra.Command {
	f := &siteFlags{}
	var output string
	cmd := &cobra.Command{
		Use:   "generate <name>",
		Short: "Generate a Site resource",
		Long:  `Print a Site resource (YAML or JSON) without writing anything.`,
		Example: `  # Generate a Site resource and print it to the console
  skupper site generate west --enable-link-access

  # Generate a Site resource and direct the output to a file
  skupper site generate east > east.yaml`,
		Args: positional("skupper site generate <name> [options]", []string{"<name>"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, false); err != nil {
				return err
			}
			site, err := newSite(cmd, args[0], f)
			if err != nil {
				return err
			}
			return a.generate(site, output)
		},
	}
	f.register(cmd)
	outputFlag(cmd, &output, "yaml", "the output format: json or yaml")
	return cmd
}
