package blockio_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/goaoe/aoe/internal/blockio"
)

// randomImage makes an image of size bytes of random content.
func randomImage(t testing.TB, lab *aoelab.Lab, size int64) string {
	t.Helper()
	img := lab.Image(size)
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	return img
}

func fileSum(t testing.TB, path string, off, n int64) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, n)); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// receives are the ways a client reads its socket (initiator.Config's
// Receive): every test of the data path runs with each.
var receives = []string{"ring", "socket"}

// open opens shelf.slot from namespace ns over the named interfaces, with
// clients reading their sockets as recv says (initiator.Config.Receive).
func open(t testing.TB, lab *aoelab.Lab, ns, recv string, shelf uint16, slot uint8, opts initiator.DiskOptions, names ...string) *blockio.Target {
	t.Helper()
	tg, _ := openClients(t, lab, ns, recv, shelf, slot, opts, names...)
	return tg
}

// openClients is open, which also returns the clients.
func openClients(t testing.TB, lab *aoelab.Lab, ns, recv string, shelf uint16, slot uint8, opts initiator.DiskOptions, names ...string) (*blockio.Target, []*initiator.Client) {
	t.Helper()
	var clients []*initiator.Client
	lab.Do(ns, func() {
		for _, n := range names {
			c, err := initiator.NewClient(n, &initiator.Config{Receive: recv})
			if err != nil {
				t.Fatalf("listen %s: %v", n, err)
			}
			if got := c.Stats().Receive; recv != "auto" && got != recv {
				t.Fatalf("client on %s reads its socket by %q, want %q", n, got, recv)
			}
			t.Cleanup(func() { c.Close() })
			clients = append(clients, c)
		}
	})
	tg, err := blockio.Open(context.Background(), initiator.NewGroup(clients...), shelf, slot, blockio.OpenOptions{Timeout: 3 * time.Second, Disk: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg, clients
}

// readSum reads n bytes at off through the disk and returns their sha256
// and the rate in MB/s.
func readSum(t testing.TB, d io.ReaderAt, off, n int64) ([32]byte, float64) {
	t.Helper()
	h := sha256.New()
	start := time.Now()
	if _, err := blockio.ReadTo(context.Background(), d, off, n, h, nil); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s, float64(n) / time.Since(start).Seconds() / 1e6
}

// TestVbladeMTUs reads and writes a real vblade target over a 1500-byte
// path, a jumbo (9000) path, and both at once (two vblade processes
// exporting one image: multipath).
func TestVbladeMTUs(t *testing.T) {
	lab := aoelab.NewLab(t)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	lab.Veth(tgt, "t1", ini, "i1", 9000)
	const size = 64 << 20
	img := randomImage(t, lab, size)
	lab.Vblade(tgt, "t0", 1, 2, img)
	lab.Vblade(tgt, "t1", 1, 2, img)
	want := fileSum(t, img, 0, size)
	for _, tc := range []struct {
		name    string
		ifaces  []string
		sectors []int
	}{
		{"1500", []string{"i0"}, []int{2}},
		{"9000", []string{"i1"}, []int{17}},
		{"multipath", []string{"i0", "i1"}, []int{2, 17}},
	} {
		for _, recv := range receives {
			t.Run(tc.name+"/"+recv, func(t *testing.T) {
				want = testVbladeMTU(t, lab, ini, recv, img, tc.ifaces, tc.sectors, want)
			})
		}
	}
}

// testVbladeMTU is one case of TestVbladeMTUs: read the image whose
// sum is want, write, read back; it returns the image's new sum.
func testVbladeMTU(t *testing.T, lab *aoelab.Lab, ini, recv, img string, ifaces []string, sectors []int, want [32]byte) [32]byte {
	const size = 64 << 20
	tc := struct {
		name    string
		sectors []int
	}{strings.Join(ifaces, "+") + "/" + recv, sectors}
	{
		d, clients := openClients(t, lab, ini, recv, 1, 2, initiator.DiskOptions{}, ifaces...)
		st := d.PathStats()
		if len(st) != len(tc.sectors) {
			t.Fatalf("%s: paths %+v", tc.name, st)
		}
		for i, s := range st {
			if s.Sectors != tc.sectors[i] || s.Window != 16 {
				t.Errorf("%s: path %d: %d sectors per frame, window %d", tc.name, i, s.Sectors, s.Window)
			}
		}
		got, rate := readSum(t, d, 0, size)
		if got != want {
			t.Errorf("%s: read differs from the image", tc.name)
		}
		t.Logf("%s: read %d MiB at %.1f MB/s; paths %+v", tc.name, size>>20, rate, d.PathStats())
		for _, c := range clients {
			// Read from a socket, the replies' data lands in the
			// read's buffer (placement), bar the few the order did
			// not foresee; a ring's is copied from the ring.
			var frames uint64
			for _, p := range d.PathStats() {
				if p.Interface == c.Interface().Name {
					frames += p.Frames
				}
			}
			st := c.Stats()
			switch {
			case recv == "socket" && st.Placed < frames*9/10:
				t.Errorf("%s: %s: %d of %d replies' data read into place", tc.name, c.Interface().Name, st.Placed, frames)
			case recv == "ring" && st.Placed != 0:
				t.Errorf("%s: %s: %d replies placed by a ring", tc.name, c.Interface().Name, st.Placed)
			}
			t.Logf("%s: %s: %d of %d replies' data read into place", tc.name, c.Interface().Name, st.Placed, frames)
		}
		// An unaligned write, read back through the disk and the file.
		p := make([]byte, 3<<20+123)
		rand.Read(p)
		off := int64(5<<20 + 777)
		if _, err := d.WriteAt(p, off); err != nil {
			t.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			t.Fatalf("%s: flush: %v", tc.name, err)
		}
		back := make([]byte, len(p))
		if _, err := d.ReadAt(back, off); err != nil || !bytes.Equal(back, p) {
			t.Errorf("%s: read back differs (%v)", tc.name, err)
		}
		if fileSum(t, img, off, int64(len(p))) != sha256.Sum256(p) {
			t.Errorf("%s: the image does not hold what was written", tc.name)
		}
		d.Close()
	}
	return fileSum(t, img, 0, size)
}

// TestVbladeFaults: 10% frame loss each way on both paths of a multipath
// target, one path going down in the middle; a 256 MiB read and a write
// read back are exact; then the target dies and the I/O fails after the
// deadline.
func TestVbladeFaults(t *testing.T) {
	for _, recv := range receives {
		t.Run(recv, func(t *testing.T) { testVbladeFaults(t, recv) })
	}
}

func testVbladeFaults(t *testing.T, recv string) {
	lab := aoelab.NewLab(t)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 9000)
	lab.Veth(tgt, "t1", ini, "i1", 9000)
	const size = 256 << 20
	img := randomImage(t, lab, size)
	v0 := lab.Vblade(tgt, "t0", 1, 2, img)
	v1 := lab.Vblade(tgt, "t1", 1, 2, img)
	want := fileSum(t, img, 0, size)
	d := open(t, lab, ini, recv, 1, 2, initiator.DiskOptions{Deadline: 3 * time.Second, MinRTO: 2 * time.Millisecond}, "i0", "i1")
	for _, l := range [][2]string{{ini, "i0"}, {ini, "i1"}, {tgt, "t0"}, {tgt, "t1"}} {
		lab.Loss(l[0], l[1], 10)
	}
	// i1 goes down once it has carried 32 MiB: mid-read however fast the
	// read is (a second was after the end of a 302 MB/s read).
	downed := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(downed)
		for {
			for _, s := range d.PathStats() {
				if s.Interface == "i1" && s.Bytes >= 32<<20 {
					lab.Run("ip", "-n", ini, "link", "set", "i1", "down")
					return
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	got, rate := readSum(t, d, 0, size)
	close(stop)
	<-downed
	if got != want {
		t.Fatal("read under loss differs from the image")
	}
	st := map[string]initiator.PathStats{}
	for _, s := range d.PathStats() {
		st[s.Interface] = s
	}
	t.Logf("256 MiB under 10%% loss each way, i1 down after its first 32 MiB: %.1f MB/s; paths %+v", rate, st)
	if !st["i1"].Dead || st["i0"].Retransmits == 0 || st["i0"].Dead {
		t.Errorf("expected retransmissions on i0 and i1 dead: %+v", st)
	}
	// Write then read back, i1 still down, loss on.
	p := make([]byte, 32<<20+5)
	rand.Read(p)
	off := int64(100<<20 + 3)
	if _, err := d.WriteAt(p, off); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, len(p))
	if _, err := d.ReadAt(back, off); err != nil || !bytes.Equal(back, p) {
		t.Fatalf("read back under loss differs (%v)", err)
	}
	if fileSum(t, img, off, int64(len(p))) != sha256.Sum256(p) {
		t.Error("the image does not hold what was written")
	}
	// i1 comes back up: its client read on through the ENETDOWN, the dead
	// path is probed (a frame a second while I/O goes on), answers, and
	// carries frames again.
	lab.Run("ip", "-n", ini, "link", "set", "i1", "up")
	lab.WaitUp(ini, "i1")
	if exited(v1) {
		// vblade ends when one of its sends fails: a reply it sent while
		// i1 was down (its peer without carrier) killed it. An operator
		// restarts it; the path must then prove the disk again.
		t.Log("vblade on t1 ended while i1 was down (its send-failure trap): restarted")
		v1 = lab.Vblade(tgt, "t1", 1, 2, img)
	}
	before := st["i1"].Frames
	buf := make([]byte, 8<<20)
	for give := time.Now().Add(30 * time.Second); ; {
		if _, err := d.ReadAt(buf, 0); err != nil {
			t.Fatal(err)
		}
		var s1 initiator.PathStats
		for _, s := range d.PathStats() {
			if s.Interface == "i1" {
				s1 = s
			}
		}
		if !s1.Dead && s1.Frames > before+1000 {
			t.Logf("i1 back: %+v", s1)
			break
		}
		if time.Now().After(give) {
			t.Fatalf("i1 is up again but its path did not come back: %+v", s1)
		}
	}
	// The target dies: the I/O fails after the deadline.
	v0.Process.Kill()
	v1.Process.Kill()
	start := time.Now()
	_, err := d.ReadAt(make([]byte, 1<<20), 0)
	el := time.Since(start)
	if !errors.Is(err, initiator.ErrDeadline) || el < 3*time.Second || el > 10*time.Second {
		t.Fatalf("after %v: %v", el, err)
	}
	if !strings.Contains(err.Error(), "e1.2") {
		t.Errorf("error does not name the device: %v", err)
	}
	t.Logf("dead target: %v after %v", err, el.Round(time.Millisecond))
}

// TestVbladeReorder: real vblade behind a userspace relay that reorders
// frames both ways (the kernel here has no netem), with 10% loss each way:
// a 256 MiB read and an unaligned write of 32 MiB read back are exact at
// MTU 9000, and the same, smaller (1500-byte frames are slower), at 1500.
func TestVbladeReorder(t *testing.T) {
	for _, tc := range []struct {
		mtu         int
		size, write int64
	}{{9000, 256 << 20, 32<<20 + 5}, {1500, 32 << 20, 8<<20 + 5}} {
		for _, recv := range receives {
			t.Run(fmt.Sprint(tc.mtu, "/", recv), func(t *testing.T) { testVbladeReorder(t, recv, tc.mtu, tc.size, tc.write) })
		}
	}
}

func testVbladeReorder(t *testing.T, recv string, mtu int, size, write int64) {
	lab := aoelab.NewLab(t)
	tgt, mid, ini := lab.Namespace("tgt"), lab.Namespace("mid"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", mid, "r0", mtu)
	lab.Veth(mid, "r1", ini, "i0", mtu)
	relay := lab.Reorder(mid, "r0", "r1", aoelab.ReorderOptions{Fraction: 0.25})
	img := randomImage(t, lab, size)
	lab.Vblade(tgt, "t0", 1, 2, img)
	want := fileSum(t, img, 0, size)
	d := open(t, lab, ini, recv, 1, 2, initiator.DiskOptions{Deadline: 10 * time.Second, MinRTO: 2 * time.Millisecond}, "i0")
	lab.Loss(ini, "i0", 10)
	lab.Loss(tgt, "t0", 10)
	got, rate := readSum(t, d, 0, size)
	if got != want {
		t.Fatal("read through the reordering relay differs from the image")
	}
	t.Logf("%d MiB at MTU %d, 10%% loss each way, reordered: %.1f MB/s; paths %+v", size>>20, mtu, rate, d.PathStats())
	p := make([]byte, write)
	rand.Read(p)
	off := size/3 + 3
	if _, err := d.WriteAt(p, off); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, len(p))
	if _, err := d.ReadAt(back, off); err != nil || !bytes.Equal(back, p) {
		t.Fatalf("read back through the relay differs (%v)", err)
	}
	if fileSum(t, img, off, int64(len(p))) != sha256.Sum256(p) {
		t.Error("the image does not hold what was written")
	}
	toIni, toTgt := relay.Stats()
	t.Logf("relay (seed %d): to ini %+v, to tgt %+v; paths %+v", relay.Seed(), toIni, toTgt, d.PathStats())
	// The read alone needs one request and one reply per frame of data.
	frames := uint64(size / int64(d.PathStats()[0].Sectors*512))
	for dir, s := range map[string]aoelab.RelayStats{"to ini": toIni, "to tgt": toTgt} {
		if s.Reordered == 0 || s.Forwarded < frames {
			t.Errorf("relay %s: %+v: frames not reordered or not carried", dir, s)
		}
	}
}

// TestVbladeReadOnly: vblade -r refuses writes; the error says so.
func TestVbladeReadOnly(t *testing.T) {
	lab := aoelab.NewLab(t)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	img := randomImage(t, lab, 1<<20)
	lab.Vblade(tgt, "t0", 1, 2, img, "-r")
	for _, recv := range receives {
		d := open(t, lab, ini, recv, 1, 2, initiator.DiskOptions{Deadline: 5 * time.Second}, "i0")
		_, err := d.WriteAt(make([]byte, 4096), 0)
		var ae *wire.ATAError
		if !errors.As(err, &ae) || !ae.Aborted() || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("%s: write to vblade -r: %v", recv, err)
		}
		t.Log(err)
		if got, _ := readSum(t, d, 0, 1<<20); got != fileSum(t, img, 0, 1<<20) {
			t.Errorf("%s: read differs", recv)
		}
		d.Close()
	}
}

// exited reports whether the process of cmd has ended (a zombie not yet
// waited for, or gone).
func exited(cmd *exec.Cmd) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return true
	}
	// pid (comm) STATE ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

// TestVbladeOnePath: on a single path the disk's engine reads its
// replies itself while frames are out (the client lends it its socket
// reads): a read cancelled midway returns its context's error at once and
// the next read is exact; the link going down and up again midway (vblade
// restarted if its send-failure trap ended it) leaves the read exact; a
// Close midway fails the read with ErrDiskClosed and gives the socket back
// to the client, which still answers a Query Config.
func TestVbladeOnePath(t *testing.T) {
	for _, mtu := range []int{1500, 9000} {
		for _, recv := range receives {
			t.Run(fmt.Sprint(mtu, "/", recv), func(t *testing.T) { testVbladeOnePath(t, recv, mtu) })
		}
	}
}

func testVbladeOnePath(t *testing.T, recv string, mtu int) {
	lab := aoelab.NewLab(t)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", mtu)
	const size = 32 << 20
	img := randomImage(t, lab, size)
	v := lab.Vblade(tgt, "t0", 1, 2, img)
	want := fileSum(t, img, 0, size)
	d := open(t, lab, ini, recv, 1, 2, initiator.DiskOptions{Deadline: 10 * time.Second, MinRTO: 2 * time.Millisecond}, "i0")

	// Cancelled midway.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	start := time.Now()
	_, err := d.ReadAtContext(ctx, make([]byte, size), 0)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("cancelled read: %v after %v", err, time.Since(start))
	}
	if got, _ := readSum(t, d, 0, size); got != want {
		t.Fatal("read after a cancelled one differs from the image")
	}

	// The link flaps midway: the disk is read again and again from before
	// the flap until after it (a read at MTU 9000 takes less than the
	// flap's start), so some read goes through it.
	flapped := make(chan struct{})
	go func() {
		defer close(flapped)
		time.Sleep(100 * time.Millisecond)
		lab.Run("ip", "-n", ini, "link", "set", "i0", "down")
		time.Sleep(300 * time.Millisecond)
		lab.Run("ip", "-n", ini, "link", "set", "i0", "up")
		lab.WaitUp(ini, "i0")
		if exited(v) {
			v = lab.Vblade(tgt, "t0", 1, 2, img)
		}
	}()
	for reads, done := 0, false; !done; reads++ {
		select {
		case <-flapped:
			done = true // one read more, after the flap
		default:
		}
		got, rate := readSum(t, d, 0, size)
		if got != want {
			<-flapped
			t.Fatal("read through a link flap differs from the image")
		}
		if done {
			t.Logf("%d reads through a link flap, the last at %.1f MB/s; paths %+v", reads+1, rate, d.PathStats())
		}
	}

	// Closed midway.
	done := make(chan error, 1)
	go func() {
		_, err := d.ReadAt(make([]byte, size), 0)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	d.Disk.Close()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("read during Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read during Close did not return")
	}
	c := d.Paths[0].Client
	r, err := c.QueryConfig(context.Background(), initiator.Target{MAC: d.Paths[0].MAC, Shelf: 1, Slot: 2}, &wire.ConfigArg{})
	if err != nil || r.Config.BufferCount == 0 {
		t.Fatalf("the client after the disk's Close: %v", err)
	}
}
