package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/blockio"
)

// HangAfter is how long one operation may take before the soak calls it a
// hang (the process then panics, naming the seed and the operation).
var HangAfter = 60 * time.Second

// Device is what a scenario's operations run on: an initiator.Disk, or
// the NBD server through a client.
type Device interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
}

// PartialWriter is a Device whose failed write past the end of the disk
// may have written the part before the end (aoe write from a stream: it
// cannot know the length before it has written up to the end).
type PartialWriter interface {
	PartialPastEnd() bool
}

// Lab is a scenario set up in memory: one network per host interface, the
// peer on each, the impostor too when there is one, and the model.
type Lab struct {
	Sc       *Scenario
	Target   *aoetest.Target
	Impostor *aoetest.Target
	Peer     *Peer
	Model    *Model
	Nets     []*aoetest.Network

	// OpenEachOp says that every operation opens the disk again (the
	// commands): chaos on Query Config and IDENTIFY may then fail any.
	OpenEachOp bool
	// FinalChunk is the size of Final's reads (default 256 KiB).
	FinalChunk int64

	impostorDisk []byte // as it was
	batches      [][]int
}

// NewLab sets up sc; everything is closed at the end of the test.
func NewLab(t testing.TB, sc *Scenario) *Lab {
	l := &Lab{Sc: sc}
	l.Target, l.Impostor = sc.NewTarget()
	l.Model = NewModel(l.Target.Disk)
	if l.Impostor != nil {
		l.impostorDisk = append([]byte(nil), l.Impostor.Disk...)
	}
	l.Peer = NewPeer(l.Target, sc.Seed)
	for _, mtu := range sc.MTUs {
		nw := &aoetest.Network{}
		l.Peer.Attach(nw, mtu)
		if l.Impostor != nil {
			nw.Serve(t, l.Impostor)
		}
		l.Nets = append(l.Nets, nw)
	}
	t.Cleanup(l.Peer.Close)
	return l
}

// Interface is host interface i's name.
func Interface(i int) string { return fmt.Sprintf("soak%d", i) }

// Client opens a client on host interface i (closed by the caller).
func (l *Lab) Client(i int) *initiator.Client {
	c := initiator.New(initiator.Interface{Name: Interface(i), MAC: HostMAC(i), MTU: l.Sc.MTUs[i]}, l.Nets[i].Port(HostMAC(i)), &initiator.Config{RTO: 10 * time.Millisecond, MaxRTO: 40 * time.Millisecond})
	return c
}

// Open finds the disk on every interface and opens it as the commands
// do (blockio.Open), under the first operation's phase.
func (l *Lab) Open(ctx context.Context) (*blockio.Target, *initiator.Group, error) {
	var cs []*initiator.Client
	for i := range l.Sc.MTUs {
		cs = append(cs, l.Client(i))
	}
	g := initiator.NewGroup(cs...)
	if len(l.Sc.Ops) > 0 {
		l.Peer.SetMix(l.Sc.Phases[l.Sc.Ops[0].Phase])
	}
	t, err := blockio.Open(ctx, g, Shelf, Slot, blockio.OpenOptions{Timeout: 50 * time.Millisecond, Disk: DiskOptions})
	if err != nil {
		g.Close()
		return nil, nil, err
	}
	return t, g, nil
}

// CheckOpen checks the outcome of opening the disk (serial: the opened
// disk's IDENTIFY serial). With an impostor the open is refused with
// a ConflictError, or, when one answer came after the others' grace (that
// path then carries nothing until it proves the same disk), it opens one
// of the two: the model is then that one's disk. Without an impostor it
// may fail only when the first phase's chaos hits Query Config or
// IDENTIFY. It reports whether the scenario goes on.
func (l *Lab) CheckOpen(t testing.TB, serial string, err error, st *Stats) bool {
	t.Helper()
	switch {
	case l.Impostor != nil && err == nil:
		st.Add(func(s *Stats) { s.OneOfTwo++ })
		switch serial {
		case l.Target.Serial:
		case l.Impostor.Serial:
			// The impostor's disk is the one to check, the peer's must
			// stay untouched.
			l.Target, l.Impostor = l.Impostor, l.Target
			l.impostorDisk = l.Impostor.Read(0, int(l.Sc.Size()))
			l.Model = NewModel(l.Target.Read(0, int(l.Sc.Size())))
		default:
			t.Errorf("%v: opened a disk of serial %q", l.Sc, serial)
			return false
		}
		return true
	case l.Impostor != nil && !errors.As(err, new(*initiator.ConflictError)):
		t.Errorf("%v: with an impostor, open failed with %v, want a ConflictError", l.Sc, err)
	case l.Impostor != nil:
		st.Add(func(s *Stats) { s.Refused++ })
	case err != nil:
		st.Fail("open:" + Kind(err))
		if len(l.Sc.Ops) == 0 || !l.Sc.Phases[l.Sc.Ops[0].Phase].Control {
			t.Errorf("%v: open failed without chaos on its commands: %v", l.Sc, err)
		}
	default:
		return true
	}
	return false
}

// forgetDamage makes what the peer wrote at a wrong LBA unknown.
func (l *Lab) forgetDamage() {
	for _, d := range l.Peer.TakeDamage() {
		l.Model.ForgetSectors(d[0], d[1])
	}
}

// Phase sets the peer's phase for op, and its switch; the returned
// function undoes the switch's timer. benign reports whether the phases
// the op runs under answer every data request right (the op may then fail
// only by the deadline).
func (l *Lab) Phase(op Op) (stop func(), benign bool) {
	ph := l.Sc.Phases
	l.Peer.SetMix(ph[op.Phase])
	next := ph[(op.Phase+1)%len(ph)]
	hostile := func(m Mix) bool { return m.Corrupting() || l.OpenEachOp && m.Control }
	benign = !hostile(ph[op.Phase])
	if op.Switch <= 0 {
		return func() {}, benign
	}
	benign = benign && !hostile(next)
	var wg sync.WaitGroup
	wg.Add(1)
	tm := time.AfterFunc(op.Switch, func() {
		defer wg.Done()
		l.Peer.SetMix(next)
	})
	return func() {
		if tm.Stop() {
			wg.Done()
		}
		wg.Wait()
	}, benign
}

// Watch panics when the operation has not ended after HangAfter; call the
// function returned when it ends.
func (l *Lab) Watch(i int) func() {
	op := l.Sc.Ops[i]
	tm := time.AfterFunc(HangAfter, func() {
		panic(fmt.Sprintf("soak: %v: op %d (%v) hangs (more than %v)", l.Sc, i, op, HangAfter))
	})
	return func() { tm.Stop() }
}

// Violation reports a broken invariant of op i.
func (l *Lab) Violation(t testing.TB, i int, format string, args ...any) {
	t.Helper()
	op := l.Sc.Ops[i]
	t.Errorf("%v\n\top %d: %v under [%v]: %s (rerun: AOE_SOAK_SEED=%d, same test)", l.Sc, i, op, l.Sc.Phases[op.Phase], fmt.Sprintf(format, args...), l.Sc.Seed)
}

// Do runs op i on dev and checks the invariant; it reports false after a
// violation (the scenario then stops).
func (l *Lab) Do(t testing.TB, dev Device, i int, st *Stats) bool {
	t.Helper()
	return l.DoBatch(t, dev, []int{i}, st)
}

// Batch cuts the scenario's operations into batches of up to max that
// may run at once: reads and writes whose sectors (edges included, which
// an unaligned write reads first) are disjoint and not adjacent, so that
// the model of each does not depend on the others' order. A flush runs
// alone. The operations of a batch take its first one's phase.
func (l *Lab) Batch(max int) [][]int {
	defer func() {
		for _, b := range l.batches {
			for _, i := range b[1:] {
				l.Sc.Ops[i].Phase, l.Sc.Ops[i].Switch = l.Sc.Ops[b[0]].Phase, 0
			}
		}
	}()
	l.batches = l.batch(max)
	return l.batches
}

func (l *Lab) batch(max int) [][]int {
	var out [][]int
	var cur []int
	var spans [][2]int64
	size := l.Sc.Size()
	for i, op := range l.Sc.Ops {
		first := min(op.Off, size) / wire.SectorSize
		end := (min(op.Off+int64(op.Len), size) + wire.SectorSize - 1) / wire.SectorSize
		fits := op.Kind != OpSync && len(cur) < max
		for _, sp := range spans {
			if first < sp[1]+1 && sp[0] < end+1 {
				fits = false
			}
		}
		if !fits && len(cur) > 0 {
			out = append(out, cur)
			cur, spans = nil, nil
		}
		cur = append(cur, i)
		spans = append(spans, [2]int64{first, end})
		if op.Kind == OpSync {
			out = append(out, cur)
			cur, spans = nil, nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// result is what an operation returned.
type result struct {
	n   int
	err error
	buf []byte
}

func exec(dev Device, op Op) (r result) {
	switch op.Kind {
	case OpRead:
		r.buf = make([]byte, op.Len)
		r.n, r.err = dev.ReadAt(r.buf, op.Off)
	case OpWrite:
		r.n, r.err = dev.WriteAt(op.Data, op.Off)
	case OpSync:
		r.err = dev.Sync()
	}
	return r
}

// DoBatch runs the operations batch (see Batch) on dev at once, under the
// first one's phase, and checks the invariant of each; it reports false
// after a violation (the scenario then stops).
func (l *Lab) DoBatch(t testing.TB, dev Device, batch []int, st *Stats) bool {
	t.Helper()
	stop, benign := l.Phase(l.Sc.Ops[batch[0]])
	unwatch := l.Watch(batch[0])
	res := make([]result, len(batch))
	var wg sync.WaitGroup
	for k, i := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[k] = exec(dev, l.Sc.Ops[i])
		}()
	}
	wg.Wait()
	unwatch()
	stop()
	if len(batch) > 1 {
		st.Add(func(s *Stats) { s.Concurrent += len(batch) })
	}
	// The model first: the acknowledged writes, the failed ones
	// forgotten, then what the peer wrote at wrong LBAs meanwhile (also
	// into the sectors of another write of the batch).
	for k, i := range batch {
		l.apply(dev, l.Sc.Ops[i], res[k])
	}
	l.forgetDamage()
	for k, i := range batch {
		if !l.check(t, i, res[k], benign, st) {
			return false
		}
	}
	return true
}

// apply updates the model with a write's outcome.
func (l *Lab) apply(dev Device, op Op, r result) {
	if op.Kind != OpWrite {
		return
	}
	if op.Off+int64(op.Len) > l.Sc.Size() {
		if pw, ok := dev.(PartialWriter); ok && pw.PartialPastEnd() && r.err != nil {
			first := op.Off / wire.SectorSize * wire.SectorSize
			l.Model.Forget(first, l.Sc.Size()-first) // clamped to the disk
		}
		return
	}
	switch {
	case r.err == nil && r.n == op.Len:
		l.Model.Write(op.Off, op.Data)
	case r.err != nil && op.Len > 0:
		first := op.Off / wire.SectorSize * wire.SectorSize
		l.Model.Forget(first, (op.Off+int64(op.Len)+wire.SectorSize-1)/wire.SectorSize*wire.SectorSize-first)
	}
}

// check checks the invariant of op i after it returned r (the model
// updated by apply).
func (l *Lab) check(t testing.TB, i int, r result, benign bool, st *Stats) bool {
	t.Helper()
	op := l.Sc.Ops[i]
	size := l.Sc.Size()
	inRange := op.Off+int64(op.Len) <= size
	n, err, buf := r.n, r.err, r.buf
	st.Add(func(s *Stats) {
		s.Ops++
		switch op.Kind {
		case OpRead:
			s.Reads++
		case OpWrite:
			s.Writes++
		default:
			s.Syncs++
		}
	})
	ok := true
	switch op.Kind {
	case OpRead:
		want := min(max(size-op.Off, 0), int64(op.Len))
		if err != nil && !errors.Is(err, io.EOF) {
			ok = l.failed(t, i, err, benign && inRange, st)
			break
		}
		switch {
		case err == nil && n != op.Len:
			l.Violation(t, i, "read %d bytes without an error", n)
			return false
		case err == nil && !inRange && op.Len > 0:
			l.Violation(t, i, "read past the end without an error")
			return false
		case int64(n) != want:
			l.Violation(t, i, "read %d bytes with %v, want %d", n, err, want)
			return false
		}
		bad, compared := l.Model.Check(op.Off, buf[:n])
		st.Add(func(s *Stats) { s.BytesChecked += compared })
		if bad >= 0 {
			l.Violation(t, i, "WRONG BYTE: read returned %#02x at offset %d, the disk holds %#02x", buf[bad-op.Off], bad, l.Model.data[bad])
			return false
		}
	case OpWrite:
		if err != nil {
			if !inRange {
				st.Fail(Kind(err))
				break
			}
			ok = l.failed(t, i, err, benign, st)
			break
		}
		if !inRange {
			l.Violation(t, i, "write past the end acknowledged")
			return false
		}
		if n != op.Len {
			l.Violation(t, i, "write of %d acknowledged %d bytes without an error", op.Len, n)
			return false
		}
		st.Add(func(s *Stats) { s.BytesWrote += int64(op.Len) })
		if bad, _ := l.Model.Check(op.Off, l.Target.Read(int(op.Off), op.Len)); bad >= 0 {
			l.Violation(t, i, "ACKNOWLEDGED WRITE NOT ON THE DISK: the target holds %#02x at offset %d, written %#02x", l.Target.Read(int(bad), 1)[0], bad, op.Data[bad-op.Off])
			return false
		}
	case OpSync:
		if err != nil {
			ok = l.failed(t, i, err, benign, st)
		}
	}
	return ok
}

// Timing reports whether an error of kind k (see Kind) is one of time
// alone: the deadline passed, or the answers to Query Config came after
// the collection's timeout (on a loaded machine, a stall).
func Timing(k string) bool {
	return strings.HasSuffix(k, "deadline") || strings.HasSuffix(k, "not-found") || strings.HasSuffix(k, "did not answer")
}

// failed counts a failed operation; a failure where only the deadline may
// fail it is a violation.
func (l *Lab) failed(t testing.TB, i int, err error, benign bool, st *Stats) bool {
	t.Helper()
	k := Kind(err)
	st.Fail(k)
	if benign && !Timing(k) {
		l.Violation(t, i, "failed under a phase that answers right: %v", err)
		return false
	}
	return true
}

// Final reads the whole disk through dev with an honest peer, compares it
// with the model, and compares the target's own disk with the model.
func (l *Lab) Final(t testing.TB, dev Device, st *Stats) {
	t.Helper()
	l.Peer.SetMix(Mix{})
	size := l.Sc.Size()
	buf := make([]byte, size)
	chunk := l.FinalChunk
	if chunk <= 0 {
		chunk = 256 << 10
	}
	for off := int64(0); off < size; off += chunk {
		end := min(off+chunk, size)
		// A stalled process (a loaded machine) may pass the short
		// deadline: that alone is tried again.
		for try := 1; ; try++ {
			n, err := dev.ReadAt(buf[off:end], off)
			if err == nil && n == int(end-off) {
				break
			}
			if err != nil && Timing(Kind(err)) && try < 3 {
				st.Fail("final:" + Kind(err))
				continue
			}
			t.Errorf("%v: final read of %d bytes at %d from an honest target: %d, %v", l.Sc, end-off, off, n, err)
			return
		}
	}
	bad, compared := l.Model.Check(0, buf)
	st.Add(func(s *Stats) { s.BytesChecked += compared })
	if bad >= 0 {
		t.Errorf("%v: WRONG BYTE in the final read: %#02x at offset %d, the disk holds %#02x (rerun: AOE_SOAK_SEED=%d, same test)", l.Sc, buf[bad], bad, l.Model.data[bad], l.Sc.Seed)
	}
	l.CheckDisk(t)
}

// CheckDisk compares the target's disk with the model where it is known:
// nothing was written that was not acknowledged or left unknown.
func (l *Lab) CheckDisk(t testing.TB) {
	t.Helper()
	disk := l.Target.Read(0, int(l.Sc.Size()))
	if bad, _ := l.Model.Check(0, disk); bad >= 0 {
		t.Errorf("%v: the target's disk holds %#02x at offset %d, the model %#02x: written without being asked (rerun: AOE_SOAK_SEED=%d, same test)", l.Sc, disk[bad], bad, l.Model.data[bad], l.Sc.Seed)
	}
	if l.Impostor != nil && !bytes.Equal(l.Impostor.Read(0, len(l.impostorDisk)), l.impostorDisk) {
		t.Errorf("%v: the impostor's disk was written", l.Sc)
	}
}
