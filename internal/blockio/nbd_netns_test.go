package blockio_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/internal/aoelab"
	"github.com/goaoe/aoe/internal/nbd"
)

// countingDisk counts the reads under way in the disk at once. While
// hold > 0 the first hold reads wait, before they reach the disk, until
// hold reads are under way: then all go to the disk at once. A server
// that served a connection's requests one at a time would never get
// there (the wait gives up after a minute, only so that such a server
// fails the test instead of hanging it).
type countingDisk struct {
	nbd.Backend
	t testing.TB

	mu       sync.Mutex
	now, max int
	hold     int
	arrived  int
	release  chan struct{}
}

func (c *countingDisk) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.now++
	c.max = max(c.max, c.now)
	var wait chan struct{}
	if c.hold > 0 {
		c.arrived++
		wait = c.release
		if c.arrived == c.hold {
			close(c.release)
			c.hold = 0
		}
	}
	c.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-time.After(time.Minute):
			c.t.Errorf("a read waited a minute for others to be under way at once")
		}
	}
	n, err := c.Backend.ReadAt(p, off)
	c.mu.Lock()
	c.now--
	c.mu.Unlock()
	return n, err
}

// holdNext makes the next n reads wait until all n are under way, and
// resets the count of the most seen at once.
func (c *countingDisk) holdNext(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold, c.arrived, c.release, c.max = n, 0, make(chan struct{}), 0
}

// countingListener counts the connections accepted.
type countingListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.n++
		l.mu.Unlock()
	}
	return c, err
}

func (l *countingListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (c *countingDisk) most() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max
}

// TestNBDVblade: the NBD server in front of real vblade (two paths, MTU
// 1500 and 9000): nbdinfo, nbdcopy and qemu-img read the exact image
// through it, and one connection has several reads under way in the disk
// at once: nbdcopy on one connection with 16 requests in flight has its
// first 8 reads in the disk together (countingDisk holds them until they
// are), and so has qemu-img.
func TestNBDVblade(t *testing.T) {
	for _, tool := range []string{"nbdinfo", "nbdcopy", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install libnbd-bin qemu-utils)", tool)
		}
	}
	lab := aoelab.NewLab(t)
	tgt, ini := lab.Namespace("tgt"), lab.Namespace("ini")
	lab.Veth(tgt, "t0", ini, "i0", 1500)
	lab.Veth(tgt, "t1", ini, "i1", 9000)
	const size = 32 << 20
	img := randomImage(t, lab, size)
	want, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	lab.Vblade(tgt, "t0", 1, 2, img)
	lab.Vblade(tgt, "t1", 1, 2, img)
	d := open(t, lab, ini, "auto", 1, 2, initiator.DiskOptions{}, "i0", "i1")
	disk := &countingDisk{Backend: d, t: t}

	sock := filepath.Join(t.TempDir(), "nbd.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l := &countingListener{Listener: ul}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &nbd.Server{Exports: []*nbd.Export{{Name: "e1.2", Size: size, Backend: disk, ReadOnly: true}}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	uri := "nbd+unix:///e1.2?socket=" + sock
	sh := func(argv ...string) string {
		t.Helper()
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
		return string(out)
	}
	if info := sh("nbdinfo", "--json", uri); !strings.Contains(info, `"export-size": 33554432`) {
		t.Errorf("nbdinfo: %s", info)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"nbdcopy", []string{"nbdcopy", "--connections=1", "--requests=16", "--request-size=65536", uri, filepath.Join(dir, "nbdcopy")}},
		{"qemu-img", []string{"qemu-img", "convert", "-f", "raw", "-O", "raw", "-m", "16", uri, filepath.Join(dir, "qemu-img")}},
	} {
		const hold = 8
		disk.holdNext(hold)
		conns := l.count()
		sh(tc.argv...)
		if n := l.count() - conns; n != 1 {
			t.Errorf("%s: %d connections, want 1", tc.name, n)
		}
		got, err := os.ReadFile(tc.argv[len(tc.argv)-1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the copy differs from the image", tc.name)
		}
		if m := disk.most(); m < hold {
			t.Errorf("%s: at most %d reads under way in the disk at once, want %d", tc.name, m, hold)
		} else {
			t.Logf("%s: up to %d reads under way in the disk at once, on one connection", tc.name, m)
		}
	}
}
