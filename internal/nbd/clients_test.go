package nbd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// serveUnix serves exports on a Unix socket until the test ends.
func serveUnix(t *testing.T, exports ...*Export) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Exports: exports, Logger: logTo(t.Logf)}
	done := make(chan struct{})
	go func() { s.Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return sock
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install libnbd-bin qemu-utils)", tool)
		}
	}
}

func run(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

func randomFile(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, b
}

// TestRealClients: nbdinfo, nbdcopy, qemu-img and qemu-io against a file
// export on a Unix socket.
func TestRealClients(t *testing.T) {
	need(t, "nbdinfo", "nbdcopy", "qemu-img", "qemu-io")
	const size = 8 << 20
	f, content := randomFile(t, size)
	ro, _ := randomFile(t, 1<<20)
	sock := serveUnix(t, &Export{Name: "e1.2", Size: size, Backend: f}, &Export{Name: "ro", Size: 1 << 20, Backend: ro, ReadOnly: true})
	uri := "nbd+unix:///e1.2?socket=" + sock

	info := run(t, "nbdinfo", "--json", uri)
	for _, want := range []string{`"export-size": 8388608`, `"can_flush": true`, `"can_fua": true`, `"is_read_only": false`, `"block_size_preferred": 4096`} {
		if !strings.Contains(info, want) {
			t.Errorf("nbdinfo lacks %s:\n%s", want, info)
		}
	}
	list := run(t, "nbdinfo", "--list", "--json", "nbd+unix://?socket="+sock)
	if !strings.Contains(list, `"export-name": "e1.2"`) || !strings.Contains(list, `"export-name": "ro"`) {
		t.Errorf("nbdinfo --list:\n%s", list)
	}
	if !strings.Contains(run(t, "nbdinfo", "--json", "nbd+unix:///ro?socket="+sock), `"is_read_only": true`) {
		t.Error("ro export not read-only")
	}

	// nbdcopy out and compare.
	out := filepath.Join(t.TempDir(), "out.img")
	run(t, "nbdcopy", uri, out)
	got, _ := os.ReadFile(out)
	if sha256.Sum256(got) != sha256.Sum256(content) {
		t.Error("nbdcopy: copy differs")
	}
	// nbdcopy in: new content, read back with qemu-img convert.
	src := filepath.Join(t.TempDir(), "src.img")
	fresh := make([]byte, size)
	rand.Read(fresh)
	os.WriteFile(src, fresh, 0o600)
	run(t, "nbdcopy", src, uri)
	back := filepath.Join(t.TempDir(), "back.img")
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "raw", uri, back)
	got, _ = os.ReadFile(back)
	if !bytes.Equal(got, fresh) {
		t.Error("qemu-img convert after nbdcopy in: differs")
	}
	// qemu-io: an unaligned write, then read it back with a pattern check.
	run(t, "qemu-io", "-f", "raw", "-c", "write -P 0x5a 1000 3333", "-c", "flush", uri)
	outp := run(t, "qemu-io", "-f", "raw", "-c", "read -P 0x5a 1000 3333", uri)
	if !strings.Contains(outp, "read 3333/3333 bytes") {
		t.Errorf("qemu-io read: %s", outp)
	}
	disk, _ := os.ReadFile(f.Name())
	if !bytes.Equal(disk[1000:4333], bytes.Repeat([]byte{0x5a}, 3333)) || !bytes.Equal(disk[:1000], fresh[:1000]) || !bytes.Equal(disk[4333:], fresh[4333:]) {
		t.Error("qemu-io write landed wrong")
	}
	// A write to the read-only export fails.
	if out, err := exec.Command("qemu-io", "-f", "raw", "-c", "write 0 512", "nbd+unix:///ro?socket="+sock).CombinedOutput(); err == nil && !strings.Contains(string(out), "failed") {
		t.Errorf("write to read-only export: %s", out)
	}
}

// TestRealClientsSmallBudget: nbdcopy, with 4 connections of 64 requests
// of 256 KiB in flight each (64 MiB asked for), through a 1 MiB budget
// (512 KiB a connection, the maximum block size):
// held back, never failed, the data whole, the budget never passed.
func TestRealClientsSmallBudget(t *testing.T) {
	need(t, "nbdcopy", "nbdinfo")
	const size, limit = 16 << 20, 1 << 20
	f, content := randomFile(t, size)
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Exports: []*Export{{Name: "d", Size: size, Backend: f}}, MaxInflightBytes: limit, Logger: logTo(t.Logf)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, l); close(done) }()
	defer func() { cancel(); <-done }()
	uri := "nbd+unix:///d?socket=" + sock

	if info := run(t, "nbdinfo", "--json", uri); !strings.Contains(info, `"block_size_maximum": 524288`) {
		t.Errorf("nbdinfo: %s", info)
	}
	out := filepath.Join(t.TempDir(), "out.img")
	run(t, "nbdcopy", "--connections=4", "--requests=64", "--request-size=262144", uri, out)
	if got, _ := os.ReadFile(out); sha256.Sum256(got) != sha256.Sum256(content) {
		t.Error("nbdcopy out: differs")
	}
	src := filepath.Join(t.TempDir(), "src.img")
	fresh := make([]byte, size)
	rand.Read(fresh)
	os.WriteFile(src, fresh, 0o600)
	run(t, "nbdcopy", "--connections=4", "--requests=64", "--request-size=262144", src, uri)
	if got, _ := os.ReadFile(f.Name()); !bytes.Equal(got, fresh) {
		t.Error("nbdcopy in: the export differs")
	}
	used, peak, _ := s.InflightBytes()
	if used != 0 || peak > limit {
		t.Errorf("in flight now %d, at most %d; budget %d", used, peak, limit)
	}
	t.Logf("peak in flight %d KiB of %d KiB", peak>>10, limit>>10)
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestRealClientsMultiConn: the export says NBD_FLAG_CAN_MULTI_CONN and
// its block sizes (minimum 512, the preferred size a power of two from the
// export's, the maximum half the budget), as nbdinfo shows them; nbdcopy
// then spreads its requests over 4 connections (4 threads: it opens no
// more connections than threads), one budget for all, and
// copies the data whole, both ways.
func TestRealClientsMultiConn(t *testing.T) {
	need(t, "nbdcopy", "nbdinfo")
	const size, limit = 16 << 20, 8 << 20
	f, content := randomFile(t, size)
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l := &countingListener{Listener: ul}
	// 17 sectors, a jumbo frame's payload: advertised as 16 KiB, the
	// power of two above.
	s := &Server{Exports: []*Export{{Name: "d", Size: size, Backend: f, PreferredBlock: 17 * 512}}, MaxInflightBytes: limit, Logger: logTo(t.Logf)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, l); close(done) }()
	defer func() { cancel(); <-done }()
	uri := "nbd+unix:///d?socket=" + sock

	info := run(t, "nbdinfo", "--json", uri)
	for _, want := range []string{`"can_multi_conn": true`, `"block_size_minimum": 512`, `"block_size_preferred": 16384`, `"block_size_maximum": 4194304`} {
		if !strings.Contains(info, want) {
			t.Errorf("nbdinfo lacks %s:\n%s", want, info)
		}
	}
	before := l.n.Load()
	out := filepath.Join(t.TempDir(), "out.img")
	run(t, "nbdcopy", "--connections=4", "--threads=4", uri, out)
	if got, _ := os.ReadFile(out); sha256.Sum256(got) != sha256.Sum256(content) {
		t.Error("nbdcopy out: differs")
	}
	if n := l.n.Load() - before; n != 4 {
		t.Errorf("nbdcopy --connections=4 made %d connections, want 4 (multi-conn)", n)
	}
	src := filepath.Join(t.TempDir(), "src.img")
	fresh := make([]byte, size)
	rand.Read(fresh)
	os.WriteFile(src, fresh, 0o600)
	run(t, "nbdcopy", "--connections=4", "--threads=4", "--flush", src, uri)
	if got, _ := os.ReadFile(f.Name()); !bytes.Equal(got, fresh) {
		t.Error("nbdcopy in: the export differs")
	}
	if used, peak, _ := s.InflightBytes(); used != 0 || peak > limit {
		t.Errorf("in flight now %d, at most %d; budget %d", used, peak, limit)
	}
}

// TestBlockSizes: the sizes advertised for exports of odd and even sizes
// and preferred sizes.
func TestBlockSizes(t *testing.T) {
	s := &Server{MaxInflightBytes: 8 << 20}
	s.setup()
	for _, tc := range []struct {
		size              int64
		pref              uint32
		wantMin, wantPref uint32
		wantMax           uint32
	}{
		{1 << 20, 0, 512, 4096, 4 << 20},
		{1<<20 + 1, 0, 1, 4096, 4 << 20},
		{1 << 20, 1024, 512, 1024, 4 << 20},
		{1 << 20, 17 * 512, 512, 16384, 4 << 20},
		{1 << 20, 64 << 20, 512, 4 << 20, 4 << 20},
		{1 << 20, 100, 512, 512, 4 << 20},
	} {
		e := &Export{Size: tc.size, PreferredBlock: tc.pref}
		if lo, p, hi := e.minBlock(), s.preferredBlock(e), s.maxBlock(e); lo != tc.wantMin || p != tc.wantPref || hi != tc.wantMax {
			t.Errorf("size %d preferred %d: %d %d %d, want %d %d %d", tc.size, tc.pref, lo, p, hi, tc.wantMin, tc.wantPref, tc.wantMax)
		}
		if e.flags()&tflagCanMultiConn == 0 {
			t.Errorf("size %d: no NBD_FLAG_CAN_MULTI_CONN", tc.size)
		}
	}
}
