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
loaded).

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

// installedDriverVersion asks modinfo for the aoe module's version.
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
		return "(unknown)"
	}
	return strings.Fields(v)[0]
}

// runningDriverVersion reads SYSFS/module/aoe/version: "(none)" without
// the driver, "" when the directory has no version file (as aoetools).
func (o *versionOptions) runningDriverVersion(cmd *cobra.Command) string {
	dir := strings.TrimRight(o.sysfsDir(cmd), "/") + "/module/aoe"
	if _, err := os.Stat(dir); err != nil {
		return "(none)"
	}
	b, err := sysfs.ReadAttr(dir + "/version")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func runVersion(cmd *cobra.Command, o *versionOptions) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	tool := o.env.Version
	if tool == "" {
		tool = "devel"
	}
	installed, running := installedDriverVersion(o.env), o.runningDriverVersion(cmd)
	switch {
	case o.classic:
		for _, l := range [][2]string{{"aoetools", "goaoe " + tool}, {"installed aoe driver", installed}, {"running aoe driver", running}} {
			fmt.Fprintf(o.stdout(), "%22s:\t%s\n", l[0], l[1])
		}
	case o.json:
		return writeJSON(o.stdout(), map[string]string{"aoe": tool, "installed_driver": installed, "running_driver": running})
	default:
		fmt.Fprintf(o.stdout(), "aoe:                   %s\ninstalled aoe driver:  %s\nrunning aoe driver:    %s\n", tool, installed, running)
	}
	return nil
}
