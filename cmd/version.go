package cmd

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

type versionOptions struct {
	*globalOptions
	json bool
}

func newVersionCmd(g *globalOptions) *cobra.Command {
	o := &versionOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the tool's and the aoe driver's versions",
		Long: `Show three versions: this tool's; the installed aoe driver's, from
'modinfo aoe' ((unknown) when modinfo cannot tell); and the running
driver's, from SYSFS/module/aoe/version ((none) when the driver is not
loaded). In --json a version nobody can tell is null, and driver_loaded
says whether the driver is loaded (the schema: docs/json.md).

Under the name aoe-version the layout is aoetools': three lines of
printf "%22s:\t%s\n". Its first line, "aoetools", gives this tool's
version ("goaoe VERSION") where aoetools printed 36.` + exitCodesHelp,
		Example: `  aoe version
  aoe version --json`,
		Args: argsCheck(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd, o)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

// installedDriverVersion asks modinfo for the aoe module's version: ""
// when modinfo cannot tell.
func installedDriverVersion(env *Env) string {
	modinfo := env.Modinfo
	if modinfo == nil {
		modinfo = func(module string) (string, error) {
			out, err := exec.Command("modinfo", "-F", "version", module).Output()
			return string(out), err
		}
	}
	out, err := modinfo("aoe")
	v := strings.TrimSpace(out)
	if err != nil || v == "" {
		return ""
	}
	return strings.Fields(v)[0]
}

// runningDriverVersion reads SYSFS/module/aoe/version: loaded is false
// without the driver; v is "" when the directory has no version file.
func (o *globalOptions) runningDriverVersion(cmd *cobra.Command) (v string, loaded bool) {
	dir := strings.TrimRight(o.sysfsDir(cmd), "/") + "/module/aoe"
	if _, err := os.Stat(dir); err != nil {
		return "", false
	}
	b, err := sysfs.ReadAttr(dir + "/version")
	if err != nil {
		return "", true
	}
	return strings.TrimSpace(string(b)), true
}

// versionJSON is `aoe version --json` (docs/json.md): a version nobody can
// tell is null.
type versionJSON struct {
	Tool            string  `json:"aoe"`
	InstalledDriver *string `json:"installed_driver"`
	RunningDriver   *string `json:"running_driver"`
	DriverLoaded    bool    `json:"driver_loaded"`
}

// nullIfEmpty is nil for "", else a pointer to s.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// versions are the three versions aoe version shows.
type versions struct {
	tool, installed, running string
	loaded                   bool // the driver is loaded
}

// readVersions finds the tool's and the driver's versions ("" where
// nobody can tell).
func readVersions(cmd *cobra.Command, g *globalOptions) versions {
	v := versions{tool: g.env.Version, installed: installedDriverVersion(g.env)}
	if v.tool == "" {
		v.tool = "devel"
	}
	v.running, v.loaded = g.runningDriverVersion(cmd)
	return v
}

// words returns the driver's versions in aoetools' words: (unknown) when
// modinfo cannot tell, (none) without the driver, "" without a version
// file.
func (v versions) words() (installed, running string) {
	installed, running = v.installed, v.running
	if installed == "" {
		installed = "(unknown)"
	}
	if !v.loaded {
		running = "(none)"
	}
	return installed, running
}

func runVersion(cmd *cobra.Command, o *versionOptions) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	v := readVersions(cmd, o.globalOptions)
	if o.json {
		return writeJSON(o.stdout(), versionJSON{Tool: v.tool, InstalledDriver: nullIfEmpty(v.installed), RunningDriver: nullIfEmpty(v.running), DriverLoaded: v.loaded})
	}
	installed, running := v.words()
	fmt.Fprintf(o.stdout(), "aoe:                   %s\ninstalled aoe driver:  %s\nrunning aoe driver:    %s\n", v.tool, installed, running)
	return nil
}
