package cmd

import (
	"errors"
	"strings"
	"time"

	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

type discoverOptions struct {
	*globalOptions
	wait    []string
	timeout time.Duration
	probe   bool
	ifaces  []string
	json    bool
	// poll and rediscover are the intervals of --wait: how often sysfs is
	// read, and how often discovery is asked for again.
	poll       time.Duration
	rediscover time.Duration
}

func newDiscoverCmd(g *globalOptions) *cobra.Command {
	o := &discoverOptions{globalOptions: g, poll: 250 * time.Millisecond, rediscover: 5 * time.Second}
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "Ask the aoe driver to look for AoE targets",
		Long: `Ask the kernel's aoe driver to broadcast an AoE Query Config on every allowed
interface (see 'aoe interfaces'), by writing to DEVDIR/discover. Targets
that answer appear as /dev/etherd/eX.Y once the driver has identified them.
The driver also does this by itself every 60 seconds.

--probe finds targets on the wire instead, from userspace, whether or not
the aoe driver is loaded (it needs root or CAP_NET_RAW, and never disturbs
the driver: its tags have bit 31 set, which the driver ignores). It
broadcasts a Query Config on each interface (-i; default: the driver's
aoe_iflist when set, else every up Ethernet interface), several times so that
a lost frame loses no target, asks every responder for its ATA IDENTIFY data
(32 at a time), and ends once no new target has answered for 300ms (a
slower target may be missing); a given --timeout is waited out, so that
every target that answers within it is listed. It prints one
row per shelf.slot: size, number of paths (target MAC and local interface),
interfaces, buffer count, firmware, payload (data bytes per frame on the
interface's MTU), config string, and a state: ok, CONFLICT when different
disks answer for one address (a misconfiguration: two targets claim it),
unverified when a path answered no IDENTIFY (its disk is unknown: anything
on the segment can answer for any address). Several MACs of one disk is
multipath, not a conflict. A capacity beyond LBA48 is shown INVALID (JSON:
the sectors claimed, capacity_invalid). Untrusted text is escaped (\x1b).
On a terminal the table fits its width ($COLUMNS if set): BUFCNT,
FIRMWARE, PAYLOAD, PATHS, IFACES, CONFIG and SIZE are left out in that
order until it does, and a last line names them. --json prints every
field, each path included (the schema: docs/json.md). At most 4096 paths
are kept: when more answer, or when replies were lost in a full receive
buffer, the list is printed, stderr says why it is incomplete, and the
exit status is 1. It exits 0 when targets answered, 1 when none did.

--wait DEV[,DEV...] blocks until each named device is in sysfs with
state up, asking for discovery again every 5 seconds, for boot scripts that
must not mount before the disk is there. It exits 0 when all are up, and 5
naming the missing ones when --timeout runs out (--timeout goes with --wait
or --probe only). A device that is down,closewait (held open while its
target was away) comes back only on revalidate, which the driver's
discovery never does: after each discovery --wait writes revalidate for it
and keeps waiting; if it times out, it says that 'aoe revalidate DEV' may be
needed. Names are canonical: e1.2, not e01.2.

Under the name aoe-discover it is aoetools' aoe-discover: arguments and
flags are ignored, and its messages and exit status (1 on any error) are
kept.` + exitCodesHelp,
		Example: `  aoe discover
  aoe discover --probe
  aoe discover --probe -i eth2,eth3 --json
  aoe discover --wait e1.2,e1.3 --timeout 60s && mount /dev/etherd/e1.2p1 /srv`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("discover takes no device names; to wait for devices use --wait %s", strings.Join(args, ","))
			}
			return runDiscover(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.wait, "wait", nil, "wait until these devices (eX.Y, comma separated or repeated) are up")
	f.DurationVar(&o.timeout, "timeout", 0, "how long --wait waits (default 30s); with --probe, the longest a probe takes (default 5s)")
	f.BoolVar(&o.probe, "probe", false, "find targets on the wire from userspace, without the aoe driver")
	f.StringSliceVarP(&o.ifaces, "interface", "i", nil, "with --probe: interfaces to probe (comma separated or repeated)")
	f.BoolVar(&o.json, "json", false, "with --probe: print JSON")
	return cmd
}

func runDiscover(cmd *cobra.Command, o *discoverOptions) error {
	if err := o.checkRootFlags(cmd); err != nil {
		return err
	}
	if o.probe {
		return runProbe(cmd, o)
	}
	if err := o.checkDriverFlags(cmd); err != nil {
		return err
	}
	if len(o.wait) > 0 {
		if _, err := o.openFS(cmd); err != nil {
			return err
		}
	}
	if err := o.checkNode(cmd, sysfs.NodeDiscover); err != nil {
		return err
	}
	if err := o.control().Write(sysfs.NodeDiscover, []byte("\n")); err != nil {
		return o.nodeError(cmd, err)
	}
	if len(o.wait) == 0 {
		return nil
	}
	err := aoectl.Wait{Control: o.control(), Discovered: true,
		Timeout: o.timeout, Poll: o.poll, Rediscover: o.rediscover,
	}.Up(cmd.Context(), o.host(cmd).Sys, o.wait)
	// An *aoectl.TimeoutError is returned as it is: exit 5 (exitCode).
	var ne *aoectl.NodeError
	if errors.As(err, &ne) {
		return o.nodeError(cmd, err)
	}
	return err
}

// defaultWaitTimeout is how long --wait waits without --timeout.
const defaultWaitTimeout = 30 * time.Second

// checkDriverFlags checks the flags of the driver side (without --probe).
func (o *discoverOptions) checkDriverFlags(cmd *cobra.Command) error {
	if len(o.ifaces) > 0 || o.json {
		return usageErrorf("-i and --json go with --probe")
	}
	if cmd.Flags().Changed("wait") && len(o.wait) == 0 {
		return usageErrorf("--wait needs device names (eSHELF.SLOT, comma separated)")
	}
	if err := checkDeviceArgs("--wait: ", o.wait); err != nil {
		return err
	}
	if cmd.Flags().Changed("timeout") && len(o.wait) == 0 {
		return usageErrorf("--timeout goes with --wait or --probe")
	}
	if !cmd.Flags().Changed("timeout") {
		o.timeout = defaultWaitTimeout
	}
	if len(o.wait) > 0 && o.timeout <= 0 {
		return usageErrorf("--timeout must be positive")
	}
	return nil
}
