package blockio

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
)

// memDisk is a disk in memory for the copy and bench tests.
type memDisk struct {
	mu sync.Mutex
	b  []byte
	// fail, when set, fails reads at or past this offset (the bytes
	// before it returned, as a disk that fails mid-I/O).
	fail int64
}

func (m *memDisk) Size() int64 { return int64(len(m.b)) }

func (m *memDisk) ReadAt(p []byte, off int64) (int, error) {
	if m.fail > 0 && off+int64(len(p)) > m.fail {
		// Garbage in p, as a failed transfer may leave: it must not
		// reach the output.
		for i := range p {
			p[i] = 0xee
		}
		return 0, errors.New("disk failed")
	}
	if off >= m.Size() {
		return 0, io.EOF
	}
	m.mu.Lock()
	n := copy(p, m.b[off:])
	m.mu.Unlock()
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || int64(len(p)) > m.Size()-off {
		return 0, io.ErrShortWrite
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return copy(m.b[off:], p), nil
}

func (m *memDisk) PathStats() []initiator.PathStats { return nil }

func newMemDisk(n int) *memDisk {
	m := &memDisk{b: make([]byte, n)}
	rand.Read(m.b)
	return m
}

func TestCheckRange(t *testing.T) {
	const max = math.MaxInt64
	for _, c := range []struct {
		size, off, length int64
		ok                bool
	}{
		{100, 0, 100, true}, {100, 100, 0, true}, {100, 99, 1, true}, {0, 0, 0, true},
		{100, 101, 0, false}, {100, 99, 2, false}, {100, 1, max, false}, {100, max, max, false},
		{100, max, 0, false}, {100, -1, 1, false}, {100, 0, -1, false}, {max, 1, max, false},
		{max, max, 0, true}, {max, 1, max - 1, true}, {max, 0, max, true}, {-512, 0, 0, false},
	} {
		err := CheckRange(c.size, c.off, c.length)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrOutOfRange)) {
			t.Errorf("CheckRange(%d, %d, %d) = %v", c.size, c.off, c.length, err)
		}
	}
}

// TestReadToRanges: ReadTo gives exactly the bytes asked for, refuses a
// range outside the disk before reading (no overflow near MaxInt64), and
// never passes on what a failed read left in its buffer.
func TestReadToRanges(t *testing.T) {
	const size = 3*ChunkSize + 1000
	d := newMemDisk(size)
	for _, c := range []struct {
		off, length int64
		ok          bool
	}{
		{0, size, true}, {1, size - 1, true}, {size, 0, true}, {ChunkSize - 7, ChunkSize + 9, true},
		{1, math.MaxInt64, false}, {math.MaxInt64, 1, false}, {size + 1, 0, false}, {size - 1, 2, false}, {0, -1, false},
	} {
		var out bytes.Buffer
		n, err := ReadTo(context.Background(), d, c.off, c.length, &out, nil)
		if c.ok {
			if err != nil || n != c.length || !bytes.Equal(out.Bytes(), d.b[c.off:c.off+c.length]) {
				t.Errorf("ReadTo(%d, %d): %d, %v", c.off, c.length, n, err)
			}
			continue
		}
		if !errors.Is(err, ErrOutOfRange) || n != 0 || out.Len() != 0 {
			t.Errorf("ReadTo(%d, %d): %d bytes, %v", c.off, c.length, n, err)
		}
	}
	// The disk fails in the third chunk: the first two reach the output,
	// nothing of the third.
	d.fail = 2*ChunkSize + 5
	var out bytes.Buffer
	n, err := ReadTo(context.Background(), d, 0, size, &out, nil)
	if err == nil || n != 2*ChunkSize || !bytes.Equal(out.Bytes(), d.b[:n]) {
		t.Errorf("failing disk: %d bytes, %v", n, err)
	}
}

// TestWriteFromPastEnd: an input longer than the room from off is written
// up to the end, the rest refused with ErrOutOfRange; an offset past the
// end writes nothing.
func TestWriteFromPastEnd(t *testing.T) {
	const size = 2*ChunkSize + 100
	for _, c := range []struct {
		off   int64
		input int
		n     int64
		ok    bool
	}{
		{0, size, size, true}, {7, 100, 100, true}, {size, 0, 0, true},
		{0, size + 1, size, false}, {ChunkSize + 1, 3 * ChunkSize, size - ChunkSize - 1, false},
		{size, 1, 0, false}, {size + 1, 0, 0, false}, {math.MaxInt64, 5, 0, false},
	} {
		d := newMemDisk(size)
		before := bytes.Clone(d.b)
		in := make([]byte, c.input)
		rand.Read(in)
		n, err := WriteFrom(context.Background(), d, c.off, bytes.NewReader(in), nil)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrOutOfRange)) || n != c.n {
			t.Errorf("WriteFrom(%d, %d bytes): %d, %v", c.off, c.input, n, err)
			continue
		}
		want := before
		if c.n > 0 {
			want = append(append(bytes.Clone(before[:c.off]), in[:c.n]...), before[c.off+c.n:]...)
		}
		if !bytes.Equal(d.b, want) {
			t.Errorf("WriteFrom(%d, %d bytes): the disk is not as expected", c.off, c.input)
		}
	}
}

// TestBenchSpanLimits: a span below a block or past the disk is refused
// before any I/O; --write leaves the disk as it was.
func TestBenchSpanLimits(t *testing.T) {
	d := newMemDisk(4 << 20)
	for _, c := range []struct {
		span int64
		want error
	}{{1000, ErrSpanTooSmall}, {MinSpan - 1, ErrSpanTooSmall}, {4<<20 + 1, ErrOutOfRange}, {math.MaxInt64, ErrOutOfRange}} {
		if _, err := Bench(context.Background(), d, BenchOptions{Duration: 1, Span: c.span}, nil); !errors.Is(err, c.want) {
			t.Errorf("span %d: %v", c.span, err)
		}
	}
	if _, err := Bench(context.Background(), newMemDisk(MinSpan-512), BenchOptions{Duration: 1}, nil); !errors.Is(err, ErrSpanTooSmall) {
		t.Errorf("small disk: %v", err)
	}
	before := bytes.Clone(d.b)
	res, err := Bench(context.Background(), d, BenchOptions{Duration: 20e6, Write: true}, nil)
	if err != nil || len(res) != 6 {
		t.Fatalf("%d results, %v", len(res), err)
	}
	if !bytes.Equal(d.b, before) {
		t.Error("bench --write changed the disk")
	}
	// A disk that fails the read of what the writes would write back:
	// no write at all.
	d.fail = 3 << 20
	w := &countWrites{memDisk: d}
	if _, err := Bench(context.Background(), w, BenchOptions{Duration: 1, Write: true}, nil); err == nil || w.n.Load() != 0 {
		t.Errorf("failed save: %d writes, %v", w.n.Load(), err)
	}
}

type countWrites struct {
	*memDisk
	n atomic.Int64
}

func (c *countWrites) WriteAt(p []byte, off int64) (int, error) {
	c.n.Add(1)
	return c.memDisk.WriteAt(p, off)
}

// TestProgressHuge: the percentage of a 128 PiB copy does not overflow.
func TestProgressHuge(t *testing.T) {
	var b bytes.Buffer
	p := &Progress{w: &b, label: "read", total: 1 << 57}
	p.done.Store(1<<57 - 1<<50)
	if l := p.line(); !strings.Contains(l, "of 128.00 PiB (99%)") {
		t.Errorf("%q", l)
	}
}

// TestProgressPlain: off a terminal, progress is plain lines, never "\r":
// one at each tenth of the total passed (several tenths at once: one
// line), one every PlainEvery without, and the final line.
func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	start := time.Unix(1000, 0)
	p := &Progress{w: &b, label: "read e1.2", total: 100 << 20, every: PlainEvery, start: time.Now(), lastLine: start}
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	for _, c := range []struct {
		done  int64
		now   time.Time
		lines int
	}{
		{5 << 20, at(1), 0},   // under 10%
		{12 << 20, at(2), 1},  // 10%
		{15 << 20, at(3), 1},  // same tenth
		{15 << 20, at(32), 2}, // PlainEvery without a tenth
		{15 << 20, at(33), 2},
		{47 << 20, at(34), 3},  // 40%: one line for three tenths
		{100 << 20, at(35), 3}, // 100%: the final line says it
	} {
		p.done.Store(c.done)
		p.tick(c.now)
		if n := strings.Count(b.String(), "\n"); n != c.lines {
			t.Fatalf("done %d at %v: %d lines, want %d:\n%s", c.done, c.now.Sub(start), n, c.lines, b.String())
		}
	}
	p.stop = make(chan struct{})
	p.Finish()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if strings.Contains(b.String(), "\r") || len(lines) != 4 {
		t.Fatalf("want 4 plain lines:\n%q", b.String())
	}
	for i, want := range []string{"read e1.2: 12.0 MiB of 100.0 MiB (12%), ", "(15%)", "(47%)", "read e1.2: 100.0 MiB of 100.0 MiB (100%), "} {
		if !strings.Contains(lines[i], want) || strings.HasSuffix(lines[i], " ") {
			t.Errorf("line %d %q: want %q, no padding", i, lines[i], want)
		}
	}
}

// TestProgressTerminal: on a terminal the line is rewritten in place with
// "\r" at every tick, and the final line ends it.
func TestProgressTerminal(t *testing.T) {
	var b bytes.Buffer
	p := &Progress{w: &b, label: "write e1.2", total: 10 << 20, terminal: true, every: PlainEvery, start: time.Now(), stop: make(chan struct{})}
	p.done.Store(1 << 20)
	p.tick(time.Now())
	p.tick(time.Now())
	p.done.Store(10 << 20)
	p.Finish()
	out := b.String()
	if strings.Count(out, "\r") != 3 || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || !strings.HasPrefix(out, "\rwrite e1.2: 1.0 MiB of 10.0 MiB (10%)") || !strings.Contains(out, "\rwrite e1.2: 10.0 MiB of 10.0 MiB (100%)") {
		t.Errorf("%q", out)
	}
}

// pieceDisk records the reads of a copy: how many were outstanding at
// once at most, and whether any but a copy's first and last started or
// ended off a sector boundary.
type pieceDisk struct {
	*memDisk
	mu             sync.Mutex
	now, most      int
	unaligned      int
	first, lastEnd int64
}

func (p *pieceDisk) ReadAt(b []byte, off int64) (int, error) {
	p.mu.Lock()
	p.now++
	p.most = max(p.most, p.now)
	if (off != p.first && off%512 != 0) || (off+int64(len(b)) != p.lastEnd && (off+int64(len(b)))%512 != 0) {
		p.unaligned++
	}
	p.mu.Unlock()
	time.Sleep(time.Millisecond) // long enough for the other pieces to start
	n, err := p.memDisk.ReadAt(b, off)
	p.mu.Lock()
	p.now--
	p.mu.Unlock()
	return n, err
}

// TestReadToPieces: a copy keeps ReadPieces reads of each chunk
// outstanding at once, cut at sector boundaries, and returns exactly the
// bytes asked, from an unaligned offset too.
func TestReadToPieces(t *testing.T) {
	m := newMemDisk(3 * ChunkSize)
	off, length := int64(1000), int64(2*ChunkSize+12345)
	d := &pieceDisk{memDisk: m, first: off, lastEnd: off + length}
	var out bytes.Buffer
	n, err := ReadTo(context.Background(), d, off, length, &out, nil)
	if err != nil || n != length {
		t.Fatalf("ReadTo: %d bytes, %v", n, err)
	}
	if !bytes.Equal(out.Bytes(), m.b[off:off+length]) {
		t.Fatal("copy differs from the disk")
	}
	if d.most < ReadPieces {
		t.Errorf("at most %d reads outstanding, want %d", d.most, ReadPieces)
	}
	if d.unaligned > 0 {
		t.Errorf("%d reads cut off a sector boundary", d.unaligned)
	}
}

// TestReadChunkFailure: when a piece of a chunk fails, only the pieces
// before it count, with its error; a piece that ends at the end of the
// disk counts up to there, with io.EOF.
func TestReadChunkFailure(t *testing.T) {
	m := newMemDisk(1 << 20)
	m.fail = 600 << 10
	b := make([]byte, 1<<20)
	n, err := readChunk(context.Background(), m, b, 0)
	if err == nil || n != 512<<10 {
		t.Errorf("failing at 600 KiB: %d bytes, %v; want the first two pieces (512 KiB) and the error", n, err)
	}
	m.fail = 0
	n, err = readChunk(context.Background(), m, b, 300<<10)
	if !errors.Is(err, io.EOF) || n != (1<<20)-(300<<10) {
		t.Errorf("past the end: %d bytes, %v; want %d and io.EOF", n, err, (1<<20)-(300<<10))
	}
	if !bytes.Equal(b[:n], m.b[300<<10:]) {
		t.Error("bytes differ from the disk")
	}
}

// stallDisk's reads before fail wait until their context ends; a read
// past fail fails at once.
type stallDisk struct {
	*memDisk
	fail int64
}

var errStallFailed = errors.New("sector failed")

func (s *stallDisk) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off+int64(len(p)) > s.fail {
		return 0, errStallFailed
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestReadChunkFailureCause: a piece that fails ends the pieces before it
// still under way; the copy reports that failure, not their cancellation
// (aoe read exited 130, "interrupted", for a target's ATA error).
func TestReadChunkFailureCause(t *testing.T) {
	d := &stallDisk{memDisk: newMemDisk(1 << 20), fail: 600 << 10}
	var out bytes.Buffer
	n, err := ReadTo(context.Background(), d, 0, 1<<20, &out, nil)
	if !errors.Is(err, errStallFailed) || n != 0 || out.Len() != 0 {
		t.Errorf("ReadTo: %d bytes, %v; want 0 and %v", n, err, errStallFailed)
	}
	// The caller's own cancellation stays a cancellation.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := readChunk(ctx, &stallDisk{memDisk: newMemDisk(1 << 20), fail: 2 << 20}, make([]byte, 1<<20), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled by the caller: %v", err)
	}
}
