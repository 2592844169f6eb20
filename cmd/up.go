package cmd

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/internal/boot"
	"github.com/goaoe/aoe/internal/doctor"
	"github.com/goaoe/aoe/internal/logline"
	"github.com/spf13/cobra"
)

type upOptions struct {
	*globalOptions
	files   boot.Files
	timeout time.Duration
	check   bool
	print   string
}

func newUpCmd(g *globalOptions) *cobra.Command {
	o := &upOptions{globalOptions: g, files: boot.DefaultFiles()}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Bring AoE storage up as /etc/aoe/aoe.conf says (boot)",
		Long: `Bring up the AoE disks of /etc/aoe/aoe.conf, for aoe.service and boot
scripts. With AOE_BOOT=yes it loads the aoe driver restricted to
AOE_INTERFACES (modprobe aoe aoe_iflist=...), or restricts the loaded driver
to them, asks it to discover targets, and waits until every device of
AOE_WAIT, and every /dev/etherd device that /etc/fstab mounts (AOE_FSTAB),
is up with its partitions and block device nodes, asking for discovery
again every 5 seconds. It fails after AOE_TIMEOUT (default 60s) naming what
is missing. Without AOE_BOOT=yes it does nothing: the driver is not loaded
and no frame is sent. Running it again is harmless.

While aoe.conf does not set AOE_BOOT, the INTERFACES ('none' is off; blank
is every interface) and AOEMOUNTS of aoetools' /etc/default/aoetools are
honoured (aoe.conf's other keys still apply); LVMGROUPS and RAID_ARRAYS are
ignored with a message, since LVM and md activate volumes on AoE disks
through their own udev rules.

--check parses the configuration, prints what 'aoe up' would do, and exits.

--print KEY prints the effective value of one key, as 'aoe up' reads it
(aoe.conf, then aoetools' file and fstab as above), for scripts such as the
initramfs hook: yes or no for AOE_BOOT, AOE_FSTAB and AOE_INITRAMFS; names
separated by one space for AOE_INTERFACES ("all" for every interface, empty
when none is configured) and AOE_WAIT (with the fstab's devices); whole
seconds for AOE_TIMEOUT (--timeout applied). It prints nothing else, and
exits 1 naming the file and line when the configuration is invalid (2
without --print), 2 for an unknown key.

aoe.conf is KEY=VALUE lines with shell-like quoting and no expansion; an
error names the file and line. Keys: AOE_BOOT (yes/no), AOE_INTERFACES
(names, or all), AOE_WAIT (eX.Y or eX.YpN), AOE_FSTAB (yes/no),
AOE_TIMEOUT (whole seconds, or 90s, 2m; from 1s to 1h), AOE_INITRAMFS
(yes/no). A NUL or control byte in a value is an error.` + exitCodesHelp,
		Example: `  aoe up --check
  aoe up && mount /srv
  aoe up --config /etc/aoe/test.conf --timeout 10s
  aoe up --print AOE_INTERFACES`,
		Args: argsCheck(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return runUp(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.files.Config, "config", o.files.Config, "the configuration file")
	f.StringVar(&o.files.Legacy, "legacy-config", o.files.Legacy, "aoetools' configuration file, honoured while the configuration does not set AOE_BOOT")
	f.StringVar(&o.files.Fstab, "fstab", o.files.Fstab, "the fstab whose /dev/etherd entries are waited for")
	f.DurationVar(&o.timeout, "timeout", 0, "how long to wait, from 1s to 1h (default: AOE_TIMEOUT)")
	f.BoolVar(&o.check, "check", false, "check the configuration and say what would be done")
	f.StringVar(&o.print, "print", "", "print the effective value of `KEY` (AOE_BOOT, AOE_INTERFACES, ...) and exit")
	_ = cmd.RegisterFlagCompletionFunc("print", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return boot.Keys, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func runUp(cmd *cobra.Command, o *upOptions) error {
	printing := cmd.Flags().Changed("print")
	if printing {
		if o.check {
			return usageErrorf("--print and --check cannot be combined")
		}
		if _, err := boot.Default().Value(o.print); err != nil {
			return usageErrorf("--print: %v", err)
		}
	}
	if cmd.Flags().Changed("timeout") && (o.timeout < boot.MinTimeout || o.timeout > boot.MaxTimeout) {
		return usageErrorf("--timeout must be from %v to %v, got %v", boot.MinTimeout, boot.MaxTimeout, o.timeout)
	}
	cfg, err := boot.Load(o.files)
	if err != nil {
		if errors.Is(err, boot.ErrSyntax) && !printing {
			return usageErrorf("%v", err)
		}
		// --print: 2 is kept for the question (an unknown key), so
		// that a script tells a bad configuration (1) from its own bug.
		return err
	}
	if o.timeout > 0 {
		cfg.Timeout = o.timeout
	}
	if printing {
		v, err := cfg.Value(o.print)
		if err != nil {
			return usageErrorf("--print: %v", err)
		}
		fmt.Fprintln(o.stdout(), v)
		return nil
	}
	for _, n := range cfg.Notes {
		o.warnf("%s", n)
	}
	if o.check {
		printUpPlan(o, cfg)
		ifs, err := o.interfaces()
		if err != nil {
			return err
		}
		for _, f := range doctor.CheckBoot(o.sysfsDir(cmd), o.devDir, ifs, cfg, o.files.Resolve) {
			fmt.Fprintf(o.stdout(), "doctor: %s\n", f)
		}
		return nil
	}
	env := boot.DefaultEnv(o.sysfsDir(cmd), o.devDir, logline.New(func(s string) { o.warnf("%s", s) }))
	env.Control = o.control()
	res, err := boot.Up(cmd.Context(), env, cfg)
	switch {
	case errors.Is(err, aoectl.ErrTimeout):
		return err // exit 5 (exitCode)
	case errors.Is(err, boot.ErrNoDriver):
		return kindErrorf(ErrNoDriver, "%v", err)
	case errors.Is(err, boot.ErrNoInterface):
		key := boot.KeyInterfaces
		if cfg.Source == o.files.Legacy {
			key = "INTERFACES"
		}
		return fmt.Errorf("%w (%s in %s)", err, key, cfg.Source)
	case err != nil:
		return o.nodeError(cmd, err)
	}
	if res.Off {
		o.warnf("AoE boot discovery is off (set AOE_BOOT=yes and AOE_INTERFACES in %s)", o.files.Config)
		return nil
	}
	if len(res.Ready) > 0 {
		fmt.Fprintf(o.stdout(), "ready: %s\n", strings.Join(res.Ready, " "))
	}
	return nil
}

func printUpPlan(o *upOptions, cfg boot.Config) {
	w := o.stdout()
	src := cfg.Source
	if src == "" {
		src = "defaults"
	}
	fmt.Fprintf(w, "configuration: %s\n", src)
	if !cfg.Boot {
		fmt.Fprintln(w, "boot discovery: off (the driver is not loaded, nothing is sent)")
		return
	}
	ifaces := strings.Join(cfg.Interfaces, " ")
	if cfg.AllInterfaces {
		ifaces = "all"
	}
	fmt.Fprintf(w, "boot discovery: on\ninterfaces: %s\n", ifaces)
	fmt.Fprintf(w, "wait for: %s\ntimeout: %v\n", orNone(cfg.Wait), cfg.Timeout)
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "(nothing)"
	}
	return strings.Join(list, " ")
}

func newDownCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Forget the AoE devices that are not in use (shutdown)",
		Long: `Ask the aoe driver to forget every AoE device that is not in use, for
aoe.service at shutdown: the driver's "all" flush, which itself skips
devices that are open (mounted, held by device-mapper or md, or open by a
process). It prints the devices removed and those kept, and does nothing
when the driver is not loaded. The driver stays loaded.` + exitCodesHelp,
		Example: `  aoe down`,
		Args:    argsCheck(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := boot.DefaultEnv(g.sysfsDir(cmd), g.devDir, logline.New(func(s string) { g.warnf("%s", s) }))
			env.Control = g.control()
			res, err := boot.Down(cmd.Context(), env)
			if err != nil {
				return g.nodeError(cmd, err)
			}
			if len(res.Flushed) > 0 {
				fmt.Fprintf(g.stdout(), "flushed: %s\n", strings.Join(res.Flushed, " "))
			}
			if len(res.Kept) > 0 {
				fmt.Fprintf(g.stdout(), "in use, kept: %s\n", strings.Join(res.Kept, " "))
			}
			return nil
		},
	}
	return cmd
}
