package cmd

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/sysfs"
	"github.com/spf13/cobra"
)

type pingOptions struct {
	*globalOptions
	ifaces   []string
	count    int
	interval time.Duration
	timeout  time.Duration
	identify bool
	hex      bool
	json     bool
}

func newPingCmd(g *globalOptions) *cobra.Command {
	if g.classic {
		return newAoepingCmd(g)
	}
	o := &pingOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "ping DEV",
		Short: "Check that an AoE target answers, and how fast",
		Long: `Send Query Config requests to an AoE target (eSHELF.SLOT) on the wire and
print one line per reply: the target MAC that answered, the interface, and
the round-trip time; then a summary: requests sent and answered, loss,
replies (several per request for a multipath target), and min/avg/max
round-trip time. It needs root or CAP_NET_RAW, not the aoe driver.

--identify then asks every path for ATA IDENTIFY data and decodes it: model,
serial, firmware, capacity (LBA28 and LBA48), and LBA48, FLUSH CACHE and
SMART support; --hex also dumps the 512 bytes. Interfaces: -i, else the
driver's aoe_iflist, else every up Ethernet interface. Exit 0 only if
replies came.

Under the name aoeping it is aoetools' aoeping (see 'aoeping -h').` + exitCodesHelp,
		Example: `  aoe ping e1.2
  aoe ping e1.2 -c 1 --identify
  aoe ping e1.2 -i eth2 -c 10 --interval 200ms --json`,
		Args: argsCheck(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPing(cmd, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.ifaces, "interface", "i", nil, "interfaces to use (comma separated or repeated)")
	f.IntVarP(&o.count, "count", "c", 4, "requests to send")
	f.DurationVar(&o.interval, "interval", time.Second, "time between requests")
	f.DurationVar(&o.timeout, "timeout", time.Second, "how long to wait for the replies to a request")
	f.BoolVar(&o.identify, "identify", false, "decode the ATA IDENTIFY data of every path")
	f.BoolVar(&o.hex, "hex", false, "with --identify: dump the 512 bytes")
	f.BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

// pingReply is one reply.
type pingReply struct {
	Seq       int     `json:"seq"`
	MAC       string  `json:"mac"`
	Interface string  `json:"interface"`
	RTTms     float64 `json:"rtt_ms"`
	client    *initiator.Client
	mac       []byte
}

// pingRound sends one Query Config to shelf.slot on every client and
// returns the replies that come within timeout; it returns early once every
// path in known has answered.
func pingRound(ctx context.Context, clients []*initiator.Client, shelf uint16, slot uint8, seq int, timeout time.Duration, known map[string]bool) ([]pingReply, error) {
	type in struct {
		f  *initiator.Frame
		c  *initiator.Client
		at time.Time
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	got := make(chan in, 64)
	start := time.Now()
	for _, c := range clients {
		ch, _, stop, err := c.Broadcast(&initiator.Frame{Shelf: shelf, Slot: slot, Command: initiator.CommandQueryConfig, Arg: &initiator.ConfigArg{}})
		if err != nil {
			return nil, err
		}
		defer stop()
		go func() {
			for {
				select {
				case f := <-ch:
					select {
					case got <- in{f, c, time.Now()}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var replies []pingReply
	seen := map[string]bool{}
	for {
		select {
		case r := <-got:
			key := r.c.Interface().Name + "/" + r.f.Source.String()
			if seen[key] {
				continue
			}
			seen[key] = true
			replies = append(replies, pingReply{Seq: seq, MAC: r.f.Source.String(), Interface: r.c.Interface().Name,
				RTTms: float64(r.at.Sub(start).Microseconds()) / 1000, client: r.c, mac: r.f.Source})
			if len(known) > 0 && len(seen) >= len(known) {
				all := true
				for k := range known {
					all = all && seen[k]
				}
				if all {
					return replies, nil
				}
			}
		case <-ctx.Done():
			return replies, nil
		}
	}
}

// pingSummary is the statistics of a ping.
type pingSummary struct {
	Device   string         `json:"device"`
	Sent     int            `json:"sent"`
	Answered int            `json:"answered"`
	Loss     float64        `json:"loss_percent"`
	Replies  []pingReply    `json:"replies"`
	MinMs    *float64       `json:"rtt_min_ms"`
	AvgMs    *float64       `json:"rtt_avg_ms"`
	MaxMs    *float64       `json:"rtt_max_ms"`
	Identify []identifyJSON `json:"identify,omitempty"`
}

func runPing(cmd *cobra.Command, o *pingOptions, dev string) error {
	shelf, slot, err := sysfs.ParseName(dev)
	if err != nil {
		return usageErrorf("%v", err)
	}
	if o.count < 1 || o.interval < 0 || o.timeout <= 0 {
		return usageErrorf("-c must be at least 1, --timeout positive")
	}
	if o.hex && !o.identify {
		return usageErrorf("--hex goes with --identify")
	}
	clients, names, err := o.openClients(cmd, o.ifaces)
	if err != nil {
		return err
	}
	defer closeClients(clients)
	ctx := cmd.Context()
	sum := pingSummary{Device: dev, Replies: []pingReply{}}
	known := map[string]bool{}
	paths := map[string]pingReply{}
	var order []string
	if !o.json {
		fmt.Fprintf(o.stdout(), "AOE PING %s on %s\n", dev, strings.Join(names, ", "))
	}
	for seq := 1; seq <= o.count; seq++ {
		start := time.Now()
		replies, err := pingRound(ctx, clients, uint16(shelf), uint8(slot), seq, o.timeout, known)
		if err != nil {
			return err
		}
		sum.Sent++
		if len(replies) > 0 {
			sum.Answered++
		}
		for _, r := range replies {
			key := r.Interface + "/" + r.MAC
			known[key] = true
			if _, ok := paths[key]; !ok {
				paths[key] = r
				order = append(order, key)
			}
			sum.Replies = append(sum.Replies, r)
			if !o.json {
				fmt.Fprintf(o.stdout(), "reply from %s (%s) on %s: seq=%d time=%.3f ms\n", dev, r.MAC, r.Interface, seq, r.RTTms)
			}
		}
		if len(replies) == 0 && !o.json {
			fmt.Fprintf(o.stdout(), "no reply from %s: seq=%d\n", dev, seq)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if seq < o.count {
			select {
			case <-time.After(time.Until(start.Add(o.interval))):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	sum.Loss = 100 * float64(sum.Sent-sum.Answered) / float64(sum.Sent)
	if len(sum.Replies) > 0 {
		lo, hi, total := math.Inf(1), 0.0, 0.0
		for _, r := range sum.Replies {
			lo, hi, total = math.Min(lo, r.RTTms), math.Max(hi, r.RTTms), total+r.RTTms
		}
		avg := total / float64(len(sum.Replies))
		sum.MinMs, sum.AvgMs, sum.MaxMs = &lo, &avg, &hi
	}
	if o.identify {
		for _, key := range order {
			p := paths[key]
			id := identifyOne(ctx, p.client, uint16(shelf), uint8(slot), p.mac, dev)
			sum.Identify = append(sum.Identify, id)
		}
	}
	if o.json {
		if err := writeJSON(o.stdout(), sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.stdout(), "--- %s AoE ping statistics ---\n", dev)
		fmt.Fprintf(o.stdout(), "%d requests sent, %d answered, %.0f%% loss, %d replies from %d paths\n",
			sum.Sent, sum.Answered, sum.Loss, len(sum.Replies), len(paths))
		if sum.MinMs != nil {
			fmt.Fprintf(o.stdout(), "rtt min/avg/max = %.3f/%.3f/%.3f ms\n", *sum.MinMs, *sum.AvgMs, *sum.MaxMs)
		}
		for _, id := range sum.Identify {
			writeIdentify(o.stdout(), id, o.hex)
		}
	}
	if sum.Answered == 0 {
		return fmt.Errorf("no reply from %s on %s (%d requests)", dev, strings.Join(names, ", "), sum.Sent)
	}
	for _, id := range sum.Identify {
		if id.Error != "" {
			return fmt.Errorf("IDENTIFY of %s via %s on %s failed: %s", dev, id.MAC, id.Interface, id.Error)
		}
	}
	return nil
}

// identifyJSON is the decoded IDENTIFY data of one path.
type identifyJSON struct {
	MAC          string `json:"mac"`
	Interface    string `json:"interface"`
	Model        string `json:"model,omitempty"`
	Serial       string `json:"serial,omitempty"`
	Firmware     string `json:"firmware,omitempty"`
	Sectors      uint64 `json:"sectors,omitempty"`
	Bytes        uint64 `json:"bytes,omitempty"`
	LBA28Sectors uint32 `json:"lba28_sectors,omitempty"`
	LBA48Sectors uint64 `json:"lba48_sectors,omitempty"`
	LBA48        bool   `json:"lba48"`
	Flush        bool   `json:"flush_cache"`
	SMART        bool   `json:"smart"`
	Data         []byte `json:"data,omitempty"`
	Error        string `json:"error,omitempty"`
}

// identifyOne sends ATA IDENTIFY along one path and decodes the answer.
func identifyOne(ctx context.Context, c *initiator.Client, shelf uint16, slot uint8, mac []byte, dev string) identifyJSON {
	j := identifyJSON{MAC: net.HardwareAddr(mac).String(), Interface: c.Interface().Name}
	f, err := c.Request(ctx, &initiator.Frame{Destination: mac, Shelf: shelf, Slot: slot, Command: initiator.CommandATA, Arg: initiator.NewIdentify()})
	if err != nil {
		j.Error = err.Error()
		return j
	}
	arg, ok := f.Arg.(*initiator.ATAArg)
	if !ok || arg.Failed() {
		j.Error = "the target failed the command"
		if ok {
			j.Error += fmt.Sprintf(" (ATA status %#02x, error %#02x)", arg.CmdStatus, arg.FeatureErr)
		}
		return j
	}
	id, err := initiator.ParseIdentify(arg.Data)
	if err != nil {
		j.Error = "short IDENTIFY data: " + err.Error()
		return j
	}
	j.Model, j.Serial, j.Firmware = id.Model, id.Serial, id.Firmware
	j.Sectors, j.Bytes = id.Sectors(), id.Sectors()*512
	j.LBA28Sectors, j.LBA48Sectors = id.LBA28Sectors, id.LBA48Sectors
	j.LBA48, j.Flush, j.SMART = id.LBA48, id.Flush, id.SMART
	j.Data = arg.Data[:512]
	return j
}

func writeIdentify(w io.Writer, id identifyJSON, hex bool) {
	fmt.Fprintf(w, "IDENTIFY via %s on %s:\n", id.MAC, id.Interface)
	if id.Error != "" {
		fmt.Fprintf(w, "  failed: %s\n", id.Error)
		return
	}
	yes := map[bool]string{true: "yes", false: "no"}
	fmt.Fprintf(w, "  model:     %s\n  serial:    %s\n  firmware:  %s\n", id.Model, id.Serial, id.Firmware)
	fmt.Fprintf(w, "  capacity:  %d sectors (%s); LBA28 %d, LBA48 %d\n", id.Sectors, humanSize(id.Sectors), id.LBA28Sectors, id.LBA48Sectors)
	fmt.Fprintf(w, "  supports:  LBA48 %s, FLUSH CACHE %s, SMART %s\n", yes[id.LBA48], yes[id.Flush], yes[id.SMART])
	if hex {
		hexdumpC(w, id.Data)
	}
}

// hexdumpC writes b as hexdump -C does.
func hexdumpC(w io.Writer, b []byte) {
	for off := 0; off < len(b); off += 16 {
		line := b[off:min(off+16, len(b))]
		fmt.Fprintf(w, "  %08x ", off)
		for i := range 16 {
			if i == 8 {
				fmt.Fprint(w, " ")
			}
			if i < len(line) {
				fmt.Fprintf(w, " %02x", line[i])
			} else {
				fmt.Fprint(w, "   ")
			}
		}
		fmt.Fprint(w, "  |")
		for _, c := range line {
			if c < 0x20 || c > 0x7e {
				c = '.'
			}
			fmt.Fprintf(w, "%c", c)
		}
		fmt.Fprintln(w, "|")
	}
}
