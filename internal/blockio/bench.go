package blockio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/goaoe/aoe/initiator"
)

// BenchOptions tune Bench.
type BenchOptions struct {
	// Duration of each test (default 5s).
	Duration time.Duration
	// Write adds the write tests. They write back data read from the
	// same place before them (all of it, or no write at all), so the
	// disk's content is unchanged when nobody else writes to it
	// meanwhile.
	Write bool
	// Span bounds the region of the disk used (default: all of it for
	// reads; at most 64 MiB, held in memory, for writes). It must lie
	// within the disk (else an error wrapping ErrOutOfRange) and be at
	// least MinSpan (else ErrSpanTooSmall).
	Span int64
}

// BenchResult is one test's figures. Its JSON is `aoe bench --json`'s
// (docs/json.md): durations in float seconds, every field present.
type BenchResult struct {
	Test           string  `json:"test"` // "seq-read", "rand-read", "seq-write", "rand-write"
	BlockSize      int     `json:"block_size_bytes"`
	QueueDepth     int     `json:"queue_depth"`
	Ops            int64   `json:"ops"`
	Bytes          int64   `json:"bytes"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	MBps           float64 `json:"mb_per_s"` // 10^6 bytes per second
	IOPS           float64 `json:"iops"`
	// The latencies of the test's I/Os, in seconds; nil (null) when none
	// completed.
	LatencyP50Seconds *float64 `json:"latency_p50_seconds"`
	LatencyP99Seconds *float64 `json:"latency_p99_seconds"`
	LatencyMaxSeconds *float64 `json:"latency_max_seconds"`
	// Paths are the per-path counters during the test (its frames and
	// bytes; MBps computed from them): [] for a local file, which has no
	// AoE paths.
	Paths []BenchPath `json:"paths"`
}

// BenchPath is one path's share of a test: the path's counters (window,
// bad replies... with their JSON names), its MB/s, and the fields of
// PathStats whose JSON follows docs/json.md here: durations in seconds,
// null or [] rather than left out.
type BenchPath struct {
	initiator.PathStats
	MBps float64 `json:"mb_per_s"`
	// SRTTSeconds is the smoothed RTT, nil (null) before any sample;
	// RTOSeconds the retransmission timeout now.
	SRTTSeconds *float64 `json:"srtt_seconds"`
	RTOSeconds  float64  `json:"rto_seconds"`
	// LastBadReplyText is PathStats.LastBadReply, nil (null) when no
	// reply was bad; Mismatches is PathStats.Mismatch, [] when none.
	LastBadReplyText *string  `json:"last_bad_reply"`
	Mismatches       []string `json:"mismatch"`
}

// NewBenchPath returns p's share of a test that ran el seconds.
func NewBenchPath(p initiator.PathStats, el float64) BenchPath {
	b := BenchPath{PathStats: p, RTOSeconds: p.RTO.Seconds(), Mismatches: []string{}}
	if el > 0 {
		b.MBps = float64(p.Bytes) / el / 1e6
	}
	if p.SRTT > 0 {
		s := p.SRTT.Seconds()
		b.SRTTSeconds = &s
	}
	if p.LastBadReply != "" {
		s := p.LastBadReply
		b.LastBadReplyText = &s
	}
	if p.Mismatch != nil {
		b.Mismatches = p.Mismatch
	}
	return b
}

// Benchable is what Bench measures: a disk with per-path counters.
type Benchable interface {
	io.ReaderAt
	io.WriterAt
	Size() int64
	PathStats() []initiator.PathStats
}

const seqBlock = 1 << 20

// MinSpan is the least span Bench measures: one block of its sequential
// tests.
const MinSpan = seqBlock

// ErrSpanTooSmall is returned by Bench when the span (or the whole disk)
// is smaller than MinSpan.
var ErrSpanTooSmall = errors.New("smaller than a block")

// maxWriteSpan bounds the data the write tests save and write back.
const maxWriteSpan = 64 << 20

// Bench measures d: sequential reads of 1 MiB blocks (queue depth 4),
// random 4 KiB reads at queue depths 1 and 32, and with Write the same
// for writes. Each test runs for Duration; progress, when set, is called
// before each.
func Bench(ctx context.Context, d Benchable, opts BenchOptions, progress func(test string, qd int)) ([]BenchResult, error) {
	if opts.Duration <= 0 {
		opts.Duration = 5 * time.Second
	}
	span := d.Size()
	if opts.Span > 0 {
		if err := CheckRange(span, 0, opts.Span); err != nil {
			return nil, err
		}
		span = opts.Span
	}
	if span < MinSpan {
		return nil, fmt.Errorf("%d bytes are %w: the sequential tests need at least %d bytes", span, ErrSpanTooSmall, MinSpan)
	}
	type test struct {
		name  string
		block int
		qd    int
		write bool
		rand  bool
	}
	tests := []test{{"seq-read", seqBlock, 4, false, false}, {"rand-read", 4096, 1, false, true}, {"rand-read", 4096, 32, false, true}}
	var saved []byte
	if opts.Write {
		tests = append(tests, test{"seq-write", seqBlock, 4, true, false}, test{"rand-write", 4096, 1, true, true}, test{"rand-write", 4096, 32, true, true})
		// What the write tests write back: the first wspan bytes as they
		// are now, all of them or no write at all.
		saved = make([]byte, min(span, maxWriteSpan)/seqBlock*seqBlock)
		n, err := readAt(ctx, d, saved, 0)
		if (err == nil || errors.Is(err, io.EOF)) && n == len(saved) {
			err = nil
		} else if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: %d of %d bytes", io.ErrUnexpectedEOF, n, len(saved))
		}
		if err != nil {
			return nil, fmt.Errorf("reading the data the write tests write back: %w", err)
		}
	}
	var out []BenchResult
	for _, t := range tests {
		if progress != nil {
			progress(t.name, t.qd)
		}
		s := span
		if t.write {
			s = int64(len(saved))
		}
		r, err := runBench(ctx, d, t.name, t.block, t.qd, t.write, t.rand, s, saved, opts.Duration)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// runBench runs one test with qd workers.
func runBench(ctx context.Context, d Benchable, name string, block, qd int, write, random bool, span int64, saved []byte, dur time.Duration) (BenchResult, error) {
	blocks := span / int64(block)
	if blocks == 0 {
		return BenchResult{}, fmt.Errorf("%d bytes are %w of %d bytes", span, ErrSpanTooSmall, block)
	}
	before := d.PathStats()
	var (
		mu    sync.Mutex
		lat   []time.Duration
		next  int64
		first error
	)
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range qd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			buf := make([]byte, block)
			var mine []time.Duration
			defer func() { mu.Lock(); lat = append(lat, mine...); mu.Unlock() }()
			for ctx.Err() == nil {
				var b int64
				if random {
					b = rng.Int64N(blocks)
				} else {
					mu.Lock()
					b = next % blocks
					next++
					mu.Unlock()
				}
				off := b * int64(block)
				// The clock since start: the monotonic clock alone (a
				// time.Now reads the wall clock too, and in a guest
				// whose clock source is not the TSC each read is a
				// system call, per request, for every device measured).
				t0 := time.Since(start)
				var (
					n   int
					err error
				)
				if write {
					n, err = writeAt(context.Background(), d, saved[off:off+int64(block)], off)
				} else {
					n, err = readAt(context.Background(), d, buf, off)
					if errors.Is(err, io.EOF) && n == block {
						err = nil
					}
				}
				if err == nil && n != block {
					err = fmt.Errorf("%s: %d of %d bytes at %d", map[bool]string{false: "short read", true: "short write"}[write], n, block, off)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
				mine = append(mine, time.Since(start)-t0)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	if first != nil {
		return BenchResult{}, first
	}
	r := BenchResult{Test: name, BlockSize: block, QueueDepth: qd, Ops: int64(len(lat)), ElapsedSeconds: el, Paths: []BenchPath{}}
	r.Bytes = r.Ops * int64(block)
	r.MBps = float64(r.Bytes) / el / 1e6
	r.IOPS = float64(r.Ops) / el
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		sec := func(d time.Duration) *float64 { s := d.Seconds(); return &s }
		r.LatencyP50Seconds, r.LatencyP99Seconds, r.LatencyMaxSeconds = sec(lat[n/2]), sec(lat[min(n-1, n*99/100)]), sec(lat[n-1])
	}
	for _, p := range PathsSince(before, d.PathStats()) {
		r.Paths = append(r.Paths, NewBenchPath(p, el))
	}
	return r, nil
}

// PathsSince returns what the paths did between two PathStats snapshots
// of one disk (its paths in the same order): the counters' differences,
// and the state (windows, RTT, liveness) as after. A counter the engine
// took back (a window cut undone by a late reply) counts 0, not less.
func PathsSince(before, after []initiator.PathStats) []initiator.PathStats {
	out := slices.Clone(after)
	sub := func(a *uint64, b uint64) { *a -= min(*a, b) }
	for i := range min(len(before), len(out)) {
		b, a := &before[i], &out[i]
		sub(&a.WindowCuts, b.WindowCuts)
		sub(&a.LateReplies, b.LateReplies)
		sub(&a.Frames, b.Frames)
		sub(&a.Bytes, b.Bytes)
		sub(&a.Retransmits, b.Retransmits)
		sub(&a.Timeouts, b.Timeouts)
		sub(&a.Overtaken, b.Overtaken)
		sub(&a.Dropped, b.Dropped)
		sub(&a.Probes, b.Probes)
		sub(&a.BadReplies, b.BadReplies)
		sub(&a.SendCalls, b.SendCalls)
		sub(&a.Wakeups, b.Wakeups)
		if a.BadReplies == 0 {
			a.LastBadReply = "" // the last bad reply came before
		}
	}
	return out
}
