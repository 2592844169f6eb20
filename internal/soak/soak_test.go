package soak

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/goaoe/aoe/internal/blockio"
	"github.com/goaoe/aoe/internal/nbd"
)

// The fixed seeds of `make test`: each draws its own scenario (see
// NewScenario); a failure names its seed, which AOE_SOAK_SEED=N reruns
// alone (go test -run Soak ./internal/soak).
const (
	fixedSeeds = 30
	fixedOps   = 40
)

// seedList returns the seeds to run: AOE_SOAK_SEED alone when set, else
// n from first.
func seedList(t *testing.T, first uint64, n int) []uint64 {
	if s := os.Getenv("AOE_SOAK_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("AOE_SOAK_SEED=%q: %v", s, err)
		}
		return []uint64{seed}
	}
	var out []uint64
	for i := range n {
		out = append(out, first+uint64(i))
	}
	return out
}

// TestSoakDisk runs the fixed seeds on initiator.Disk (opened as the
// commands open it).
func TestSoakDisk(t *testing.T) {
	var st Stats
	for _, seed := range seedList(t, 1, fixedSeeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runSeed(t, seed, fixedOps, false, &st) })
	}
	t.Logf("executions: %v", &st)
}

// TestSoakNBD runs the fixed seeds through the NBD server.
func TestSoakNBD(t *testing.T) {
	var st Stats
	for _, seed := range seedList(t, 1001, fixedSeeds/2) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runSeed(t, seed, fixedOps, true, &st) })
	}
	t.Logf("executions: %v", &st)
}

// backendErr is the disk behind the NBD server: it keeps the error the
// disk returned last, so that an NBD EIO can be told apart (deadline or
// bad reply) for the invariant.
type backendErr struct {
	Device
	mu  sync.Mutex
	err error
}

func (b *backendErr) keep(err error) error {
	if err != nil {
		b.mu.Lock()
		b.err = err // the last failure (of any request under way)
		b.mu.Unlock()
	}
	return err
}

func (b *backendErr) ReadAt(p []byte, off int64) (int, error) {
	n, err := b.Device.ReadAt(p, off)
	return n, b.keep(err)
}

func (b *backendErr) WriteAt(p []byte, off int64) (int, error) {
	n, err := b.Device.WriteAt(p, off)
	return n, b.keep(err)
}

func (b *backendErr) Sync() error { return b.keep(b.Device.Sync()) }

// nbdDevice is the NBD client whose EIO carries the disk's error.
type nbdDevice struct {
	c *NBDClient
	b *backendErr
}

func (d *nbdDevice) wrap(err error) error {
	var ne *NBDError
	if errors.As(err, &ne) && ne.Errno == 5 {
		d.b.mu.Lock()
		defer d.b.mu.Unlock()
		return fmt.Errorf("%w (the disk: %w)", err, d.b.err)
	}
	return err
}

func (d *nbdDevice) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.c.ReadAt(p, off)
	return n, d.wrap(err)
}

func (d *nbdDevice) WriteAt(p []byte, off int64) (int, error) {
	n, err := d.c.WriteAt(p, off)
	return n, d.wrap(err)
}

func (d *nbdDevice) Sync() error { return d.wrap(d.c.Sync()) }

// runSeed runs one seed's scenario on the disk, or on the NBD server
// serving it.
func runSeed(t testing.TB, seed uint64, maxOps int, overNBD bool, st *Stats) {
	sc := NewScenario(seed, maxOps)
	l := NewLab(t, sc)
	st.Add(func(s *Stats) { s.Seeds++ })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tg, g, err := l.Open(ctx)
	for try := 1; try < 3 && errors.Is(err, blockio.ErrNotFound) && l.Impostor == nil; try++ {
		// The answer to Query Config came after the 50ms of the
		// collection: a stalled process on a loaded machine.
		st.Fail("open:retry")
		tg, g, err = l.Open(ctx)
	}
	serial := ""
	if err == nil {
		serial = tg.Identity().Serial
	}
	if !l.CheckOpen(t, serial, err, st) {
		return
	}
	defer g.Close()
	defer tg.Close()
	var dev Device = tg
	if overNBD {
		b := &backendErr{Device: tg}
		srv := &nbd.Server{Exports: []*nbd.Export{{Name: "soak", Size: tg.Size(), Backend: b}}}
		a, z := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.ServeConn(ctx, z)
		}()
		defer func() { a.Close(); <-done }()
		c, err := DialNBD(a)
		if err != nil {
			t.Errorf("seed %d: NBD handshake: %v", seed, err)
			return
		}
		if c.Size != tg.Size() {
			t.Errorf("seed %d: NBD export of %d bytes, the disk has %d", seed, c.Size, tg.Size())
			return
		}
		dev = &nbdDevice{c: c, b: b}
	}
	// Odd seeds run up to 4 operations at once (disjoint sectors).
	batch := 1
	if seed%2 == 1 {
		batch = 4
	}
	for _, b := range l.Batch(batch) {
		if !l.DoBatch(t, dev, b, st) {
			break
		}
	}
	l.Final(t, dev, st)
	st.AddPeer(l.Peer.Stats())
	st.AddPaths(tg.PathStats())
}
