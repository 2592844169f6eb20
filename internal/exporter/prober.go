package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxTargets is the default cap on the targets given per-target
// series; targets beyond it are counted in aoe_probe_truncated.
const DefaultMaxTargets = 1000

// RTTBuckets are the buckets of aoe_target_rtt_seconds: AoE lives on a LAN,
// where a round trip takes from tens of microseconds to a few milliseconds.
var RTTBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// MinProbeInterval and MaxProbeInterval bound ProberOptions.Interval (and
// --probe.interval): a shorter interval only burns CPU and floods the SAN
// with broadcasts; a longer one outlives ForgetAfter.
const (
	MinProbeInterval = time.Second
	MaxProbeInterval = time.Hour
	// MinProbeTimeout bounds ProberOptions.Timeout from below: AoE
	// answers take well under a millisecond on a LAN, but a probe that
	// cannot wait for a few retransmissions sees nothing.
	MinProbeTimeout = 100 * time.Millisecond
)

// DefaultLogEvery is how often a Prober repeats that probing still fails
// (it also logs every change of state).
const DefaultLogEvery = 10 * time.Minute

// ProberOptions configure a Prober.
type ProberOptions struct {
	// Group holds the raw AoE clients, one per interface, that the probes
	// use. The Prober does not close it.
	Group *initiator.Group
	// Interval is the time between the starts of two probes (default 60s).
	Interval time.Duration
	// Timeout bounds each probe (default: the smaller of Interval and 5s).
	Timeout time.Duration
	// MaxTargets caps the targets with series (DefaultMaxTargets when 0).
	MaxTargets int
	// ForgetAfter is how long a path that stopped answering keeps its
	// series, at aoe_target_up 0 (default 1h).
	ForgetAfter time.Duration
	// Logger receives probe failures and path changes (default: none).
	Logger *slog.Logger
	// LogEvery is how often a failure that persists is logged again
	// (DefaultLogEvery when 0).
	LogEvery time.Duration
	// LinkState tells whether the named interface can carry a probe: it
	// exists, is up and has a carrier (default: LinkState, from the
	// kernel). A probe does not send on an interface that cannot.
	LinkState func(name string) error
}

// Prober probes the SAN from userspace (discover.Probe, then a timed unicast
// Query Config on each path) and keeps the latest result for the Collector.
//
// The model, as the metric help texts say: aoe_target_up is 1 only for a
// path that answered the latest probe. A path on an interface the probe
// could not send on (down, no carrier, gone), or a path missing from a
// failed or incomplete probe, is 0: the exporter does not know that it is
// up. aoe_probe_success is 1 when the latest probe sent on every interface
// and read a complete answer, and aoe_probe_last_success_timestamp_seconds
// is when such a probe last ended.
type Prober struct {
	opts ProberOptions
	rtt  *prometheus.HistogramVec
	log  *slog.Logger

	mu          sync.Mutex
	paths       map[pathID]*pathState
	conflict    map[string]bool
	ifaceUp     map[string]bool // per probing interface: could the latest probe send on it
	lastSuccess time.Time       // end of the latest successful probe; zero: none yet
	duration    time.Duration
	truncated   int
	// incomplete is set when the latest probe's answer was incomplete.
	incomplete bool
	success    bool // the latest probe's
	probes     uint64
	failures   uint64

	// Logging state: the latest probe's state as logged, and when.
	logged       string    // what failed in the latest probe ("": nothing)
	loggedAt     time.Time // when it was last logged
	failingSince time.Time
}

type pathID struct{ device, mac, iface string }

type pathState struct {
	up       bool
	bufcnt   uint16
	lastSeen time.Time
}

// LinkState reports whether the interface name exists, is up and has a
// carrier (IFF_UP and IFF_RUNNING), as the kernel says in this process's
// network namespace.
func LinkState(name string) error {
	ifi, err := net.InterfaceByName(name)
	switch {
	case err != nil:
		return err
	case ifi.Flags&net.FlagUp == 0:
		return errors.New("interface down")
	case ifi.Flags&net.FlagRunning == 0:
		return errors.New("no carrier")
	}
	return nil
}

// NewProber returns a Prober over opts.Group. It fails with
// ErrNoInterface when there is none.
func NewProber(opts ProberOptions) (*Prober, error) {
	if opts.Group == nil || len(opts.Group.Clients()) == 0 {
		return nil, ErrNoInterface
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = min(opts.Interval, 5*time.Second)
	}
	if opts.MaxTargets <= 0 {
		opts.MaxTargets = DefaultMaxTargets
	}
	if opts.ForgetAfter <= 0 {
		opts.ForgetAfter = time.Hour
	}
	if opts.LogEvery <= 0 {
		opts.LogEvery = DefaultLogEvery
	}
	if opts.LinkState == nil {
		opts.LinkState = LinkState
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Prober{
		opts: opts,
		log:  log,
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aoe_target_rtt_seconds",
			Help:    "Round-trip time of a unicast Query Config to the target on each path, one observation per probe.",
			Buckets: RTTBuckets,
		}, []string{"device", "mac", "interface"}),
		paths:    map[pathID]*pathState{},
		conflict: map[string]bool{},
		ifaceUp:  map[string]bool{},
	}, nil
}

// Run probes at every Interval until ctx is done.
func (p *Prober) Run(ctx context.Context) {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		p.ProbeOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probeResult is what one probe found out.
type probeResult struct {
	targets    []discover.Target
	rtts       map[pathID]time.Duration
	start, end time.Time
	// down maps the interfaces the probe could not send on to why.
	down       map[string]error
	incomplete *initiator.IncompleteError
	err        error // the probe failed as a whole
}

// failed reports whether the probe could not send everywhere.
func (r *probeResult) failed() bool { return r.err != nil || len(r.down) > 0 }

// ProbeOnce runs one probe and records its result. It returns the probe's
// error (none when only ctx ended it), also counted in
// aoe_probe_failures_total: an interface it could not send on, or a probe
// that failed as a whole.
func (p *Prober) ProbeOnce(ctx context.Context) error {
	r := &probeResult{start: time.Now(), down: map[string]error{}}
	var up []*initiator.Client
	for _, c := range p.opts.Group.Clients() {
		name := c.Interface().Name
		err := p.opts.LinkState(name)
		if err == nil {
			err = c.Err() // its socket failed for good
		}
		if err != nil {
			r.down[name] = err
			continue
		}
		up = append(up, c)
	}
	var err error
	if len(up) > 0 {
		r.targets, err = discover.Probe(ctx, initiator.NewGroup(up...), discover.Options{Timeout: p.opts.Timeout})
	}
	// An incomplete answer (the reply cap, or replies the receive buffer
	// lost: a flood) still tells which targets answered; the paths missing
	// from it are not confirmed (aoe_target_up 0), and the probe is no
	// success.
	if errors.As(err, &r.incomplete) {
		err = nil
	}
	if err != nil {
		r.targets, r.err = nil, err
	} else {
		r.rtts = p.measure(ctx, up, r.targets)
	}
	if ctx.Err() != nil {
		return nil // shutting down: keep the previous result
	}
	r.end = time.Now()
	p.record(r)
	if r.err != nil {
		return r.err
	}
	if len(r.down) > 0 {
		return fmt.Errorf("exporter: cannot probe on %s", downList(r.down))
	}
	return nil
}

// downList formats the interfaces a probe could not send on, in name order.
func downList(down map[string]error) string {
	names := make([]string, 0, len(down))
	for n := range down {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = Label(n) + " (" + down[n].Error() + ")"
	}
	return strings.Join(parts, ", ")
}

// measure times a unicast Query Config on every path through clients, 16
// at a time.
func (p *Prober) measure(ctx context.Context, up []*initiator.Client, targets []discover.Target) map[pathID]time.Duration {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	clients := map[string]*initiator.Client{}
	for _, c := range up {
		clients[c.Interface().Name] = c
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	out := map[pathID]time.Duration{}
	for _, t := range targets {
		for _, path := range t.Paths {
			c := clients[path.Interface]
			if c == nil {
				continue
			}
			id := pathID{device: t.Name(), mac: path.MAC.String(), iface: path.Interface}
			tgt := initiator.Target{MAC: path.MAC, Shelf: t.Shelf, Slot: t.Slot}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				start := time.Now()
				if _, err := c.QueryConfig(ctx, tgt, &wire.ConfigArg{}); err == nil {
					mu.Lock()
					out[id] = time.Since(start)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	return out
}

// maxPathLogs is how many path changes one probe logs one by one; more are
// summed up in one line.
const maxPathLogs = 10

// record stores a probe's result: the paths that answered are up, every
// other known path is down (not confirmed: silent, on an interface the probe
// could not send on, or left out of a failed or incomplete answer), paths
// silent for ForgetAfter are forgotten, and targets beyond MaxTargets are
// counted as truncated. It logs the changes.
func (p *Prober) record(r *probeResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probes++
	p.duration = r.end.Sub(r.start)
	p.incomplete = r.incomplete != nil
	p.success = !r.failed() && !p.incomplete
	if r.failed() {
		p.failures++
	}
	if p.success {
		p.lastSuccess = r.end
	}
	p.ifaceUp = map[string]bool{}
	for _, c := range p.opts.Group.Clients() {
		name := c.Interface().Name
		_, down := r.down[name]
		p.ifaceUp[name] = !down && r.err == nil
	}
	known := map[string]bool{}
	wasUp := map[pathID]bool{}
	for id, s := range p.paths {
		known[id.device] = true
		wasUp[id] = s.up
		s.up = false
	}
	p.truncated = 0
	p.conflict = map[string]bool{}
	for _, t := range r.targets {
		name := t.Name()
		if !known[name] {
			if len(known) >= p.opts.MaxTargets {
				p.truncated++
				continue
			}
			known[name] = true
		}
		p.conflict[name] = t.Conflict
		for _, path := range t.Paths {
			id := pathID{device: name, mac: path.MAC.String(), iface: path.Interface}
			p.paths[id] = &pathState{up: true, bufcnt: path.BufferCount, lastSeen: r.end}
			if d, ok := r.rtts[id]; ok {
				p.rtt.WithLabelValues(id.device, id.mac, Label(id.iface)).Observe(d.Seconds())
			}
		}
	}
	for id, s := range p.paths {
		if r.end.Sub(s.lastSeen) > p.opts.ForgetAfter {
			delete(p.paths, id)
			p.rtt.DeleteLabelValues(id.device, id.mac, Label(id.iface))
		}
	}
	p.logProbe(r)
	p.logPaths(wasUp)
}

// logProbe logs the probe's state when it changes (an interface the probe
// could not send on, a failure, an incomplete answer, recovery) and repeats
// a bad state every LogEvery; a good probe is logged at debug level. The
// state compared is what failed, not the error's text, which may vary from
// probe to probe.
func (p *Prober) logProbe(r *probeResult) {
	var key, detail []string
	if r.err != nil {
		key = append(key, "failed")
		detail = append(detail, r.err.Error())
	}
	if len(r.down) > 0 {
		names := make([]string, 0, len(r.down))
		for n := range r.down {
			names = append(names, n)
		}
		sort.Strings(names)
		key = append(key, "down:"+strings.Join(names, ","))
		detail = append(detail, "cannot send on "+downList(r.down))
	}
	if r.incomplete != nil {
		key = append(key, "incomplete")
		detail = append(detail, r.incomplete.Error())
	}
	state := strings.Join(key, " ")
	attrs := []any{"targets", len(r.targets), "duration", r.end.Sub(r.start)}
	changed := state != p.logged
	switch {
	case changed && state == "":
		p.log.Info("AoE probe succeeds again", attrs...)
	case changed:
		p.failingSince = r.end
		p.log.Warn("AoE probe failing", append([]any{"err", strings.Join(detail, "; ")}, attrs...)...)
	case state != "" && r.end.Sub(p.loggedAt) >= p.opts.LogEvery:
		p.log.Warn("AoE probe still failing", append([]any{"err", strings.Join(detail, "; "),
			"since", p.failingSince.Format(time.RFC3339), "failures", p.failures}, attrs...)...)
	case state == "":
		p.log.Debug("AoE probe", attrs...)
		return
	default:
		return
	}
	p.logged, p.loggedAt = state, r.end
}

// logPaths logs the known paths that went down or came back up in the
// latest probe, at most maxPathLogs one by one; new paths only at debug
// level (each run of --textfile finds every path anew).
func (p *Prober) logPaths(wasUp map[pathID]bool) {
	n := 0
	for _, id := range p.sortedIDs() {
		s := p.paths[id]
		was, known := wasUp[id]
		var msg string
		switch {
		case !known:
			p.log.Debug("AoE target path found", "device", id.device, "mac", id.mac, "interface", Label(id.iface))
			continue
		case was && !s.up:
			msg = "AoE target path no longer confirmed"
		case !was && s.up:
			msg = "AoE target path answers again"
		default:
			continue
		}
		if n++; n <= maxPathLogs {
			p.log.Info(msg, "device", id.device, "mac", id.mac, "interface", Label(id.iface))
		}
	}
	if n > maxPathLogs {
		p.log.Info("AoE target paths changed state", "more", n-maxPathLogs)
	}
}

// sortedIDs returns the known paths in device, interface, MAC order.
func (p *Prober) sortedIDs() []pathID {
	ids := make([]pathID, 0, len(p.paths))
	for id := range p.paths {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if a.device != b.device {
			return a.device < b.device
		}
		if a.iface != b.iface {
			return a.iface < b.iface
		}
		return a.mac < b.mac
	})
	return ids
}

var (
	descTargetUp         = desc("aoe_target_up", "1 when the target answered on this path (interface, target MAC) in the latest probe; 0 when a path seen in the last hour was not confirmed by it: it did not answer, the probe could not send on the interface, or the probe failed or was incomplete (see aoe_probe_success).", "device", "mac", "interface")
	descTargetBufcnt     = desc("aoe_target_buffers", "The target's buffer count (outstanding frames it accepts) on this path, from its latest Query Config reply.", "device", "mac", "interface")
	descTargetConflict   = desc("aoe_target_conflict", "1 when different disks answered for this address in the latest probe (serial, model or capacity differ).", "device")
	descProbeDuration    = desc("aoe_probe_duration_seconds", "Duration of the latest probe, successful or not.")
	descProbeSuccess     = desc("aoe_probe_success", "1 when the latest probe sent on every probing interface and read a complete answer, else 0 (see aoe_probe_interface_up and aoe_probe_incomplete).")
	descProbeLastSuccess = desc("aoe_probe_last_success_timestamp_seconds", "Unix time at which the latest successful probe (aoe_probe_success 1) ended; absent until one has.")
	descProbeTrunc       = desc("aoe_probe_truncated", "Targets of the latest probe left out because of the target cap (--probe.max-targets).")
	descProbes           = desc("aoe_probes_total", "Probes run.")
	descProbeIncomplete  = desc("aoe_probe_incomplete", "1 when the latest probe's answer was incomplete (more answers than the reply cap, or replies lost in the receive buffer: a flood); paths it did not see are at aoe_target_up 0.")
	descProbeFailures    = desc("aoe_probe_failures_total", "Probes that could not send on every probing interface (down, no carrier, gone) or failed as a whole.")
	descProbeInterfaceUp = desc("aoe_probe_interface_up", "1 when the latest probe could send on this probing interface; 0 when it was down, without carrier or gone.", "interface")
	descProbeRetransmits = desc("aoe_probe_retransmits_total", "Requests the prober sent again for want of a reply, per interface.", "interface")
	descProbeBadReplies  = desc("aoe_probe_bad_replies_total", "AoE frames the prober's interface dropped as bad, per reason: malformed (did not decode), forged (impossible source MAC: broadcast, multicast, zero or our own), bad_ata (an ATA reply that did not answer its request: another LBA, sectors remaining, short).", "interface", "reason")
)

func (p *Prober) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTargetUp, descTargetBufcnt, descTargetConflict, descProbeDuration,
		descProbeSuccess, descProbeLastSuccess, descProbeTrunc, descProbeIncomplete, descProbes, descProbeFailures,
		descProbeInterfaceUp, descProbeRetransmits, descProbeBadReplies} {
		ch <- d
	}
	p.rtt.Describe(ch)
}

func (p *Prober) collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	conflicts := map[string]bool{}
	for _, id := range p.sortedIDs() {
		s := p.paths[id]
		ch <- gauge(descTargetUp, b2f(s.up), id.device, id.mac, Label(id.iface))
		ch <- gauge(descTargetBufcnt, float64(s.bufcnt), id.device, id.mac, Label(id.iface))
		conflicts[id.device] = p.conflict[id.device]
	}
	for name, c := range conflicts {
		ch <- gauge(descTargetConflict, b2f(c), name)
	}
	if p.probes > 0 {
		ch <- gauge(descProbeDuration, p.duration.Seconds())
		ch <- gauge(descProbeSuccess, b2f(p.success))
		for _, c := range p.opts.Group.Clients() {
			name := c.Interface().Name
			ch <- gauge(descProbeInterfaceUp, b2f(p.ifaceUp[name]), Label(name))
		}
	}
	if !p.lastSuccess.IsZero() {
		ch <- gauge(descProbeLastSuccess, float64(p.lastSuccess.UnixNano())/1e9)
	}
	ch <- gauge(descProbeTrunc, float64(p.truncated))
	ch <- gauge(descProbeIncomplete, b2f(p.incomplete))
	ch <- prometheus.MustNewConstMetric(descProbes, prometheus.CounterValue, float64(p.probes))
	ch <- prometheus.MustNewConstMetric(descProbeFailures, prometheus.CounterValue, float64(p.failures))
	for _, c := range p.opts.Group.Clients() {
		st, name := c.Stats(), Label(c.Interface().Name)
		ch <- prometheus.MustNewConstMetric(descProbeRetransmits, prometheus.CounterValue, float64(st.Retransmits), name)
		for _, r := range []struct {
			reason string
			n      uint64
		}{{"malformed", st.Malformed}, {"forged", st.Forged}, {"bad_ata", st.BadATA}} {
			ch <- prometheus.MustNewConstMetric(descProbeBadReplies, prometheus.CounterValue, float64(r.n), name, r.reason)
		}
	}
	p.rtt.Collect(ch)
}
