// Package cmd holds the aoe command line: the `aoe` root command, its
// subcommands, and the classic aoetools names (aoe-stat, aoe-discover, ...)
// that the same binary answers to when it is invoked through a symlink.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/internal/units"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// Env is what a command run gets from its process: streams, environment, and
// the places it touches. Tests fill it with buffers and fixture paths.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (os.Getenv in production).
	Getenv func(string) string
	// Version is the tool's version string.
	Version string
	// Host holds the roots: Sys and Dev are the defaults of --sysfs and
	// --devdir (empty: /sys and /dev/etherd), Proc is where the mount table
	// and processes' open files are looked up before a flush (empty: not
	// looked up).
	Host sysfs.Host
	// Modinfo, when set, replaces running `modinfo -F version MODULE`.
	Modinfo func(module string) (string, error)
	// NodeWriter, when set, records control-node writes instead of
	// performing them (tests).
	NodeWriter func(path string, data []byte) error
	// Interfaces lists the network interfaces the wire commands may use
	// (default net.Interfaces).
	Interfaces func() ([]net.Interface, error)
	// OpenClient opens an AoE client on the named interface (default
	// initiator.NewClient, a raw socket; tests: a port of an
	// aoetest.Network).
	OpenClient func(name string) (*initiator.Client, error)
	// Now is the clock of the wire commands' times (default time.Now).
	Now func() time.Time
	// DataProcs, when set, is called by the data commands (read, write,
	// bench, nbd) before they open a disk: DefaultEnv's runs them on
	// one Go processor (dataProcs). Nil: left as they are (tests, which
	// run every command in one process).
	DataProcs func()
	// TermWidth returns the width of stdout in columns when it is a
	// terminal, and 0 when it is not (nil: never a terminal). Tables fit
	// it; output that is not to a terminal never depends on it.
	TermWidth func() int
	// StderrTerminal reports whether stderr is a terminal (nil: never).
	// Progress shows there by default, as an in-place line; forced with
	// --progress elsewhere, it prints plain lines.
	StderrTerminal func() bool
}

// DefaultEnv returns the environment of the running process.
func DefaultEnv(version string) *Env {
	return &Env{
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Getenv:    os.Getenv,
		Version:   version,
		Host:      sysfs.DefaultHost(),
		TermWidth: stdoutTermWidth(1),
		DataProcs: dataProcs,
		StderrTerminal: func() bool {
			_, err := unix.IoctlGetTermios(2, unix.TCGETS)
			return err == nil
		},
	}
}

// globalOptions are the flags every command has, plus how it was invoked.
type globalOptions struct {
	env *Env
	// prog is the name messages start with: "aoe-stat" under a classic
	// name, "aoe" otherwise.
	prog string
	// argv0 is the program name as invoked, which getopt's messages show.
	argv0 string

	sysfsRoot string
	devDir    string
	// receive is how the clients opened read their sockets
	// (initiator.Config.Receive): the data commands' --receive, else
	// "" (the default, auto).
	receive string
}

func (g *globalOptions) addFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	sys, dev := g.env.Host.Sys, g.env.Host.Dev
	if sys == "" {
		sys = sysfs.DefaultRoot
	}
	if dev == "" {
		dev = sysfs.DefaultDevDir
	}
	f.StringVar(&g.sysfsRoot, "sysfs", sys, "sysfs mount point (when not given: $sysfs_dir if set)")
	f.StringVar(&g.devDir, "devdir", dev, "directory of the aoe driver's control nodes")
}

// host returns the roots the command works on: the sysfs root and device
// directory given by the flags, and the environment's procfs.
func (g *globalOptions) host(cmd *cobra.Command) sysfs.Host {
	return sysfs.Host{Sys: g.sysfsDir(cmd), Dev: g.devDir, Proc: g.env.Host.Proc}
}

// sysfsDir returns the sysfs root: the --sysfs flag if given, else
// $sysfs_dir (which aoetools' aoe-stat honours), else /sys.
func (g *globalOptions) sysfsDir(cmd *cobra.Command) string {
	if f := cmd.Flags().Lookup("sysfs"); f != nil && f.Changed {
		return g.sysfsRoot
	}
	if v := g.env.Getenv("sysfs_dir"); v != "" {
		return v
	}
	return g.sysfsRoot
}

func (g *globalOptions) control() aoectl.Control {
	return aoectl.Control{Dir: g.devDir, Writer: g.env.NodeWriter}
}

func (g *globalOptions) stdout() io.Writer { return g.env.Stdout }
func (g *globalOptions) stderr() io.Writer { return g.env.Stderr }

// warnf prints a message on stderr, prefixed with the program name, with
// the program's symbols in ASCII under a locale that is not UTF-8.
func (g *globalOptions) warnf(format string, args ...any) {
	io.WriteString(g.env.Stderr, g.charset().Text(fmt.Sprintf(g.prog+": "+format+"\n", args...)))
}

// charset is what the user's locale lets the command print (see
// units.LocaleCharset): every renderer asks it before printing a symbol
// that is not ASCII.
func (g *globalOptions) charset() units.Charset { return units.LocaleCharset(g.env.Getenv) }

// subcommands are the commands of `aoe`, in the order help lists them.
var subcommands = []func(*globalOptions) *cobra.Command{
	newStatCmd,
	newDiscoverCmd,
	newInterfacesCmd,
	newRevalidateCmd,
	newFlushCmd,
	newPingCmd,
	newCfgCmd,
	newMaskCmd,
	newReserveCmd,
	newSancheckCmd,
	newReadCmd,
	newWriteCmd,
	newBenchCmd,
	newNBDCmd,
	newExporterCmd,
	newEventsCmd,
	newVersionCmd,
	newUpCmd, newDownCmd,
	newDoctorCmd,
}

// NewCommand builds the command tree for a process invoked as argv0: the
// `aoe` root, or, when the base name of argv0 is a classic aoetools name
// such as aoe-stat, that command alone acting as aoetools does.
func NewCommand(argv0 string, env *Env) *cobra.Command {
	base := filepath.Base(argv0)
	if newCmd, ok := classics[base]; ok {
		g := &globalOptions{env: env, prog: base, argv0: argv0}
		cmd := newCmd(g)
		if _, rest, ok := strings.Cut(cmd.Use, " "); ok {
			cmd.Use = base + " " + rest
		} else {
			cmd.Use = base
		}
		setCommon(cmd, env.Version)
		applyClassicHelp(cmd, base)
		g.addFlags(cmd)
		attachCompletions(cmd, g)
		return cmd
	}
	return NewRootCmd(env)
}

// NewRootCmd builds the `aoe` command with all its subcommands.
func NewRootCmd(env *Env) *cobra.Command {
	g := &globalOptions{env: env, prog: "aoe"}
	root := &cobra.Command{
		Use:   "aoe",
		Short: "Manage ATA over Ethernet (AoE) storage",
		Long: `aoe manages ATA over Ethernet (AoE) storage on Linux. With the kernel's aoe
driver it shows the disks the driver has found (/dev/etherd/eX.Y), asks it
to discover targets, restricts the network interfaces it uses, and makes it
revalidate or forget devices. On the wire, from userspace (root or
CAP_NET_RAW, no driver needed), it finds every target (discover --probe),
pings them, reads and sets their config strings, checks the SAN's paths and
MTUs, and edits targets' MAC mask and reserve lists.

It replaces aoetools: invoked through a symlink named aoe-stat, aoe-discover,
aoe-interfaces, aoe-revalidate, aoe-flush, aoe-version, aoe-sancheck,
aoeping or aoecfg, it behaves as that aoetools 36 command, with the same
output, messages and exit codes, except for the aoetools bugs that each
command's page lists as fixed.` + exitCodesTable,
		Example: `  sudo modprobe aoe
  aoe stat
  aoe discover --wait e1.2 --timeout 60s
  aoe stat --json '^e1[.]2$'`,
	}
	setCommon(root, env.Version)
	g.addFlags(root)
	root.PersistentPreRun = func(cmd *cobra.Command, args []string) {
		g.prog = cmd.CommandPath() // messages start with "aoe stat:" etc.
	}
	for _, newCmd := range subcommands {
		root.AddCommand(newCmd(g))
	}
	attachCompletions(root, g)
	return root
}

// exitCodesHelp ends every subcommand's page: the codes in two lines (the
// table is on aoe --help, under each classic name, and in every man
// page's EXIT STATUS, which cmd/gendocs makes from exitCodesTable).
const exitCodesHelp = `

Exit status: 0 success, 1 failure, 2 usage error, 3 aoe driver not loaded,
4 permission denied, 5 timed out, 130/143 interrupted (see aoe --help).` + notationHelp

// exitCodesTable documents the exit codes in full.
const exitCodesTable = `

Exit status:

    0  success
    1  failure, or nothing found to show
    2  bad flags or arguments
    3  the aoe driver is not loaded, or its control nodes are missing
    4  permission denied (run as root)
    5  timed out
  130  interrupted (SIGINT)
  143  terminated (SIGTERM)

Under a classic aoetools name the exit status is aoetools': 0 or 1
(aoe-stat: 2 for a bad regular expression or extra arguments), and 130 or
143 when a signal ends it, as the shell reports a script it ends.` + notationHelp

// notationHelp says what SYSFS and DEVDIR in the pages stand for.
const notationHelp = `

SYSFS is the sysfs root (--sysfs, else $sysfs_dir, else /sys) and DEVDIR the
directory of the driver's control nodes (--devdir, /dev/etherd).`

// ownFlagErrors is the annotation of a command that reports flag errors
// itself (the classic C tools, as getopt does).
const ownFlagErrors = "goaoe/own-flag-errors"

func setCommon(cmd *cobra.Command, version string) {
	// Flag help wrapped to 80 columns, as the rest of the page is.
	t := cmd.UsageTemplate()
	t = strings.ReplaceAll(t, ".LocalFlags.FlagUsages ", ".LocalFlags.FlagUsagesWrapped 80 ")
	t = strings.ReplaceAll(t, ".InheritedFlags.FlagUsages ", ".InheritedFlags.FlagUsagesWrapped 80 ")
	cmd.SetUsageTemplate(t)
	cmd.SilenceErrors = true
	cmd.SilenceUsage = true
	cmd.DisableAutoGenTag = true
	if version != "" {
		cmd.Version = version
	}
	if cmd.Annotations[ownFlagErrors] == "" {
		cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
			return usageErrorf("%v", err)
		})
	}
}

// Main runs the command line argv (argv[0] included) and returns the exit
// code. It prints errors; commands print everything else.
func Main(ctx context.Context, argv []string, env *Env) int {
	if len(argv) == 0 {
		argv = []string{"aoe"}
	}
	cmd := NewCommand(argv[0], env)
	cmd.SetArgs(argv[1:])
	cmd.SetOut(env.Stdout)
	cmd.SetErr(env.Stderr)
	ran, err := cmd.ExecuteContextC(ctx)
	if err != nil && ran == cmd && cmd.HasSubCommands() && !errors.Is(err, ErrUsage) {
		// The root runs nothing itself: its own errors are about the
		// command line (an unknown command).
		err = usageErrorf("%v", err)
	}
	if printable(err) {
		name := cmd.Name()
		if ran != nil {
			name = ran.CommandPath()
		}
		io.WriteString(env.Stderr, units.LocaleCharset(env.Getenv).Text(fmt.Sprintf("%s: %v\n", name, err)))
		if exitCode(err) == ExitUsage {
			fmt.Fprintf(env.Stderr, "Run '%s --help' for usage.\n", name)
		}
	}
	code := signalCode(ctx, exitCode(err))
	if cmd.Name() != "aoe" && code != ExitOK && code < ExitCanceled {
		// aoetools' exit codes: 1, except grep's 2 in aoe-stat.
		if !(cmd.Name() == "aoe-stat" && code == ExitUsage) {
			code = ExitFailure
		}
	}
	return code
}

// exactArgs and the like wrap cobra's validators so that their errors are
// usage errors (exit 2).
func argsCheck(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageErrorf("%v", err)
		}
		return nil
	}
}
