package initiator_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/ata"
	"github.com/goaoe/aoe/internal/blockio"
)

// The invariant of every test here: every byte a read returns equals the
// disk's, or the read fails; a write that succeeds is on the disk.

// hostileDisk serves h (its Target a fresh disk of size bytes) on a new
// segment and opens the disk over one client.
func hostileDisk(t *testing.T, h *aoetest.Hostile, opts initiator.DiskOptions) (*initiator.Disk, *initiator.Client) {
	t.Helper()
	nw := &aoetest.Network{}
	nw.ServeHostile(t, h)
	c := nw.Client(t, "a0", hostA, h.Target.MTU)
	if opts.MinRTO == 0 {
		opts.MinRTO = time.Millisecond
	}
	if opts.Deadline == 0 {
		opts.Deadline = 3 * time.Second
	}
	return openDisk(t, h.Target, opts, c), c
}

// checkRead reads n bytes at off and reports the error; the bytes, when
// it succeeds, must be the disk's.
func checkRead(t *testing.T, d *initiator.Disk, tg *aoetest.Target, off int64, n int) error {
	t.Helper()
	p := make([]byte, n)
	got, err := d.ReadAt(p, off)
	if err != nil {
		return err
	}
	if got != n || !bytes.Equal(p, tg.Read(int(off), n)) {
		t.Fatalf("read of %d at %d succeeded with bytes that are not the disk's", n, off)
	}
	return nil
}

// checkWrite writes n random bytes at off and reports the error; when it
// succeeds they must be on the disk.
func checkWrite(t *testing.T, d *initiator.Disk, tg *aoetest.Target, off int64, n int) error {
	t.Helper()
	p := make([]byte, n)
	rand.Read(p)
	if _, err := d.WriteAt(p, off); err != nil {
		return err
	}
	if !bytes.Equal(tg.Read(int(off), n), p) {
		t.Fatalf("write of %d at %d acknowledged but not on the disk", n, off)
	}
	return nil
}

// TestDiskHostile: one misbehaviour per target, for reads and writes.
// Before replies were checked, the wrong LBA, short and remaining cases
// returned wrong bytes or acknowledged writes not done (the data was
// copied in the read loop before anything but tag, source, address and
// command was checked), and a short target ended as "did not answer".
func TestDiskHostile(t *testing.T) {
	testDiskHostile(t, func(t *testing.T, h *aoetest.Hostile) (*initiator.Disk, *initiator.Client, string) {
		d, c := hostileDisk(t, h, initiator.DiskOptions{})
		return d, c, tgtMAC.String()
	})
}

// testDiskHostile is TestDiskHostile over the disks open makes: it serves
// h and opens its disk over one client (interface a0), and returns them
// and the hostile peer's MAC.
func testDiskHostile(t *testing.T, open func(t *testing.T, h *aoetest.Hostile) (*initiator.Disk, *initiator.Client, string)) {
	for _, tc := range []struct {
		name string
		set  func(h *aoetest.Hostile)
		// ok: I/O must succeed; else it must fail with kind (a
		// *ReplyError) or an *ATAError when ata.
		ok   bool
		kind string
		ata  bool
	}{
		{name: "honest", set: func(*aoetest.Hostile) {}, ok: true},
		{name: "wrong-lba", set: func(h *aoetest.Hostile) { h.WrongLBA = 1 }, kind: "wrong LBA"},
		{name: "wrong-lba-far", set: func(h *aoetest.Hostile) { h.WrongLBA = 1000 }, kind: "wrong LBA"},
		{name: "short", set: func(h *aoetest.Hostile) { h.Short = true }, kind: "short"},
		{name: "remaining", set: func(h *aoetest.Hostile) { h.Remaining = 1 }, kind: "sectors remaining"},
		{name: "status-err", set: func(h *aoetest.Hostile) { h.Status = ata.StatusErr }, ata: true},
		{name: "status-df", set: func(h *aoetest.Hostile) { h.Status = ata.StatusDF }, ata: true},
		{name: "status-bsy", set: func(h *aoetest.Hostile) { h.Status = ata.StatusBSY }, ata: true},
		{name: "status-drq", set: func(h *aoetest.Hostile) { h.Status = ata.StatusDRQ }, ata: true},
		{name: "drop", set: func(h *aoetest.Hostile) { h.DropRate = 0.2 }, ok: true},
		{name: "duplicate", set: func(h *aoetest.Hostile) { h.DupRate = 0.5 }, ok: true},
		{name: "reorder", set: func(h *aoetest.Hostile) { h.ReorderRate = 0.3 }, ok: true},
		{name: "delay", set: func(h *aoetest.Hostile) { h.Delay = 2 * time.Millisecond }, ok: true},
		{name: "all-random", set: func(h *aoetest.Hostile) { h.DropRate, h.DupRate, h.ReorderRate = 0.1, 0.2, 0.2 }, ok: true},
	} {
		for _, write := range []bool{false, true} {
			name := tc.name + "/read"
			if write {
				name = tc.name + "/write"
			}
			t.Run(name, func(t *testing.T) {
				tg := diskTarget(1<<20, 1500)
				h := &aoetest.Hostile{Target: tg, Seed: 7}
				tc.set(h)
				d, c, mac := open(t, h)
				var err error
				for _, io := range [][2]int{{0, 65536}, {12345, 70000}, {1<<20 - 4096, 4096}} {
					if write {
						err = checkWrite(t, d, tg, int64(io[0]), io[1])
					} else {
						err = checkRead(t, d, tg, int64(io[0]), io[1])
					}
					if err != nil {
						break
					}
				}
				switch {
				case tc.ok:
					if err != nil {
						t.Fatal(err)
					}
				case tc.ata:
					var ae *wire.ATAError
					if !errors.As(err, &ae) {
						t.Fatalf("err %v, want an *ATAError", err)
					}
				default:
					var re *initiator.ReplyError
					if !errors.As(err, &re) || re.Kind != tc.kind {
						t.Fatalf("err %v, want a *ReplyError of kind %v", err, tc.kind)
					}
					if errors.Is(err, initiator.ErrDeadline) || !strings.Contains(err.Error(), mac) || !strings.Contains(err.Error(), "a0") {
						t.Errorf("error does not say what the target answered, from where: %v", err)
					}
					st := d.PathStats()[0]
					if st.BadReplies == 0 || st.LastBadReply == "" || c.Stats().BadATA == 0 {
						t.Errorf("bad replies not counted: %+v, client %+v", st, c.Stats())
					}
					t.Log(err)
				}
			})
		}
	}
}

// TestDiskShortTarget: a target answering every read with half the data
// fails the read saying so ("got 512 of 1024 bytes"), not "did not answer
// before the deadline".
func TestDiskShortTarget(t *testing.T) {
	tg := diskTarget(1<<20, 1500)
	d, _ := hostileDisk(t, &aoetest.Hostile{Target: tg, Short: true}, initiator.DiskOptions{Deadline: 30 * time.Second})
	start := time.Now()
	_, err := d.ReadAt(make([]byte, 1024), 0)
	var re *initiator.ReplyError
	if !errors.As(err, &re) || re.Kind != "short" || re.Got != 512 || re.Want != 1024 ||
		!strings.Contains(err.Error(), "got 512 of 1024 bytes") || errors.Is(err, initiator.ErrDeadline) {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("failed only at the deadline")
	}
}

// TestDiskImpostor: two targets with different disks answer for one
// address. Opened together they are refused with a *ConflictError naming
// both MACs and what differs; each alone opens its own disk.
func TestDiskImpostor(t *testing.T) {
	nw := &aoetest.Network{}
	tg := diskTarget(1<<20, 1500)
	imp := tg.Impostor(net.HardwareAddr{0x02, 0, 0, 0, 0, 0x66})
	nw.Serve(t, tg)
	nw.Serve(t, imp)
	c := nw.Client(t, "a0", hostA, 1500)
	all := append(paths(t, tg, c), paths(t, imp, c)...)
	_, err := initiator.OpenDisk(context.Background(), tg.Shelf, tg.Slot, all, initiator.DiskOptions{Deadline: 3 * time.Second})
	var ce *initiator.ConflictError
	if !errors.As(err, &ce) || len(ce.Answers) != 2 {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"e3.4", tgtMAC.String(), imp.MAC.String(), "a0", `serial "s1" vs "s1-x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	t.Log(err)
	for _, x := range []*aoetest.Target{tg, imp} {
		d, err := initiator.OpenDisk(context.Background(), x.Shelf, x.Slot, paths(t, x, c), initiator.DiskOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := checkRead(t, d, x, 0, 1<<20); err != nil {
			t.Fatal(err)
		}
		d.Close()
	}
}

// TestDiskLateImpostor: the impostor does not answer while the disk
// opens (its path starts unverified), then does: its probe shows another
// disk, it is excluded for good, and no byte is ever read from it.
func TestDiskLateImpostor(t *testing.T) {
	nw := &aoetest.Network{}
	tg := diskTarget(1<<20, 1500)
	imp := tg.Impostor(net.HardwareAddr{0x02, 0, 0, 0, 0, 0x66})
	nw.Serve(t, tg)
	nw.Serve(t, imp)
	a := nw.Client(t, "a0", hostA, 1500)
	b := nw.Client(t, "b0", hostB, 1500)
	ps := append(paths(t, tg, a), paths(t, imp, b)...)
	var mu sync.Mutex
	silent := true
	nw.Drop = func(f []byte, to net.HardwareAddr) bool {
		mu.Lock()
		defer mu.Unlock()
		return silent && bytes.Equal(to, imp.MAC)
	}
	d, err := initiator.OpenDisk(context.Background(), tg.Shelf, tg.Slot, ps, initiator.DiskOptions{MinRTO: time.Millisecond, InitialRTO: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if st := d.PathStats(); !st[0].Verified || st[1].Verified || !st[1].Dead {
		t.Fatalf("after open: %+v", st)
	}
	mu.Lock()
	silent = false
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := checkRead(t, d, tg, 0, 256<<10); err != nil {
			t.Fatal(err)
		}
		st := d.PathStats()
		if st[1].IdentityMismatch {
			if st[1].Frames > st[1].Probes || st[1].Verified || !strings.Contains(strings.Join(st[1].Mismatch, ","), "serial") {
				t.Errorf("impostor path %+v", st[1])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the impostor's path was never probed: %+v", st[1])
		}
	}
}

// TestDiskPathComesBack: a path that died answers again: its probe
// (IDENTIFY) matches and it carries data again.
func TestDiskPathComesBack(t *testing.T) {
	nw1, nw2 := &aoetest.Network{}, &aoetest.Network{}
	tg := diskTarget(1<<20, 1500)
	nw1.Serve(t, tg)
	nw2.Serve(t, tg)
	a := nw1.Client(t, "a0", hostA, 1500)
	b := nw2.Client(t, "b0", hostB, 1500)
	d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond}, a, b)
	var mu sync.Mutex
	down := true
	nw2.Drop = func([]byte, net.HardwareAddr) bool {
		mu.Lock()
		defer mu.Unlock()
		return down
	}
	deadline := time.Now().Add(10 * time.Second)
	for !d.PathStats()[1].Dead {
		if err := checkRead(t, d, tg, 0, 256<<10); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("path b never died")
		}
	}
	mu.Lock()
	down = false
	mu.Unlock()
	before := d.PathStats()
	for {
		if err := checkRead(t, d, tg, 0, 256<<10); err != nil {
			t.Fatal(err)
		}
		st := blockio.PathsSince(before, d.PathStats())[1]
		if st.Verified && st.Frames > 0 {
			if st.Probes == 0 {
				t.Errorf("back without a probe: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("path b never came back: %+v", st)
		}
	}
}

// TestDiskCapacity: a claim beyond what the addressing mode reaches is
// clamped to it, and nothing is ever sent past it. Before, a target
// without LBA48 claiming 0xFFFFFFFF sectors took a write at 128 GiB in
// sector 0 (LBA28 keeps 28 bits), a claim of 2^50 sectors read sector 0
// at 2^57 bytes (LBA48 keeps 48), and claims of 2^55 and 2^64-1 sectors
// overflowed Size (0, and -512).
func TestDiskCapacity(t *testing.T) {
	for _, tc := range []struct {
		name    string
		claim   uint64
		noLBA48 bool
		size    int64
	}{
		{"lba28-0xffffffff", 0xffffffff, true, 1 << 37},
		{"lba28-exact", 1 << 28, true, 1 << 37},
		{"lba48-2^50", 1 << 50, false, 1 << 57},
		{"lba48-2^55", 1 << 55, false, 1 << 57},
		{"lba48-2^64-1", math.MaxUint64, false, 1 << 57},
		{"lba48-2^48", 1 << 48, false, 1 << 57},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := &aoetest.Network{}
			tg := diskTarget(1<<20, 1500)
			tg.IdentifySectors, tg.NoLBA48 = tc.claim, tc.noLBA48
			nw.Serve(t, tg)
			d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond, Deadline: 2 * time.Second}, nw.Client(t, "a0", hostA, 1500))
			if d.Size() != tc.size {
				t.Fatalf("size %d, want %d", d.Size(), tc.size)
			}
			n, clamped := d.Identity().Capacity()
			if int64(n)*512 != d.Size() || clamped != (d.Identity().Sectors() > n) || !clamped && n != d.Identity().Sectors() {
				t.Errorf("capacity %d clamped %v, size %d", n, clamped, d.Size())
			}
			sector0 := tg.Read(0, 512)
			// At the end and past it: EOF, or a write refused whole.
			p := make([]byte, 4096)
			if n, err := d.ReadAt(p, d.Size()); n != 0 || err != io.EOF {
				t.Errorf("read at the end: %d, %v", n, err)
			}
			if _, err := d.WriteAt(p, d.Size()); !errors.Is(err, io.ErrShortWrite) {
				t.Errorf("write at the end: %v", err)
			}
			if _, err := d.WriteAt(p, d.Size()-512); err == nil {
				t.Errorf("write at the last sector of a claimed %d sectors on a disk of 2048 succeeded", tc.claim)
			}
			if _, err := d.ReadAt(p[:512], d.Size()-512); err == nil {
				t.Errorf("read of the last sector succeeded")
			}
			if !bytes.Equal(tg.Read(0, 512), sector0) {
				t.Fatal("sector 0 changed: a write wrapped")
			}
			// Offsets and lengths that overflow int64.
			if _, err := d.WriteAt(p, math.MaxInt64-10); err == nil {
				t.Error("write at MaxInt64-10 succeeded")
			}
			if _, err := d.ReadAt(p, math.MaxInt64-10); err != io.EOF {
				t.Errorf("read at MaxInt64-10: %v", err)
			}
			if _, err := d.ReadAt(p, -1); err == nil {
				t.Error("read at -1 succeeded")
			}
			if _, err := d.WriteAt(p, -512); err == nil {
				t.Error("write at -512 succeeded")
			}
			if !bytes.Equal(tg.Read(0, 512), sector0) {
				t.Fatal("sector 0 changed")
			}
		})
	}
}

// TestDiskLyingWindow: a target advertising 64 buffers that holds 4
// (and drops the requests beyond): the window comes down to what it
// holds, and 1 MiB reads with a bounded number of retransmissions. With a
// fixed window of 64, 60 frames of each round were lost and timed out
// (15 s for 1 MiB).
func TestDiskLyingWindow(t *testing.T) {
	for _, mtu := range []int{1500, 9000} {
		tg := diskTarget(4<<20, mtu)
		tg.BufferCount = 64
		h := &aoetest.Hostile{Target: tg, Hold: 4, Delay: 200 * time.Microsecond}
		// The default RTO bounds, as in production.
		d, _ := hostileDisk(t, h, initiator.DiskOptions{Deadline: 30 * time.Second, MinRTO: 5 * time.Millisecond})
		for i := range 3 {
			before := d.PathStats()
			start := time.Now()
			if err := checkRead(t, d, tg, int64(i)<<20, 1<<20); err != nil {
				t.Fatal(err)
			}
			el := time.Since(start)
			st := blockio.PathsSince(before, d.PathStats())[0]
			frames := st.Frames
			t.Logf("MTU %d, read %d: 1 MiB in %v: %d frames, %d retransmissions, %d timeouts, %d window cuts, window %d of %d (proven %d); the target dropped %d so far",
				mtu, i, el, frames, st.Retransmits, st.Timeouts, st.WindowCuts, st.CongestionWindow, st.Window, st.ProvenWindow, h.Dropped())
			if st.Window != 64 || st.CongestionWindow > 32 || st.ProvenWindow > 32 {
				t.Errorf("window %d of %d", st.CongestionWindow, st.Window)
			}
			if st.Retransmits > frames/2+32 {
				t.Errorf("%d retransmissions for %d frames", st.Retransmits, frames)
			}
		}
	}
}

// TestDiskWindowOpens: on a loss-free link the window opens to the
// buffer count.
func TestDiskWindowOpens(t *testing.T) {
	tg := diskTarget(4<<20, 1500)
	tg.BufferCount = 16
	d, _ := hostileDisk(t, &aoetest.Hostile{Target: tg}, initiator.DiskOptions{MinRTO: 5 * time.Millisecond})
	if err := checkRead(t, d, tg, 0, 1<<20); err != nil {
		t.Fatal(err)
	}
	// A timeout of a frame only late (a loaded machine) may cut the
	// window; its late reply undoes the cut.
	if st := d.PathStats()[0]; st.CongestionWindow != 16 || st.Window != 16 || st.WindowCuts != 0 {
		t.Errorf("%+v", st)
	}
}

// TestDiskCloseConcurrent: Close from several goroutines at once, with
// I/O under way, neither panics nor hangs, and every call returns the
// same error.
func TestDiskCloseConcurrent(t *testing.T) {
	nw := &aoetest.Network{}
	tg := diskTarget(4<<20, 1500)
	nw.Serve(t, tg)
	d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond}, nw.Client(t, "a0", hostA, 1500))
	if _, err := d.WriteAt(make([]byte, 4096), 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				if _, err := d.ReadAt(make([]byte, 65536), 0); err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("read: %v", err)
					}
					return
				}
			}
		})
	}
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = d.Close() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != errs[0] {
			t.Errorf("Close returned %v and %v", errs[0], err)
		}
	}
	if err := d.Close(); err != errs[0] {
		t.Errorf("Close again: %v", err)
	}
}

// TestDiskSameIdentityOtherData: two targets whose IDENTIFY answers are
// the same (vblades exporting different files of one size from hosts of
// one name: same serial SHELF.SLOT:HOSTNAME) but whose data differ are
// refused as a conflict; a second port of the same disk (multipath: the
// same bytes behind another MAC) is not.
func TestDiskSameIdentityOtherData(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sameData bool
	}{{"other data", false}, {"multipath", true}} {
		t.Run(tc.name, func(t *testing.T) {
			nw := &aoetest.Network{}
			tg := diskTarget(1<<20, 1500)
			twin := tg.Impostor(net.HardwareAddr{0x02, 0, 0, 0, 0, 0x67})
			twin.Serial = tg.Serial // the same IDENTIFY
			if tc.sameData {
				twin.Disk = tg.Read(0, len(tg.Disk))
			} else {
				copy(twin.Disk, tg.Disk)
				twin.Disk[len(twin.Disk)-1] ^= 0xff // only the last sector differs
			}
			nw.Serve(t, tg)
			nw.Serve(t, twin)
			c := nw.Client(t, "a0", hostA, 1500)
			d, err := initiator.OpenDisk(context.Background(), tg.Shelf, tg.Slot, append(paths(t, tg, c), paths(t, twin, c)...), initiator.DiskOptions{Deadline: 3 * time.Second})
			if tc.sameData {
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				if err := checkRead(t, d, tg, 0, 1<<20); err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *initiator.ConflictError
			if !errors.As(err, &ce) {
				t.Fatalf("err %v, want a conflict", err)
			}
			for _, want := range []string{tgtMAC.String(), twin.MAC.String(), "different data in sector 2047"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q does not say %q", err, want)
				}
			}
		})
	}
}

// TestDiskProbeRefusedNoSpin: the only path dies, and its target comes
// back answering IDENTIFY at once with an ATA error (data commands
// unanswered). The read waits for the path; its probes must stay paced
// (about one per probeEvery), not follow each other as fast as the
// refusals come back.
func TestDiskProbeRefusedNoSpin(t *testing.T) {
	nw := &aoetest.Network{}
	tg := diskTarget(1<<20, 1500)
	port := nw.Port(tg.MAC)
	t.Cleanup(func() { port.Close() })
	var sick atomic.Bool
	go func() {
		buf := make([]byte, 9216)
		for {
			n, _, err := port.ReadFrom(buf)
			if err != nil {
				return
			}
			b := buf[:n]
			r := tg.Handle(b)
			if r == nil {
				continue
			}
			if sick.Load() {
				if len(b) < 28 || b[19] != byte(wire.CommandATA) || b[27] != ata.Identify {
					continue // data unanswered
				}
				r[27] |= ata.StatusErr
			}
			port.WriteTo(r, nil)
		}
	}()
	c := nw.Client(t, "a0", hostA, 1500)
	d := openDisk(t, tg, initiator.DiskOptions{MinRTO: time.Millisecond, InitialRTO: 5 * time.Millisecond, Deadline: 2 * time.Second}, c)
	if err := checkRead(t, d, tg, 0, 4096); err != nil {
		t.Fatal(err)
	}
	sick.Store(true)
	if err := checkRead(t, d, tg, 0, 4096); !errors.Is(err, initiator.ErrDeadline) {
		t.Fatalf("read from a path that only refuses IDENTIFY: %v, want ErrDeadline", err)
	}
	// The path died after about deadTime (0.5s): the read waited about
	// 1.5s more, a probe at once and one a second later.
	if st := d.PathStats()[0]; st.Probes > 5 {
		t.Fatalf("%d probes in 2s: they spin (%+v)", st.Probes, st)
	}
}

// TestDiskLateTwin: a second target MAC with the same IDENTIFY does not
// answer while the disk opens (its path starts unverified), then does.
// Its probe's IDENTIFY matches, but its data was never compared: with
// other data it must never carry data and ends excluded; with the same
// data (multipath) it carries data. Before, the IDENTIFY alone made it
// carry data: reads returned the twin's bytes at once.
func TestDiskLateTwin(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sameData bool
	}{{"other data", false}, {"multipath", true}} {
		t.Run(tc.name, func(t *testing.T) {
			nw := &aoetest.Network{}
			tg := diskTarget(1<<20, 1500)
			twin := tg.Impostor(net.HardwareAddr{0x02, 0, 0, 0, 0, 0x67})
			twin.Serial = tg.Serial // the same IDENTIFY
			if tc.sameData {
				twin.Disk = tg.Read(0, len(tg.Disk)) // one disk behind two MACs
			}
			nw.Serve(t, tg)
			nw.Serve(t, twin)
			a := nw.Client(t, "a0", hostA, 1500)
			b := nw.Client(t, "b0", hostB, 1500)
			ps := append(paths(t, tg, a), paths(t, twin, b)...)
			var mu sync.Mutex
			silent := true
			nw.Drop = func(f []byte, to net.HardwareAddr) bool {
				mu.Lock()
				defer mu.Unlock()
				return silent && bytes.Equal(to, twin.MAC)
			}
			d, err := initiator.OpenDisk(context.Background(), tg.Shelf, tg.Slot, ps, initiator.DiskOptions{MinRTO: time.Millisecond, InitialRTO: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			mu.Lock()
			silent = false
			mu.Unlock()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if err := checkRead(t, d, tg, 0, 256<<10); err != nil {
					t.Fatal(err)
				}
				st := d.PathStats()[1]
				if !tc.sameData && st.IdentityMismatch {
					if st.Verified || !strings.Contains(strings.Join(st.Mismatch, ","), "different data") {
						t.Errorf("twin path %+v", st)
					}
					break
				}
				if tc.sameData && st.Verified && st.Frames > contentReads {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the late path was never settled: %+v", st)
				}
			}
		})
	}
}

// contentReads is how many frames a content comparison reads on a path
// (initiator's contentSamples).
const contentReads = 8
