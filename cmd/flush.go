package cmd

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type flushOptions struct {
	*globalOptions
	all   bool
	force bool
}

func newFlushCmd(g *globalOptions) *cobra.Command {
	o := &flushOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "flush [-a|--all] [--force] [DEV...]",
		Short: "Make the aoe driver forget devices",
		Long: `Make the aoe driver forget devices (they come back at the next discovery if
their targets still answer):

    aoe flush          every device that is down and not open
    aoe flush -a       every device that is not open, up or down
    aoe flush DEV...   exactly the named devices (eSHELF.SLOT)

The driver removes a named device even while it is up, open or mounted, and
pending I/O to it fails; after that, closing the device can hang the kernel.
So a named device that is in use is refused: state closewait (held open while
down), a holder (device-mapper, md) on it or a partition, a mount of it or of
a partition, a process that has it open (found in /proc/PID/fd, as fuser
does), or an exclusive open (mount or swap, also in another mount
namespace, seen by opening DEVDIR/eX.Y with O_EXCL). --force flushes it
anyway.

The driver compares a written name only as far as it is written, so
aoetools' "aoe-flush e1.1" also removed e1.10 and e1.11, even while they were
up. Each name is written with a terminating NUL byte, which makes the
comparison exact on every driver version.

Under the name aoe-flush it is aoetools' aoe-flush, with its messages (an
unknown device is reported on stdout) and exit status (1 on any error);
fixed: exact names, the in-use check, and -a followed by names is an error
instead of flushing everything.` + exitCodesHelp,
		Example: `  aoe flush
  aoe flush -a
  aoe flush e1.1 e7.0`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFlush(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "flush every device that is not open")
	f.BoolVar(&o.force, "force", false, "flush named devices even when they are in use")
	return cmd
}

func runFlush(cmd *cobra.Command, o *flushOptions, args []string) error {
	if o.all && len(args) > 0 {
		if o.classic {
			fmt.Fprintf(o.stderr(), "%s Error: -a takes no device names\n", o.prog)
			return silentExit(ExitFailure)
		}
		return usageErrorf("-a flushes every unused device; it takes no device names")
	}
	if o.force && len(args) == 0 {
		if o.classic {
			fmt.Fprintf(o.stderr(), "%s Error: --force is for named devices\n", o.prog)
			return silentExit(ExitFailure)
		}
		return usageErrorf("--force is for named devices")
	}
	if !o.classic {
		for _, a := range args {
			if _, _, err := sysfs.ParseName(a); err != nil {
				return usageErrorf("%v", err)
			}
		}
	}
	if err := o.checkNode(cmd, sysfs.NodeFlush, true); err != nil {
		return err
	}
	switch {
	case o.all:
		return o.write(cmd, []byte("all"))
	case len(args) == 0:
		return o.write(cmd, []byte("\n"))
	}

	fs, fserr := sysfs.NewFS(o.sysfsDir(cmd))
	devs := make([]sysfs.Device, 0, len(args))
	var problems []string
	for _, a := range args {
		var d sysfs.Device
		err := fserr
		if err == nil {
			d, err = fs.Device(a)
		}
		if err != nil {
			if o.classic {
				// aoetools prints this on stdout.
				fmt.Fprintf(o.stdout(), "%s Error: \"%s\" is not an aoe device\n", o.prog, a)
			} else {
				problems = append(problems, a+" is not an AoE device (see 'aoe stat')")
			}
			continue
		}
		devs = append(devs, d)
	}
	if len(devs) != len(args) {
		if o.classic {
			return silentExit(ExitFailure)
		}
		return errors.New(strings.Join(problems, "; ") + "; nothing flushed")
	}
	if !o.force {
		mounts := readMounts(o.env.MountInfo)
		busy := false
		for _, d := range devs {
			why := o.inUse(d, mounts)
			if why == "" {
				continue
			}
			busy = true
			msg := fmt.Sprintf("%s is in use (%s)", d.Name, why)
			if o.classic {
				fmt.Fprintf(o.stdout(), "%s Error: %s; not flushed\n", o.prog, msg)
			} else {
				o.warnf("%s", msg)
			}
		}
		if busy {
			if o.classic {
				fmt.Fprintf(o.stdout(), "%s: release the devices first, or use --force (their pending I/O then fails)\n", o.prog)
				return silentExit(ExitFailure)
			}
			return errors.New("nothing flushed: release the devices first, or use --force (their pending I/O then fails)")
		}
	}
	failed := false
	for _, d := range devs {
		// The NUL makes the driver's comparison exact: "e1.1\0" does not
		// match "e1.10".
		if err := o.control().Write(sysfs.NodeFlush, []byte(d.Name+"\x00")); err != nil {
			var ne *sysfs.NodeError
			if errors.As(err, &ne) {
				return o.nodeError(cmd, err, true)
			}
			failed = true
			if o.classic {
				fmt.Fprintf(o.stderr(), "%s: flush failed\n", o.prog)
			} else {
				o.warnf("flush %s: %v", d.Name, err)
			}
		}
	}
	if failed {
		if o.classic {
			return silentExit(ExitFailure)
		}
		return errors.New("flush failed")
	}
	return nil
}

func (o *flushOptions) write(cmd *cobra.Command, data []byte) error {
	if err := o.control().Write(sysfs.NodeFlush, data); err != nil {
		var ne *sysfs.NodeError
		if errors.As(err, &ne) {
			return o.nodeError(cmd, err, true)
		}
		if o.classic {
			fmt.Fprintf(o.stderr(), "%s: flush failed\n", o.prog)
			return silentExit(ExitFailure)
		}
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// inUse says why a device must not be flushed, or "" when nothing holds it.
func (o *flushOptions) inUse(d sysfs.Device, mounts map[string]string) string {
	if d.Open() {
		return "held open while down: state " + orNA(d.State)
	}
	if len(d.Holders) > 0 {
		return "held by " + strings.Join(d.Holders, ", ")
	}
	for _, num := range d.DevNumbers() {
		if mp, ok := mounts[num]; ok {
			return "mounted on " + mp
		}
	}
	node := strings.TrimRight(o.devDir, "/") + "/" + d.Name
	if busyExclusive(node, d) {
		return node + " is open exclusively (mounted or swap)"
	}
	if procs := openers(o.env.ProcRoot, d.DevNumbers()); len(procs) > 0 {
		return "open by " + strings.Join(procs, ", ")
	}
	return ""
}

// openers lists the processes ("pid 812 (dd)") that have a block device
// with one of the "major:minor" numbers open, from procRoot/PID/fd, as
// fuser does. The driver does not show an up device's open count.
func openers(procRoot string, devs []string) []string {
	if procRoot == "" || len(devs) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, d := range devs {
		want[d] = true
	}
	pids, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	self := strconv.Itoa(os.Getpid())
	var out []string
	for _, p := range pids {
		pid := p.Name()
		if pid == self || pid[0] < '0' || pid[0] > '9' {
			continue
		}
		fds, err := os.ReadDir(filepath.Join(procRoot, pid, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			var st unix.Stat_t
			if unix.Stat(filepath.Join(procRoot, pid, "fd", fd.Name()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
				continue
			}
			rdev := uint64(st.Rdev)
			if want[fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev))] {
				comm, _ := os.ReadFile(filepath.Join(procRoot, pid, "comm"))
				out = append(out, fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(string(comm))))
				break
			}
		}
	}
	return out
}

// busyExclusive reports whether node, the device's block node, cannot be
// opened with O_EXCL because a mount, swap or holder has it.
func busyExclusive(node string, d sysfs.Device) bool {
	var st unix.Stat_t
	if err := unix.Stat(node, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return false
	}
	if d.Dev == nil || fmt.Sprintf("%d:%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev))) != strings.TrimSpace(*d.Dev) {
		return false
	}
	if !d.Up() {
		return false // opening a down device fails anyway
	}
	fd, err := unix.Open(node, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return errors.Is(err, unix.EBUSY)
	}
	unix.Close(fd)
	return false
}

// readMounts maps "major:minor" to a mount point from a mountinfo file. A
// missing or unreadable file gives an empty map.
func readMounts(path string) map[string]string {
	m := map[string]string{}
	if path == "" {
		return m
	}
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		if _, ok := m[fields[2]]; !ok {
			m[fields[2]] = fields[4]
		}
	}
	return m
}
