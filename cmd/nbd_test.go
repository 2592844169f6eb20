package cmd

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
	"github.com/goaoe/aoe/initiator/aoetest"
)

// lockedBuffer is a bytes.Buffer for a stderr written from several
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// requestsSent counts the AoE requests the fake targets answered.
func (f *fakeSAN) requestsSent() int {
	n := 0
	for _, tg := range f.tgts {
		for _, k := range tg.Requests {
			n += k
		}
	}
	return n
}

// TestNBDUsage: flag values that mean nothing are usage errors (exit 2),
// before anything is sent or touched.
func TestNBDUsage(t *testing.T) {
	f := newFakeSAN(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	for _, args := range [][]string{
		{"--max-inflight-bytes", "0"},
		{"--max-inflight-bytes", "-1"},
		{"--max-inflight-bytes", "1X"},
		{"--max-inflight-bytes", "512K"},
		{"--max-inflight-bytes", "3M"},
		{"--max-inflight-bytes", ""},
		{"--max-inflight-bytes", "99999999999G"},
		{"--max-conns", "0"},
		{"--max-conns", "-5"},
		{"--max-conns", "many"},
		{"--handshake-timeout", "0s"},
		{"--handshake-timeout", "-1s"},
		{"--handshake-timeout", "soon"},
		{"--reply-timeout", "0"},
		{"--reply-timeout", "-3m"},
		{"--listen", "127.0.0.1:10809"}, // and --socket
	} {
		argv := append([]string{"aoe", "nbd", "e1.1", "-i", "eth0", "--socket", sock}, args...)
		r := f.run(t, argv...)
		if r.code != ExitUsage || r.stdout != "" || strings.Contains(r.stderr, "panic") {
			t.Errorf("%s: exit %d %q %q", strings.Join(argv, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := f.run(t, "aoe", "nbd", "e01.1", "--socket", sock); r.code != ExitUsage {
		t.Errorf("bad device name: exit %d %q", r.code, r.stderr)
	}
	for _, addr := range []string{"no-port", "127.0.0.1:99999", "127.0.0.1:-1", "[::1]:0x10", ":nbd"} {
		if r := f.run(t, "aoe", "nbd", "e1.1", "-i", "eth0", "--listen", addr); r.code != ExitUsage {
			t.Errorf("--listen %s: exit %d %q", addr, r.code, r.stderr)
		}
	}
	if n := f.requestsSent(); n != 0 {
		t.Errorf("%d AoE requests sent for usage errors", n)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("usage errors left %v", ents)
	}
}

// TestNBDSocketPath: --socket PATH replaces only a stale socket; a file, a
// directory, a link or a live socket there is refused and left as it was,
// before anything is sent.
func TestNBDSocketPath(t *testing.T) {
	f := newFakeSAN(t)
	dir := t.TempDir()

	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("precious"), 0o600)
	sub := filepath.Join(dir, "dir")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "inside"), []byte("x"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(file, link)
	live := filepath.Join(dir, "live.sock")
	ll, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ll.Close()

	for _, tc := range []struct {
		path, want string
		code       int
	}{
		{file, "a regular file is there", ExitUsage},
		{sub, "a directory is there", ExitUsage},
		{link, "a symbolic link is there", ExitUsage},
		{live, "a server is listening on it", ExitFailure},
	} {
		r := f.run(t, "aoe", "nbd", "e1.1", "-i", "eth0", "--read-only", "--socket", tc.path)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("--socket %s: exit %d %q, want %d %q", tc.path, r.code, r.stderr, tc.code, tc.want)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "precious" {
		t.Errorf("the file: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(sub, "inside")); err != nil || string(b) != "x" {
		t.Errorf("the directory: %q %v", b, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != os.ModeSymlink {
		t.Errorf("the link: %v", err)
	}
	if c, err := net.Dial("unix", live); err != nil {
		t.Errorf("the live socket: %v", err)
	} else {
		c.Close()
	}
	if n := f.requestsSent(); n != 0 {
		t.Errorf("%d AoE requests sent for refused paths", n)
	}

	// A stale socket, left by a listener that is gone: a command that
	// fails leaves it; one that serves replaces it, and removes its own
	// at exit.
	stale := filepath.Join(dir, "stale.sock")
	sl, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	sl.(*net.UnixListener).SetUnlinkOnClose(false)
	sl.Close()
	before, err := os.Lstat(stale)
	if err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{
		{"aoe", "nbd", "e9.9", "-i", "eth0", "--timeout", "100ms", "--socket", stale},
		{"aoe", "nbd", "e1.1", "-i", "bogus0", "--socket", stale},
	} {
		if r := f.run(t, argv...); r.code == 0 {
			t.Errorf("%s: exit 0 %q", strings.Join(argv, " "), r.stderr)
		}
		if fi, err := os.Lstat(stale); err != nil || !os.SameFile(fi, before) {
			t.Errorf("%s: the stale socket was touched (%v)", strings.Join(argv, " "), err)
		}
	}
	srv := startNBD(t, f, "e1.1", "-i", "eth0", "--read-only", "--socket", stale)
	c, err := net.Dial("unix", stale)
	if err != nil {
		t.Fatalf("the new socket: %v", err)
	}
	c.Close()
	if r := srv.stop(); r.code != 0 || !strings.Contains(r.stderr, "serving e1.1") {
		t.Errorf("aoe nbd: exit %d %q", r.code, r.stderr)
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after aoe nbd: %v", err)
	}
}

type nbdServer struct {
	cancel context.CancelFunc
	done   chan struct{}
	r      run
}

// stop interrupts aoe nbd and returns its result.
func (s *nbdServer) stop() run {
	s.cancel()
	<-s.done
	return s.r
}

// startNBD runs aoe nbd against the fake SAN until it answers on its
// socket (the argument after --socket).
func startNBD(t *testing.T, f *fakeSAN, args ...string) *nbdServer {
	t.Helper()
	var sock string
	for i, a := range args {
		if a == "--socket" {
			sock = args[i+1]
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &nbdServer{cancel: cancel, done: make(chan struct{})}
	stderr := &lockedBuffer{}
	go func() {
		defer close(s.done)
		var stdout bytes.Buffer
		env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: stderr, Getenv: func(string) string { return "" }}
		f.setup(env)
		s.r.code = Main(ctx, append([]string{"aoe", "nbd", "--sysfs", "/nonexistent"}, args...), env)
		s.r.stdout, s.r.stderr = stdout.String(), stderr.String()
	}()
	t.Cleanup(func() { s.stop() })
	for start := time.Now(); !strings.Contains(stderr.String(), "serving"); time.Sleep(10 * time.Millisecond) {
		select {
		case <-s.done:
			t.Fatalf("aoe nbd: exit %d %q", s.r.code, s.r.stderr)
		default:
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("aoe nbd is not serving on %s", sock)
		}
	}
	return s
}

// TestNBDLimits: the limits' flags reach the server: nbdinfo sees half
// the budget as the maximum block size, and a connection over --max-conns is
// closed with a line on stderr.
func TestNBDLimits(t *testing.T) {
	if _, err := exec.LookPath("nbdinfo"); err != nil {
		t.Fatal("nbdinfo is needed (apt-get install libnbd-bin)")
	}
	f := newFakeSAN(t)
	sock := filepath.Join(t.TempDir(), "e1.1.nbd")
	srv := startNBD(t, f, "e1.1", "-i", "eth0", "--read-only", "--socket", sock, "--max-inflight-bytes", "6M", "--max-conns", "1", "--handshake-timeout", "5s")
	out, err := exec.Command("nbdinfo", "--json", "nbd+unix:///e1.1?socket="+sock).CombinedOutput()
	if err != nil {
		t.Fatalf("nbdinfo: %v\n%s", err, out)
	}
	for _, want := range []string{`"block_size_maximum": 3145728`, `"export-size": 1073741824`, `"is_read_only": true`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nbdinfo lacks %s:\n%s", want, out)
		}
	}
	// One connection held (once nbdinfo's has ended on the server's
	// side too); the next is closed at once.
	var held net.Conn
	for start := time.Now(); held == nil; {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 18)); err == nil {
			held = c
		} else if c.Close(); time.Since(start) > 10*time.Second {
			t.Fatalf("first connection: %v", err)
		}
	}
	defer held.Close()
	extra, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := extra.Read(make([]byte, 18)); err == nil {
		t.Errorf("second connection: read %d bytes", n)
	}
	extra.Close()
	held.Close()
	r := srv.stop()
	if r.code != 0 || !strings.Contains(r.stderr, "connection refused: 1 connections are served, the limit") {
		t.Errorf("aoe nbd: exit %d %q", r.code, r.stderr)
	}
}

// TestNBDTarget: two disks answering for e5.5 (an impostor with another
// serial and inverted content): aoe nbd refuses to serve them mixed (exit
// 1, naming --target), and with --target MAC serves the chosen disk's
// bytes, as nbdcopy reads them.
func TestNBDTarget(t *testing.T) {
	if _, err := exec.LookPath("nbdcopy"); err != nil {
		t.Fatal("nbdcopy is needed (apt-get install libnbd-bin)")
	}
	f, tg := dataSAN(t)
	imp := tg.Impostor(net.HardwareAddr{2, 0xda, 0, 0, 0, 0x15})
	f.nets["eth0"].Serve(t, imp)
	dir := t.TempDir()
	sock := filepath.Join(dir, "e5.5.nbd")
	r := f.run(t, "aoe", "nbd", "e5.5", "-i", "eth0", "--read-only", "--socket", sock)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "different disks answer for this address") || !strings.Contains(r.stderr, "choose one with --target MAC") {
		t.Errorf("without --target: exit %d %q", r.code, r.stderr)
	}
	if _, err := os.Lstat(sock); err == nil {
		t.Error("without --target: the socket was made")
	}
	if r := f.run(t, "aoe", "nbd", "e5.5", "-i", "eth0", "--target", "ff:ff:ff:ff:ff:ff", "--socket", sock); r.code != ExitUsage {
		t.Errorf("--target broadcast: exit %d %q", r.code, r.stderr)
	}
	for _, d := range []*aoetest.Target{imp, tg} {
		srv := startNBD(t, f, "e5.5", "-i", "eth0", "--read-only", "--socket", sock, "--target", d.MAC.String())
		out := filepath.Join(dir, "out")
		if b, err := exec.Command("nbdcopy", "nbd+unix:///e5.5?socket="+sock, out).CombinedOutput(); err != nil {
			t.Fatalf("nbdcopy: %v\n%s", err, b)
		}
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, d.Disk) {
			t.Errorf("--target %s: %d bytes, not that disk's", d.MAC, len(got))
		}
		if r := srv.stop(); r.code != 0 || strings.Contains(r.stderr, "different disks") {
			t.Errorf("--target %s: exit %d %q", d.MAC, r.code, r.stderr)
		}
	}
}

// TestNBDPreferredBlock: the preferred block size holds a whole frame's
// data of the path with the smallest frames, a power of two, at least 4 KiB.
func TestNBDPreferredBlock(t *testing.T) {
	for _, tc := range []struct {
		sectors []int
		want    uint32
	}{{nil, 4096}, {[]int{2}, 4096}, {[]int{17}, 16384}, {[]int{17, 2}, 4096}, {[]int{17, 17}, 16384}, {[]int{255}, 131072}} {
		var paths []initiator.PathStats
		for _, n := range tc.sectors {
			paths = append(paths, initiator.PathStats{Sectors: n})
		}
		if got := preferredBlock(paths); got != tc.want {
			t.Errorf("sectors %v: %d, want %d", tc.sectors, got, tc.want)
		}
	}
}
