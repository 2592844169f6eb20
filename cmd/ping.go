package cmd

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/safetext"
	"github.com/goaoe/aoe/internal/units"
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
driver's aoe_iflist, else every up Ethernet interface. A reply with the
AoE error flag is printed as an error reply and does not count as
answered. Interrupted (Ctrl-C), it prints the statistics of the requests
sent so far and exits 130. Model, serial and firmware are printed with
control bytes and invisible characters escaped (\x1b). Exit 0 only if
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
	Seq        int     `json:"seq"`
	MAC        string  `json:"mac"`
	Interface  string  `json:"interface"`
	RTTSeconds float64 `json:"rtt_seconds"`
	// Error is the AoE error of a reply with the error flag (a refusal,
	// not counted as answered); null for a good reply.
	Error *string `json:"error"`
}

func toPingReply(r discover.PingReply) pingReply {
	j := pingReply{Seq: r.Seq, MAC: r.Target.MAC.String(), Interface: r.Interface, RTTSeconds: r.RTT.Seconds()}
	if r.Err != nil {
		e := r.Err.Error()
		j.Error = &e
	}
	return j
}

// ms is a time in seconds as milliseconds, for people.
func ms(seconds float64) float64 { return seconds * 1000 }

// pingSummary is the statistics of a ping.
type pingSummary struct {
	Device   string         `json:"device"`
	Sent     int            `json:"sent"`
	Answered int            `json:"answered"`
	Refused  int            `json:"refused"`
	Dropped  uint64         `json:"dropped"`
	Loss     float64        `json:"loss_percent"`
	Replies  []pingReply    `json:"replies"`
	Min      *float64       `json:"rtt_min_seconds"` // null: no good reply
	Avg      *float64       `json:"rtt_avg_seconds"`
	Max      *float64       `json:"rtt_max_seconds"`
	Identify []identifyJSON `json:"identify"` // null without --identify
	paths    int
}

func toPingSummary(dev string, res *discover.PingResult, identify bool) pingSummary {
	sum := pingSummary{Device: dev, Sent: res.Sent, Answered: res.Answered, Refused: res.Refused, Dropped: res.Dropped, Replies: []pingReply{}, paths: res.Paths}
	good := 0
	lo, hi, total := math.Inf(1), 0.0, 0.0
	for _, r := range res.Replies {
		j := toPingReply(r)
		sum.Replies = append(sum.Replies, j)
		if j.Error == nil {
			good++
			lo, hi, total = math.Min(lo, j.RTTSeconds), math.Max(hi, j.RTTSeconds), total+j.RTTSeconds
		}
	}
	sum.Loss = 100 * float64(sum.Sent-sum.Answered) / float64(max(sum.Sent, 1))
	if good > 0 {
		avg := total / float64(good)
		sum.Min, sum.Avg, sum.Max = &lo, &avg, &hi
	}
	if identify {
		sum.Identify = []identifyJSON{}
	}
	for _, id := range res.Identities {
		sum.Identify = append(sum.Identify, toIdentifyJSON(id))
	}
	return sum
}

func runPing(cmd *cobra.Command, o *pingOptions, dev string) error {
	a, err := addressArg(dev)
	if err != nil {
		return err
	}
	if o.count < 1 || o.interval < 0 || o.timeout <= 0 {
		return usageErrorf("-c must be at least 1, --timeout positive")
	}
	if o.hex && !o.identify {
		return usageErrorf("--hex goes with --identify")
	}
	g, err := o.openGroup(cmd, o.ifaces)
	if err != nil {
		return err
	}
	defer g.Close()
	on := interfaceNames(g)
	if !o.json {
		fmt.Fprintf(o.stdout(), "AOE PING %s on %s\n", dev, on)
	}
	res, err := discover.Ping(cmd.Context(), g, a, discover.PingOptions{Count: o.count, Interval: o.interval, Timeout: o.timeout, Identify: o.identify},
		func(seq int, replies []discover.PingReply) {
			if !o.json {
				writePingRound(o.stdout(), dev, seq, replies)
			}
		})
	if err != nil && !(errors.Is(err, context.Canceled) && res != nil) {
		return err
	}
	// Interrupted (Ctrl-C): the statistics of the rounds done, as ping(8)
	// prints them, then exit 130.
	canceled := err
	sum := toPingSummary(dev, res, o.identify)
	if o.json {
		if err := writeJSON(o.stdout(), sum); err != nil {
			return err
		}
	} else {
		writePingSummary(o.stdout(), sum, o.hex)
	}
	if canceled != nil {
		return silentExit(ExitCanceled) // interrupted: the statistics say it all
	}
	if sum.Answered == 0 && sum.Refused > 0 {
		return fmt.Errorf("%s answered on %s only with errors (%s): no working path", dev, on, sum.firstError())
	}
	if sum.Answered == 0 {
		return fmt.Errorf("no reply from %s on %s (%d requests)", dev, on, sum.Sent)
	}
	for _, id := range sum.Identify {
		if id.Error != nil {
			return fmt.Errorf("IDENTIFY of %s via %s on %s failed: %s", dev, id.MAC, safetext.String(id.Interface), *id.Error)
		}
	}
	return nil
}

// firstError returns the first error reply's error.
func (s pingSummary) firstError() string {
	for _, r := range s.Replies {
		if r.Error != nil {
			return *r.Error
		}
	}
	return ""
}

func writePingRound(w io.Writer, dev string, seq int, replies []discover.PingReply) {
	for _, r := range replies {
		j := toPingReply(r)
		if j.Error != nil {
			fmt.Fprintf(w, "error reply from %s (%s) on %s: seq=%d time=%.3f ms: %s\n", dev, j.MAC, safetext.String(j.Interface), seq, ms(j.RTTSeconds), *j.Error)
			continue
		}
		fmt.Fprintf(w, "reply from %s (%s) on %s: seq=%d time=%.3f ms\n", dev, j.MAC, safetext.String(j.Interface), seq, ms(j.RTTSeconds))
	}
	if len(replies) == 0 {
		fmt.Fprintf(w, "no reply from %s: seq=%d\n", dev, seq)
	}
}

func writePingSummary(w io.Writer, sum pingSummary, hex bool) {
	fmt.Fprintf(w, "--- %s AoE ping statistics ---\n", sum.Device)
	refused := ""
	if sum.Refused > 0 {
		refused = fmt.Sprintf(" (%d answered only with errors)", sum.Refused)
	}
	if sum.Dropped > 0 {
		refused += fmt.Sprintf(" (%d frames lost in the receive buffer)", sum.Dropped)
	}
	fmt.Fprintf(w, "%d requests sent, %d answered%s, %.0f%% loss, %d replies from %d paths\n",
		sum.Sent, sum.Answered, refused, sum.Loss, len(sum.Replies), sum.paths)
	if sum.Min != nil {
		fmt.Fprintf(w, "rtt min/avg/max = %.3f/%.3f/%.3f ms\n", ms(*sum.Min), ms(*sum.Avg), ms(*sum.Max))
	}
	for _, id := range sum.Identify {
		writeIdentify(w, id, hex)
	}
}

// identifyJSON is the decoded IDENTIFY data of one path. When IDENTIFY
// failed, Error says why and every field of the data is null.
type identifyJSON struct {
	MAC       string  `json:"mac"`
	Interface string  `json:"interface"`
	Model     *string `json:"model"`
	Serial    *string `json:"serial"`
	Firmware  *string `json:"firmware"`
	Sectors   *uint64 `json:"sectors"`
	// Bytes is null, and CapacityInvalid true, for a claim beyond LBA48.
	Bytes           *uint64 `json:"bytes"`
	CapacityInvalid *bool   `json:"capacity_invalid"`
	LBA28Sectors    *uint32 `json:"lba28_sectors"`
	LBA48Sectors    *uint64 `json:"lba48_sectors"`
	LBA48           *bool   `json:"lba48"`
	Flush           *bool   `json:"flush_cache"`
	SMART           *bool   `json:"smart"`
	Data            []byte  `json:"data"` // the 512 bytes, base64
	Error           *string `json:"error"`

	// limit is the addressing mode's limit a CapacityInvalid claim is
	// beyond (not in the JSON).
	limit uint64
}

func toIdentifyJSON(p discover.PathIdentity) identifyJSON {
	j := identifyJSON{MAC: p.Target.MAC.String(), Interface: p.Interface}
	if p.Err != nil {
		j.Error = nullable(p.Err.Error())
		return j
	}
	id := p.Identity
	n, clamped := id.Capacity()
	j.limit = n
	j.Model, j.Serial, j.Firmware = nullable(id.Model), nullable(id.Serial), nullable(id.Firmware)
	j.Sectors, j.CapacityInvalid = nullable(id.Sectors()), nullable(clamped)
	if !clamped {
		j.Bytes = nullable(n * wire.SectorSize)
	}
	j.LBA28Sectors, j.LBA48Sectors = nullable(id.LBA28Sectors), nullable(id.LBA48Sectors)
	j.LBA48, j.Flush, j.SMART = nullable(id.LBA48), nullable(id.Flush), nullable(id.SMART)
	j.Data = p.Data
	return j
}

// nullable returns a pointer to a copy of v: a JSON value that may be null.
func nullable[T any](v T) *T { return &v }

func writeIdentify(w io.Writer, id identifyJSON, dump bool) {
	fmt.Fprintf(w, "IDENTIFY via %s on %s:\n", id.MAC, safetext.String(id.Interface))
	if id.Error != nil {
		fmt.Fprintf(w, "  failed: %s\n", *id.Error)
		return
	}
	yes := map[bool]string{true: "yes", false: "no"}
	fmt.Fprintf(w, "  model:     %s\n  serial:    %s\n  firmware:  %s\n", safetext.String(*id.Model), safetext.String(*id.Serial), safetext.String(*id.Firmware))
	size := units.Sectors(*id.Sectors)
	if *id.CapacityInvalid {
		size = fmt.Sprintf("INVALID: beyond %s's %d sectors", lbaMode(*id.LBA48), id.limit)
	}
	fmt.Fprintf(w, "  capacity:  %d sectors (%s); LBA28 %d, LBA48 %d\n", *id.Sectors, size, *id.LBA28Sectors, *id.LBA48Sectors)
	fmt.Fprintf(w, "  supports:  LBA48 %s, FLUSH CACHE %s, SMART %s\n", yes[*id.LBA48], yes[*id.Flush], yes[*id.SMART])
	if dump {
		hexdumpC(w, id.Data)
	}
}

// hexdumpC writes b as hexdump -C does (encoding/hex.Dump), each line
// indented by two blanks.
func hexdumpC(w io.Writer, b []byte) {
	dump := hex.Dump(b)
	for line := range strings.Lines(dump) {
		io.WriteString(w, "  "+line)
	}
}
