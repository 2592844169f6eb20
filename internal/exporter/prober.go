package exporter

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/goaoe/aoe/discover"
	"github.com/goaoe/aoe/initiator"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxTargets is the default cap on the targets given per-target
// series; targets beyond it are counted in aoe_probe_truncated.
const DefaultMaxTargets = 1000

// RTTBuckets are the buckets of aoe_target_rtt_seconds: AoE lives on a LAN,
// where a round trip takes from tens of microseconds to a few milliseconds.
var RTTBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

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
}

// Prober probes the SAN from userspace (discover.Probe, then a timed unicast
// Query Config on each path) and keeps the latest result for the Collector.
type Prober struct {
	opts ProberOptions
	rtt  *prometheus.HistogramVec

	mu        sync.Mutex
	paths     map[pathID]*pathState
	conflict  map[string]bool
	last      time.Time // end of the latest probe
	duration  time.Duration
	truncated int
	// incomplete is set when the latest probe's answer was incomplete.
	incomplete bool
	probes     uint64
	failures   uint64
}

type pathID struct{ target, mac, iface string }

type pathState struct {
	up       bool
	bufcnt   uint16
	lastSeen time.Time
}

// ErrNoInterface is returned by NewProber when it is given no client.
var ErrNoInterface = errors.New("exporter: probing needs at least one interface")

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
	return &Prober{
		opts: opts,
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aoe_target_rtt_seconds",
			Help:    "Round-trip time of a unicast Query Config to the target on each path, one observation per probe.",
			Buckets: RTTBuckets,
		}, []string{"target", "mac", "interface"}),
		paths:    map[pathID]*pathState{},
		conflict: map[string]bool{},
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

// ProbeOnce runs one probe and records its result. It returns the probe's
// error (none when only ctx ended it), also counted in
// aoe_probe_failures_total.
func (p *Prober) ProbeOnce(ctx context.Context) error {
	start := time.Now()
	targets, err := discover.Probe(ctx, p.opts.Group, discover.Options{Timeout: p.opts.Timeout})
	// An incomplete answer (the reply cap, or replies the receive buffer
	// lost: a flood) still tells which targets answered; it cannot tell
	// that a path missing from it is down.
	var inc *initiator.IncompleteError
	incomplete := errors.As(err, &inc)
	if incomplete {
		err = nil
	}
	var rtts map[pathID]time.Duration
	if err == nil {
		rtts = p.measure(ctx, targets)
	}
	if ctx.Err() != nil {
		return nil // shutting down: keep the previous result
	}
	p.record(targets, rtts, start, time.Now(), incomplete, err)
	return err
}

// measure times a unicast Query Config on every path, 16 at a time.
func (p *Prober) measure(ctx context.Context, targets []discover.Target) map[pathID]time.Duration {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	clients := map[string]*initiator.Client{}
	for _, c := range p.opts.Group.Clients() {
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
			id := pathID{target: t.Name(), mac: path.MAC.String(), iface: path.Interface}
			tgt := initiator.Target{MAC: path.MAC, Shelf: t.Shelf, Slot: t.Slot}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				start := time.Now()
				if _, err := c.QueryConfig(ctx, tgt); err == nil {
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

// record stores a probe's result: the paths that answered are up, the
// known paths that did not are down, paths silent for ForgetAfter are
// forgotten, and targets beyond MaxTargets are counted as truncated.
func (p *Prober) record(targets []discover.Target, rtts map[pathID]time.Duration, start, end time.Time, incomplete bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probes++
	p.last, p.duration = end, end.Sub(start)
	if err != nil {
		p.failures++
		return // a failed probe (no socket) says nothing of the targets
	}
	p.incomplete = incomplete
	known := map[string]bool{}
	for id := range p.paths {
		known[id.target] = true
	}
	for _, s := range p.paths {
		s.up = s.up && incomplete // unseen in an incomplete answer: unknown, kept
	}
	p.truncated = 0
	p.conflict = map[string]bool{}
	for _, t := range targets {
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
			id := pathID{target: name, mac: path.MAC.String(), iface: path.Interface}
			p.paths[id] = &pathState{up: true, bufcnt: path.BufferCount, lastSeen: end}
			if d, ok := rtts[id]; ok {
				p.rtt.WithLabelValues(id.target, id.mac, id.iface).Observe(d.Seconds())
			}
		}
	}
	for id, s := range p.paths {
		if end.Sub(s.lastSeen) > p.opts.ForgetAfter {
			delete(p.paths, id)
			p.rtt.DeleteLabelValues(id.target, id.mac, id.iface)
		}
	}
}

var (
	descTargetUp        = desc("aoe_target_up", "1 when the target answered on this path (interface, target MAC) in the latest probe; 0 when a path seen before did not.", "target", "mac", "interface")
	descTargetBufcnt    = desc("aoe_target_buffers", "The target's buffer count (outstanding frames it accepts) on this path, from its latest Query Config reply.", "target", "mac", "interface")
	descTargetConflict  = desc("aoe_target_conflict", "1 when different disks answered for this address in the latest probe (serial, model or capacity differ).", "target")
	descProbeDuration   = desc("aoe_probe_duration_seconds", "Duration of the latest probe.")
	descProbeTime       = desc("aoe_probe_timestamp_seconds", "Unix time at which the latest probe ended: the probe metrics are that old.")
	descProbeTrunc      = desc("aoe_probe_truncated", "Targets of the latest probe left out because of the target cap (--probe.max-targets).")
	descProbes          = desc("aoe_probes_total", "Probes run.")
	descProbeIncomplete = desc("aoe_probe_incomplete", "1 when the latest probe's answer was incomplete (more answers than the reply cap, or replies lost in the receive buffer: a flood); paths it did not see keep their previous state.")
	descProbeFailures   = desc("aoe_probe_failures_total", "Probes that failed (no interface could send).")
	descRetransmits     = desc("aoe_probe_retransmits_total", "Requests the prober sent again for want of a reply, per interface.", "interface")
)

func (p *Prober) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTargetUp, descTargetBufcnt, descTargetConflict, descProbeDuration,
		descProbeTime, descProbeTrunc, descProbeIncomplete, descProbes, descProbeFailures, descRetransmits} {
		ch <- d
	}
	p.rtt.Describe(ch)
}

func (p *Prober) collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]pathID, 0, len(p.paths))
	for id := range p.paths {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if a.target != b.target {
			return a.target < b.target
		}
		if a.iface != b.iface {
			return a.iface < b.iface
		}
		return a.mac < b.mac
	})
	conflicts := map[string]bool{}
	for _, id := range ids {
		s := p.paths[id]
		ch <- gauge(descTargetUp, b2f(s.up), id.target, id.mac, Label(id.iface))
		ch <- gauge(descTargetBufcnt, float64(s.bufcnt), id.target, id.mac, Label(id.iface))
		conflicts[id.target] = p.conflict[id.target]
	}
	for name, c := range conflicts {
		ch <- gauge(descTargetConflict, b2f(c), name)
	}
	if p.probes > 0 {
		ch <- gauge(descProbeDuration, p.duration.Seconds())
		ch <- gauge(descProbeTime, float64(p.last.UnixNano())/1e9)
	}
	ch <- gauge(descProbeTrunc, float64(p.truncated))
	ch <- gauge(descProbeIncomplete, b2f(p.incomplete))
	ch <- prometheus.MustNewConstMetric(descProbes, prometheus.CounterValue, float64(p.probes))
	ch <- prometheus.MustNewConstMetric(descProbeFailures, prometheus.CounterValue, float64(p.failures))
	for _, c := range p.opts.Group.Clients() {
		ch <- prometheus.MustNewConstMetric(descRetransmits, prometheus.CounterValue, float64(c.Stats().Retransmits), Label(c.Interface().Name))
	}
	p.rtt.Collect(ch)
}
