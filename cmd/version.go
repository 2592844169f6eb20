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
	if g.classic {
		cmd.Args = cobra.ArbitraryArgs // aoetools ignores arguments
	} else {
		cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	}
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
func (o *versionOptions) runningDriverVersion(cmd *cobra.Command) (v string, loaded bool) {
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

func runVersion(cmd *cobra.Command, o *versionOptions) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	tool := o.env.Version
	if tool == "" {
		tool = "devel"
	}
	installed := installedDriverVersion(o.env)
	running, loaded := o.runningDriverVersion(cmd)
	if o.json {
		return writeJSON(o.stdout(), versionJSON{Tool: tool, InstalledDriver: nullIfEmpty(installed), RunningDriver: nullIfEmpty(running), DriverLoaded: loaded})
	}
	// The text keeps aoetools' words: (unknown) when modinfo cannot tell,
	// (none) without the driver, "" without a version file.
	if installed == "" {
		installed = "(unknown)"
	}
	if !loaded {
		running = "(none)"
	}
	switch {
	case o.classic:
		for _, l := range [][2]string{{"aoetools", "goaoe " + tool}, {"installed aoe driver", installed}, {"running aoe driver", running}} {
			fmt.Fprintf(o.stdout(), "%22s:\t%s\n", l[0], l[1])
		}
	default:
		fmt.Fprintf(o.stdout(), "aoe:                   %s\ninstalled aoe driver:  %s\nrunning aoe driver:    %s\n", tool, installed, running)
	}
	return nil
}
