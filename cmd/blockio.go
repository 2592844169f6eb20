package cmd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/blockio"
	"github.com/goaoe/aoe/internal/inuse"
	"github.com/goaoe/aoe/internal/units"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

// diskOptions are the flags of the commands that move data (read, write,
// bench, nbd).
type diskOptions struct {
	*globalOptions
	ifaces   []string
	timeout  time.Duration
	deadline time.Duration
	progress bool
	force    bool
	reserve  bool
	// target is --target MAC: only that MAC's paths (nil: all).
	target macFlag
	// inUse returns a *inuse.Error when the local driver's device is
	// in use; it defaults to the flush command's check (inuse.Check).
	inUse func(cmd *cobra.Command, dev string) error
}

func (o *diskOptions) addFlags(cmd *cobra.Command, write bool) {
	f := cmd.Flags()
	f.StringSliceVarP(&o.ifaces, "interface", "i", nil, "interfaces to use (comma separated or repeated)")
	f.DurationVar(&o.timeout, "timeout", 3*time.Second, "how long to wait for the target to answer the Query Config")
	f.DurationVar(&o.deadline, "deadline", 60*time.Second, "how long a request may go unanswered on every path before the I/O fails (the driver's aoe_deadsecs)")
	f.StringVar(&o.receive, "receive", "socket", "how replies are read: socket (recvmmsg), ring (a receive ring shared with the kernel), or auto (the ring when the kernel gives one, else the socket)")
	if write {
		f.BoolVar(&o.force, "force", false, "write even when the device is in use on this host or reserved for other hosts")
		f.BoolVar(&o.reserve, "reserve", false, "reserve the target for this host while writing, and release it after")
	}
	if o.inUse == nil {
		o.inUse = o.driverInUse
	}
}

// targetHelp is the help of --target, for the commands that have it.
const targetHelp = `

All paths that answer for DEV must lead to one disk: when different disks
answer for one address (two targets configured alike, an impostor), the
command refuses (exit 1), names their MACs and what differs; --target MAC
then uses only the paths to that MAC.`

// addTargetFlag adds --target MAC: use only the paths to that MAC, the one
// disk to use when several answer for the address.
func (o *diskOptions) addTargetFlag(cmd *cobra.Command) {
	cmd.Flags().Var(&o.target, "target", "use only the target at this MAC (when several disks answer for DEV)")
}

// macFlag is a flag holding one unicast MAC address.
type macFlag struct{ mac net.HardwareAddr }

func (f *macFlag) String() string {
	if f.mac == nil {
		return ""
	}
	return f.mac.String()
}

// Set parses the MAC (aa:bb:cc:dd:ee:ff or aabbccddeeff).
func (f *macFlag) Set(v string) error {
	m, err := discover.ParseMAC(v)
	if err != nil || m.Self {
		return fmt.Errorf("%q: not a MAC address (aa:bb:cc:dd:ee:ff)", v)
	}
	if m.Addr[0]&1 != 0 {
		return fmt.Errorf("%q: a group (broadcast or multicast) address, not a target's", v)
	}
	f.mac = m.Addr
	return nil
}

// Type names the flag type in help.
func (f *macFlag) Type() string { return "MAC" }

// driverInUse is flush's in-use check of the kernel driver's device dev
// (open, mounted, held); nil when the driver does not have it.
func (o *diskOptions) driverInUse(cmd *cobra.Command, dev string) error {
	h := o.host(cmd)
	fs, err := sysfs.NewFS(h.Sys)
	if err != nil {
		return nil
	}
	d, err := fs.Device(dev)
	if err != nil {
		return nil
	}
	return inuse.Check(h, d)
}

// open finds dev on the wire and opens it over all its paths; close
// closes the disk and the clients.
func (o *diskOptions) open(cmd *cobra.Command, dev string) (t *blockio.Target, closeAll func() error, err error) {
	a, err := addressArg(dev)
	if err != nil {
		return nil, nil, err
	}
	switch o.receive {
	case "auto", "ring", "socket":
	default:
		return nil, nil, usageErrorf("--receive %q: auto, ring or socket", o.receive)
	}
	if o.env.DataProcs != nil {
		o.env.DataProcs()
	}
	g, err := o.openGroup(cmd, o.ifaces)
	if err != nil {
		return nil, nil, err
	}
	t, err = blockio.Open(cmd.Context(), g, a.Shelf, a.Slot, blockio.OpenOptions{Timeout: o.timeout, Target: o.target.mac, Disk: initiator.DiskOptions{Deadline: o.deadline}})
	if err != nil {
		g.Close()
		return nil, nil, diskError(err)
	}
	if msg := clampNotice(dev, t.Identity()); msg != "" {
		o.warnf("%s", msg)
	}
	var once sync.Once
	return t, func() error {
		once.Do(func() {
			err = diskError(t.Close())
			g.Close()
		})
		return err
	}, nil
}

// guard checks that writing to t is allowed, and takes the reservation
// with --reserve; release undoes it.
func (o *diskOptions) guard(cmd *cobra.Command, t *blockio.Target) (release func() error, err error) {
	g := blockio.WriteGuard{Force: o.force, InUse: func(dev string) error { return o.inUse(cmd, dev) }}
	if err := g.CheckWrite(cmd.Context(), t); err != nil {
		return nil, err
	}
	if !o.reserve {
		return func() error { return nil }, nil
	}
	return blockio.Reserve(cmd.Context(), t)
}

// diskError gives the data path's errors their exit codes (the rule is in
// exit.go): an offset or length outside the disk is a usage error (2); a
// request no path answered before --deadline a timeout (5); anything else
// (the disk failed, a bad reply, a conflict) a failure (1).
func diskError(err error) error {
	var ce *initiator.ConflictError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return conflictError{ce}
	case errors.Is(err, blockio.ErrOutOfRange):
		return usageErrorf("%v", err)
	}
	return err
}

// stderrTerminal reports whether stderr is a terminal (Env.StderrTerminal).
func (o *diskOptions) stderrTerminal() bool {
	return o.env.StderrTerminal != nil && o.env.StderrTerminal()
}

// showProgress reports whether progress goes to stderr: when it is a
// terminal, or when --progress forces it.
func (o *diskOptions) showProgress() bool {
	return o.progress || o.stderrTerminal()
}

// newProgress returns the progress of a copy of total bytes on stderr (nil
// when not shown): an in-place line on a terminal, plain lines elsewhere.
func (o *diskOptions) newProgress(label string, total int64) *blockio.Progress {
	if !o.showProgress() {
		return nil
	}
	return blockio.NewProgress(o.stderr(), label, total, o.stderrTerminal())
}

// conflictError is the one message of every data command (read, write,
// bench, nbd) for different disks answering for one address: what differs,
// between which MACs, and how to choose (exit 1; errors.As *ConflictError).
type conflictError struct{ *initiator.ConflictError }

func (e conflictError) Error() string {
	c := e.ConflictError
	a, b := c.Answers[c.First], c.Answers[c.Other]
	var macs []string
	for _, p := range c.Answers {
		if m := p.MAC.String(); !slices.Contains(macs, m) {
			macs = append(macs, m)
		}
	}
	return fmt.Sprintf("%s: different disks answer for this address, their data is not mixed: %s (%s on %s, %s on %s); the MACs that answered: %s; choose one with --target MAC",
		c.Device, strings.Join(c.Differs, ", "), a.MAC, a.Interface, b.MAC, b.Interface, strings.Join(macs, ", "))
}

func (e conflictError) Unwrap() error { return e.ConflictError }

// clampNotice says, when the disk claims more sectors than its addressing
// mode reaches, what is used instead; "" when the claim stands. The one
// place read, write, bench and nbd say it (once, when the disk opens).
func clampNotice(dev string, id wire.Identity) string {
	n, clamped := id.Capacity()
	if !clamped {
		return ""
	}
	mode := "without LBA48"
	if id.LBA48 {
		mode = "with LBA48"
	}
	return fmt.Sprintf("%s claims %d sectors; %s only %d are addressable: using %s", dev, id.Sectors(), mode, n, units.ExactIEC(n*wire.SectorSize))
}

// checkRange refuses an --offset, or length bytes from it (what, e.g.
// "--length"), outside dev's size bytes: the user's mistake, a usage error
// (exit 2), said before any I/O. Overflow-safe for any int64.
func checkRange(dev string, size, off, length int64, what string) error {
	switch {
	case off > size:
		return usageErrorf("--offset %d is past the end of %s (%d bytes)", off, dev, size)
	case length > size-off:
		return usageErrorf("%s %d at --offset %d passes the end of %s (%d bytes): at most %d bytes from there", what, length, off, dev, size, size-off)
	}
	return blockio.CheckRange(size, off, length)
}

// dataProcs runs the process's goroutines on one processor
// (runtime.GOMAXPROCS(1)) unless the GOMAXPROCS environment variable says
// otherwise. A disk's data path is one event loop (the engine) and the
// goroutines that hand it requests: with more processors, each time the
// engine waits for replies and the runtime's poller wakes it, the
// scheduler also wakes an idle processor's thread to look for work (a
// futex wake, a spin, a futex sleep), which finds none: no work moves to
// that CPU, and the wake-ups cost more than they could give. Measured, aoe
// read e1.2 --length 1G from vblade in namespaces (three rounds
// alternated): MTU 1500 6.94-8.16 s with the default (2 CPUs) against
// 5.35-5.75 s on one; MTU 9000 1.72-1.99 against 1.43-1.85 s. In a
// 2-vCPU guest under TCG (128 MiB, MTU 1500): 11.7-13.1 s against
// 8.8-10.7 s, 3,955 futex calls per 16 MiB against 89. The NBD server
// (BenchmarkNBDVblade, two rounds): 4 KiB requests 166-193 MB/s with
// two processors, 184-202 with one, 256 KiB 496-608 against 574-715, CPU
// per request lower; in the guest, dd from /dev/nbd0 the same (9.2-11.7
// s against 9.7-11.3).
func dataProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}
