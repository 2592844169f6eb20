package blockio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goaoe/aoe/internal/units"
)

// ChunkSize is the size of the I/Os a copy issues; each is cut into frames
// that fill the target's window. A copy holds about three (one read, one
// written, one waiting): 2 MiB keeps the window full across their ends
// (ReadPieces) and `aoe read` at about 19 MiB resident; with 8 MiB it held
// 31 MiB and zeroed 24 MiB of fresh pages at the start of every copy.
const ChunkSize = 2 << 20

// Progress reports a copy's progress (bytes, rate, ETA). On a terminal it
// is one line rewritten in place ("\r") twice a second; elsewhere (a log
// file, a pipe) it prints plain lines, never "\r": one at each tenth of a
// known total and one every PlainEvery otherwise, then the final line. A
// nil *Progress prints nothing.
type Progress struct {
	w        io.Writer
	label    string
	total    int64
	terminal bool
	done     atomic.Int64
	start    time.Time
	stop     chan struct{}
	wg       sync.WaitGroup
	// Of the plain lines, used by the ticking goroutine only: when the
	// last was printed, and the last tenth of total printed.
	every    time.Duration
	lastLine time.Time
	lastStep int
}

// PlainEvery is how often a Progress that is not on a terminal prints a
// line when no tenth of the total was passed meanwhile.
const PlainEvery = 30 * time.Second

// NewProgress starts reporting on w the progress of a copy of total bytes
// (0: unknown). terminal says whether w is a terminal: an in-place line
// there, plain lines elsewhere.
func NewProgress(w io.Writer, label string, total int64, terminal bool) *Progress {
	p := &Progress{w: w, label: label, total: total, terminal: terminal, start: time.Now(), stop: make(chan struct{}), every: PlainEvery}
	p.lastLine = p.start
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				p.tick(now)
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

// tick prints what is due at now.
func (p *Progress) tick(now time.Time) {
	switch {
	case p.terminal:
		fmt.Fprintf(p.w, "\r%-72s", p.line())
	case p.due(now):
		fmt.Fprintln(p.w, p.line())
	}
}

// due reports whether a plain line is due at now: a tenth of the total
// (10% to 90%; the final line says 100%) was passed since the last line,
// or p.every went by without one.
func (p *Progress) due(now time.Time) bool {
	if p.total > 0 {
		step := int(float64(p.done.Load()) * 10 / float64(p.total)) // done*10 overflows past 800 PiB
		if step > p.lastStep && step < 10 {
			p.lastStep, p.lastLine = step, now
			return true
		}
	}
	if now.Sub(p.lastLine) >= p.every {
		p.lastLine = now
		return true
	}
	return false
}

// Add counts n bytes done.
func (p *Progress) Add(n int64) {
	if p != nil {
		p.done.Add(n)
	}
}

// Finish prints the final line and stops.
func (p *Progress) Finish() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	if p.terminal {
		fmt.Fprintf(p.w, "\r%-72s\n", p.line())
		return
	}
	fmt.Fprintln(p.w, p.line())
}

// line is the progress now, without padding.
func (p *Progress) line() string {
	done := p.done.Load()
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el
	}
	line := fmt.Sprintf("%s: %s", p.label, units.IEC(done))
	if p.total > 0 {
		line += fmt.Sprintf(" of %s (%d%%)", units.IEC(p.total), int(float64(done)*100/float64(p.total))) // done*100 overflows past 82 PiB
	}
	line += fmt.Sprintf(", %.1f MB/s", rate/1e6)
	if p.total > 0 && rate > 0 && done < p.total {
		eta := time.Duration(float64(p.total-done) / rate * float64(time.Second)).Round(time.Second)
		line += fmt.Sprintf(", ETA %v", eta)
	}
	return line
}

// ErrOutOfRange is an offset or a length outside the disk: the user's
// mistake (the aoe command exits 2), never a failure of the disk.
var ErrOutOfRange = errors.New("outside the disk")

// sizer is a disk that knows its size (initiator.Disk, File).
type sizer interface{ Size() int64 }

// CheckRange returns an error wrapping ErrOutOfRange unless the length
// bytes at off lie within a disk of size bytes. It cannot overflow: off
// and length may be anything an int64 holds.
func CheckRange(size, off, length int64) error {
	switch {
	case off < 0 || length < 0:
		return fmt.Errorf("%w: negative offset %d or length %d", ErrOutOfRange, off, length)
	case off > size:
		return fmt.Errorf("%w: offset %d is past the end (%d bytes)", ErrOutOfRange, off, size)
	case length > size-off: // size-off >= 0: no overflow
		return fmt.Errorf("%w: %d bytes at %d pass the end (%d bytes; %d from there)", ErrOutOfRange, length, off, size, size-off)
	}
	return nil
}

// ReadTo copies length bytes of d from off to w, reading the next chunk
// while the previous one is written, each chunk as ReadPieces reads at
// once (readChunk). It returns the bytes written and the
// first error (of d or of w). Only bytes d returned without an error reach
// w. A range outside d (when d has a Size) fails with an error wrapping
// ErrOutOfRange before anything is read; a disk that ends early fails with
// io.ErrUnexpectedEOF.
func ReadTo(ctx context.Context, d io.ReaderAt, off, length int64, w io.Writer, p *Progress) (int64, error) {
	limit := int64(math.MaxInt64)
	if s, ok := d.(sizer); ok {
		limit = s.Size()
	}
	if err := CheckRange(limit, off, length); err != nil {
		return 0, err
	}
	pos, end := off, off+length // off+length <= limit: no overflow
	var total int64
	var bufs chunks
	err := readAhead(ctx, func() ([]byte, bool, error) {
		if pos >= end {
			return nil, false, nil
		}
		size := min(ChunkSize, end-pos)
		if cut := (pos + size) % 512; pos+size < end && cut < size {
			// End on a sector boundary: the next chunks then start on
			// one, and no piece but the copy's edges needs the disk's
			// read of whole edge sectors.
			size -= cut
		}
		b := bufs.get()[:size]
		n, err := readChunk(ctx, d, b, pos)
		switch {
		case err != nil && !errors.Is(err, io.EOF):
			// What the disk returned with a failure is not data.
			n = 0
		case n == len(b):
			err = nil
		default:
			err = fmt.Errorf("%w: the disk ended at %d, before %d", io.ErrUnexpectedEOF, pos+int64(n), end)
		}
		pos += int64(n)
		return b[:n], pos < end, err
	}, func(b []byte, rerr error) error {
		if len(b) > 0 {
			n, err := w.Write(b)
			total += int64(n)
			p.Add(int64(n))
			if err != nil {
				return err
			}
		}
		bufs.put(b)
		return rerr
	})
	return total, err
}

// ReadPieces is how many reads a chunk of ReadTo is cut into, all
// outstanding at once: the disk's window is kept full across the end of
// each (while one waits for its last frames, the others' frames go), as
// aoe bench's sequential test does with its queue depth.
const ReadPieces = 4

// readChunk reads b at off from d as ReadPieces reads at once, cut at
// sector boundaries. It returns the bytes read from the start of b up to
// the first piece that came short, and that piece's error: nothing after
// a failure counts.
func readChunk(ctx context.Context, d io.ReaderAt, b []byte, off int64) (int, error) {
	const sector = 512
	var cuts [ReadPieces + 1]int
	cuts[ReadPieces] = len(b)
	for k := 1; k < ReadPieces; k++ {
		at := off + int64(k*len(b)/ReadPieces)
		cuts[k] = max(int(at-at%sector-off), cuts[k-1])
	}
	// A failed piece ends the others (their bytes would not count), its
	// error the cause: a piece before it that was ended so reports it.
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		ns   [ReadPieces]int
		errs [ReadPieces]error
		wg   sync.WaitGroup
	)
	for k := range ReadPieces {
		if cuts[k] == cuts[k+1] {
			continue
		}
		wg.Go(func() {
			ns[k], errs[k] = readAt(ctx, d, b[cuts[k]:cuts[k+1]], off+int64(cuts[k]))
			if errs[k] != nil && !errors.Is(errs[k], io.EOF) {
				cancel(errs[k])
			}
		})
	}
	wg.Wait()
	n := 0
	for k := range ReadPieces {
		n += ns[k]
		if ns[k] < cuts[k+1]-cuts[k] || errs[k] != nil {
			err := errs[k]
			if parent.Err() == nil && errors.Is(err, context.Canceled) {
				err = context.Cause(ctx) // another piece's failure ended it
			}
			return n, err
		}
	}
	return n, nil
}

// chunks recycles the buffers of a copy: a fresh buffer is zeroed
// by the runtime, as many bytes cleared as the copy moves.
type chunks struct {
	free chan []byte
	once sync.Once
}

func (c *chunks) init() { c.once.Do(func() { c.free = make(chan []byte, 4) }) }

// get returns a buffer of ChunkSize bytes.
func (c *chunks) get() []byte {
	c.init()
	select {
	case b := <-c.free:
		return b[:ChunkSize]
	default:
		return make([]byte, ChunkSize)
	}
}

// put gives b back once its content is used.
func (c *chunks) put(b []byte) {
	c.init()
	if cap(b) < ChunkSize {
		return
	}
	select {
	case c.free <- b[:0]:
	default:
	}
}

// readAhead calls next in a goroutine, up to two chunks ahead of use, until
// next says there is no more or fails; use gets every chunk, with next's
// error, in order. It returns use's first error, else ctx's.
func readAhead(ctx context.Context, next func() (b []byte, more bool, err error), use func(b []byte, err error) error) error {
	type chunk struct {
		b   []byte
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan chunk, 2)
	go func() {
		defer close(ch)
		for {
			b, more, err := next()
			select {
			case ch <- chunk{b, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || !more {
				return
			}
		}
	}()
	for c := range ch {
		if err := use(c.b, c.err); err != nil {
			return err
		}
	}
	return ctx.Err()
}

type contextReaderAt interface {
	ReadAtContext(ctx context.Context, p []byte, off int64) (int, error)
}

type contextWriterAt interface {
	WriteAtContext(ctx context.Context, p []byte, off int64) (int, error)
}

func readAt(ctx context.Context, d io.ReaderAt, b []byte, off int64) (int, error) {
	if c, ok := d.(contextReaderAt); ok {
		return c.ReadAtContext(ctx, b, off)
	}
	return d.ReadAt(b, off)
}

func writeAt(ctx context.Context, d io.WriterAt, b []byte, off int64) (int, error) {
	if c, ok := d.(contextWriterAt); ok {
		return c.WriteAtContext(ctx, b, off)
	}
	return d.WriteAt(b, off)
}

// WriteFrom copies r to d at off until r ends, reading the next chunk
// while the previous one is written. It returns the bytes written. When d
// has a Size and r goes on past its end, WriteFrom writes up to the end
// and fails with an error wrapping ErrOutOfRange (the input does not fit:
// the user's mistake).
func WriteFrom(ctx context.Context, d io.WriterAt, off int64, r io.Reader, p *Progress) (int64, error) {
	limit := int64(math.MaxInt64)
	if s, ok := d.(sizer); ok {
		limit = s.Size()
	}
	if err := CheckRange(limit, off, 0); err != nil {
		return 0, err
	}
	var total int64
	var bufs chunks
	err := readAhead(ctx, func() ([]byte, bool, error) {
		b := bufs.get()
		n, err := io.ReadFull(r, b)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = io.EOF
		}
		return b[:n], true, err
	}, func(b []byte, rerr error) error {
		var past error
		if room := limit - off - total; int64(len(b)) > room { // off+total <= limit
			past = fmt.Errorf("%w: the input goes on past the end (%d bytes) after %d bytes at %d", ErrOutOfRange, limit, room+total, off)
			b = b[:room]
		}
		if len(b) > 0 {
			n, err := writeAt(ctx, d, b, off+total)
			total += int64(n)
			p.Add(int64(n))
			if err != nil {
				return err
			}
		}
		bufs.put(b)
		if past != nil {
			return past
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return fmt.Errorf("reading the input: %w", rerr)
		}
		return nil
	})
	return total, err
}
