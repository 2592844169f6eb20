package cmd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/aoelab"
)

// blockLab is a target namespace with vblade exporting a random image as
// e1.2 on a 1500-byte link (i0) and a jumbo link (i1), seen from ini.
type blockLab struct {
	lab      *aoelab.Lab
	tgt, ini string
	img      string
}

func newBlockLab(t *testing.T, size int64, vbladeOpts ...string) *blockLab {
	lab := aoelab.NewLab(t)
	b := &blockLab{lab: lab, tgt: lab.Namespace("tgt"), ini: lab.Namespace("ini")}
	lab.Veth(b.tgt, "t0", b.ini, "i0", 1500)
	lab.Veth(b.tgt, "t1", b.ini, "i1", 9000)
	b.img = lab.Image(size)
	f, err := os.OpenFile(b.img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	lab.Vblade(b.tgt, "t0", 1, 2, b.img, vbladeOpts...)
	lab.Vblade(b.tgt, "t1", 1, 2, b.img, vbladeOpts...)
	return b
}

// aoe runs the aoe command line in the initiator namespace.
func (b *blockLab) aoe(t *testing.T, o runOpts, args ...string) run {
	t.Helper()
	var r run
	b.lab.Do(b.ini, func() {
		r = execute(t, append([]string{"aoe"}, args...), o)
	})
	return r
}

func (b *blockLab) image(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(b.img)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestReadWriteCLI: aoe read and aoe write against real vblade, over one
// path and two (1500 and 9000 MTU), whole disk and unaligned pieces; the
// write refusals (device in use here, target reserved for another host)
// and --force, --reserve.
func TestReadWriteCLI(t *testing.T) {
	b := newBlockLab(t, 16<<20)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.img")
	for _, ifs := range []string{"i0", "i1", "i0,i1"} {
		r := b.aoe(t, runOpts{}, "read", "e1.2", "-i", ifs, "-o", out, "--sysfs", "/nonexistent")
		got, _ := os.ReadFile(out)
		if r.code != 0 || sha256.Sum256(got) != sha256.Sum256(b.image(t)) || r.stdout != "" {
			t.Fatalf("read -i %s: exit %d, %d bytes: %s", ifs, r.code, len(got), r.stderr)
		}
	}
	for _, recv := range []string{"ring", "socket", "auto"} {
		os.Remove(out)
		r := b.aoe(t, runOpts{}, "read", "e1.2", "-i", "i0,i1", "--receive", recv, "-o", out, "--sysfs", "/nonexistent")
		got, _ := os.ReadFile(out)
		if r.code != 0 || sha256.Sum256(got) != sha256.Sum256(b.image(t)) {
			t.Fatalf("read --receive %s: exit %d, %d bytes: %s", recv, r.code, len(got), r.stderr)
		}
	}
	if r := b.aoe(t, runOpts{}, "read", "e1.2", "-i", "i0", "--receive", "rings", "-o", out); r.code != ExitUsage || !strings.Contains(r.stderr, `--receive "rings": auto, ring or socket`) {
		t.Errorf("--receive rings: exit %d %q", r.code, r.stderr)
	}
	r := b.aoe(t, runOpts{}, "read", "e1.2", "-i", "i1", "--offset", "1K", "--length", "5KB", "--sysfs", "/nonexistent")
	if r.code != 0 || r.stdout != string(b.image(t)[1024:6024]) {
		t.Errorf("read --offset 1K --length 5KB: exit %d, %d bytes, %s", r.code, len(r.stdout), r.stderr)
	}
	r = b.aoe(t, runOpts{}, "read", "e1.2", "-i", "i1", "-o", out, "--progress", "--sysfs", "/nonexistent")
	if r.code != 0 || !strings.Contains(r.stderr, "read e1.2: 16.0 MiB of 16.0 MiB (100%), ") || !strings.Contains(r.stderr, " MB/s") {
		t.Errorf("--progress: exit %d %q", r.code, r.stderr)
	}
	if r = b.aoe(t, runOpts{}, "read", "e1.2", "-i", "i1", "-o", out, "--sysfs", "/nonexistent"); r.stderr != "" {
		t.Errorf("progress without a terminal: %q", r.stderr)
	}
	if r = b.aoe(t, runOpts{}, "read", "e1.2", "--offset", "1X"); r.code != ExitUsage || !strings.Contains(r.stderr, "unknown suffix") {
		t.Errorf("bad size: exit %d %q", r.code, r.stderr)
	}
	if r = b.aoe(t, runOpts{}, "read", "e1.9", "-i", "i0", "--timeout", "300ms", "--sysfs", "/nonexistent"); r.code != 1 || !strings.Contains(r.stderr, "e1.9: the target did not answer on i0") {
		t.Errorf("absent target: exit %d %q", r.code, r.stderr)
	}

	// Write a file at an unaligned offset over both paths.
	src := filepath.Join(dir, "src")
	data := make([]byte, 3<<20+77)
	rand.Read(data)
	os.WriteFile(src, data, 0o600)
	r = b.aoe(t, runOpts{}, "write", "e1.2", "-i", "i0,i1", "--input", src, "--offset", "1000001", "--sysfs", "/nonexistent")
	if r.code != 0 || !bytes.Equal(b.image(t)[1000001:1000001+len(data)], data) {
		t.Fatalf("write: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "does not implement FLUSH CACHE") {
		t.Errorf("no FLUSH CACHE warning for vblade: %q", r.stderr)
	}
	// From stdin.
	r = b.aoe(t, runOpts{stdin: "hello, world"}, "write", "e1.2", "-i", "i1", "--offset", "7", "--sysfs", "/nonexistent")
	if r.code != 0 || string(b.image(t)[7:19]) != "hello, world" {
		t.Errorf("write from stdin: exit %d %s", r.code, r.stderr)
	}
	// Past the end: the user's mistake, exit 2 as for read.
	if r = b.aoe(t, runOpts{}, "write", "e1.2", "-i", "i1", "--input", src, "--offset", "15M", "--sysfs", "/nonexistent"); r.code != ExitUsage || !strings.Contains(r.stderr, "do not fit") {
		t.Errorf("write past the end: exit %d %q", r.code, r.stderr)
	}

	// The local driver has e1.2 mounted (a fixture tree): refused.
	inuse := copyTree(t, "inuse", t.TempDir())
	r = b.aoe(t, runOpts{procRoot: "../sysfs/testdata/proc"}, "write", "e1.2", "-i", "i1", "--input", src, "--sysfs", inuse)
	if r.code != 1 || !strings.Contains(r.stderr, "the device is in use on this host: e1.2 is in use (mounted on /srv/data)") {
		t.Errorf("in use: exit %d %q", r.code, r.stderr)
	}

	// Reserved for another host: refused, unless --force.
	other := "02:00:00:00:00:99"
	if r = b.aoe(t, runOpts{}, "reserve", "e1.2", "-i", "i0,i1", "--set", other, "--force"); r.code != 0 {
		t.Fatalf("reserve: %d %s", r.code, r.stderr)
	}
	r = b.aoe(t, runOpts{stdin: "x"}, "write", "e1.2", "-i", "i0,i1", "--sysfs", "/nonexistent")
	if r.code != 1 || !strings.Contains(r.stderr, "reserved for other hosts ("+other) {
		t.Errorf("reserved: exit %d %q", r.code, r.stderr)
	}
	if r = b.aoe(t, runOpts{}, "reserve", "e1.2", "-i", "i0,i1", "--release", "--force"); r.code != 0 {
		t.Fatalf("release: %d %s", r.code, r.stderr)
	}
	// --reserve holds the reservation while writing, and releases it.
	r = b.aoe(t, runOpts{stdin: "reserved write"}, "write", "e1.2", "-i", "i0,i1", "--reserve", "--sysfs", "/nonexistent")
	if r.code != 0 || string(b.image(t)[:14]) != "reserved write" {
		t.Errorf("write --reserve: exit %d %q", r.code, r.stderr)
	}
	if r = b.aoe(t, runOpts{}, "reserve", "e1.2", "-i", "i0,i1"); r.code != 0 || strings.Count(r.stdout, "(empty: not reserved)") != 2 {
		t.Errorf("not released: %q %q", r.stdout, r.stderr)
	}
}

// TestWriteReadOnlyCLI: vblade -r refuses the write; the error says so.
func TestWriteReadOnlyCLI(t *testing.T) {
	b := newBlockLab(t, 1<<20, "-r")
	r := b.aoe(t, runOpts{stdin: "data"}, "write", "e1.2", "-i", "i0", "--sysfs", "/nonexistent")
	if r.code != 1 || !strings.Contains(r.stderr, "aborted by the target (is it read-only, e.g. vblade -r?)") {
		t.Errorf("exit %d %q", r.code, r.stderr)
	}
}

// TestNBDRealClients: aoe nbd serves vblade's e1.2 on a Unix socket to
// nbdinfo, nbdcopy, qemu-img and qemu-io.
func TestNBDRealClients(t *testing.T) {
	for _, tool := range []string{"nbdinfo", "nbdcopy", "qemu-img", "qemu-io"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install libnbd-bin qemu-utils)", tool)
		}
	}
	const size = 32 << 20
	b := newBlockLab(t, size)
	sock := filepath.Join(t.TempDir(), "e1.2.nbd")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var srv run
	wg.Add(1)
	go b.lab.Do(b.ini, func() {
		defer wg.Done()
		var stdout, stderr bytes.Buffer
		env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		srv.code = Main(ctx, []string{"aoe", "nbd", "e1.2", "-i", "i0,i1", "--socket", sock, "--sysfs", "/nonexistent"}, env)
		srv.stdout, srv.stderr = stdout.String(), stderr.String()
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if srv.code != 0 {
			t.Errorf("aoe nbd: exit %d: %s", srv.code, srv.stderr)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("aoe nbd did not create its socket")
		}
	}
	uri := "nbd+unix:///e1.2?socket=" + sock
	sh := func(argv ...string) string {
		t.Helper()
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
		return string(out)
	}
	if info := sh("nbdinfo", "--json", uri); !strings.Contains(info, `"export-size": 33554432`) || !strings.Contains(info, `"is_read_only": false`) {
		t.Errorf("nbdinfo: %s", info)
	}
	dir := t.TempDir()
	start := time.Now()
	sh("nbdcopy", uri, filepath.Join(dir, "copy"))
	t.Logf("nbdcopy out of aoe nbd (i0 1500 + i1 9000): %.1f MB/s", size/time.Since(start).Seconds()/1e6)
	got, _ := os.ReadFile(filepath.Join(dir, "copy"))
	if sha256.Sum256(got) != sha256.Sum256(b.image(t)) {
		t.Error("nbdcopy out differs from the image")
	}
	fresh := make([]byte, size)
	rand.Read(fresh)
	os.WriteFile(filepath.Join(dir, "fresh"), fresh, 0o600)
	sh("nbdcopy", filepath.Join(dir, "fresh"), uri)
	if !bytes.Equal(b.image(t), fresh) {
		t.Error("nbdcopy in: the image differs")
	}
	sh("qemu-img", "convert", "-f", "raw", "-O", "raw", "nbd+unix://?socket="+sock, filepath.Join(dir, "qemu")) // the default export
	got, _ = os.ReadFile(filepath.Join(dir, "qemu"))
	if !bytes.Equal(got, fresh) {
		t.Error("qemu-img convert differs")
	}
	sh("qemu-io", "-f", "raw", "-c", "write -P 0xa5 4097 70000", uri)
	if out := sh("qemu-io", "-f", "raw", "-c", "read -P 0xa5 4097 70000", uri); !strings.Contains(out, "read 70000/70000 bytes") {
		t.Errorf("qemu-io: %s", out)
	}
	img := b.image(t)
	if !bytes.Equal(img[4097:74097], bytes.Repeat([]byte{0xa5}, 70000)) || !bytes.Equal(img[:4097], fresh[:4097]) || !bytes.Equal(img[74097:], fresh[74097:]) {
		t.Error("qemu-io write landed wrong")
	}
}

// TestBenchCLI: aoe bench with --write over two paths leaves the image as
// it was; the JSON has the six tests and per-path figures; --file measures
// a local file.
func TestBenchCLI(t *testing.T) {
	b := newBlockLab(t, 8<<20)
	before := sha256.Sum256(b.image(t))
	r := b.aoe(t, runOpts{}, "bench", "e1.2", "-i", "i0,i1", "--duration", "300ms", "--write", "--json", "--sysfs", "/nonexistent")
	var res []struct {
		Test  string  `json:"test"`
		QD    int     `json:"queue_depth"`
		Ops   int64   `json:"ops"`
		MBps  float64 `json:"mb_per_s"`
		P99   float64 `json:"latency_p99_seconds"`
		Paths []struct {
			Interface string  `json:"interface"`
			MBps      float64 `json:"mb_per_s"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 {
		t.Fatalf("exit %d: %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(res) != 6 {
		t.Fatalf("%d tests: %+v", len(res), res)
	}
	for _, x := range res {
		if x.Ops == 0 || x.MBps <= 0 || x.P99 <= 0 || len(x.Paths) != 2 {
			t.Errorf("%+v", x)
		}
	}
	if sha256.Sum256(b.image(t)) != before {
		t.Error("bench --write changed the disk")
	}
	t.Logf("%s", r.stdout)
	r = b.aoe(t, runOpts{}, "bench", "--file", b.img, "--duration", "200ms")
	if r.code != 0 || !strings.Contains(r.stdout, "rand-read") {
		t.Errorf("--file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("%s", r.stdout)
}

// TestBlockioConflictCLI: two real vblades answer for e1.2 with different
// disks (16 and 8 MiB images, on t0 and t1): read, write and bench refuse
// with exit 1, naming both MACs and the capacity that differs, and write
// nothing; --target reads and writes the chosen one.
func TestBlockioConflictCLI(t *testing.T) {
	lab := aoelab.NewLab(t)
	b := &blockLab{lab: lab, tgt: lab.Namespace("tgt"), ini: lab.Namespace("ini")}
	lab.Veth(b.tgt, "t0", b.ini, "i0", 1500)
	lab.Veth(b.tgt, "t1", b.ini, "i1", 9000)
	imgs := map[string]string{}
	for iface, size := range map[string]int64{"t0": 16 << 20, "t1": 8 << 20} {
		img := lab.Image(size)
		data := make([]byte, size)
		rand.Read(data)
		if err := os.WriteFile(img, data, 0o600); err != nil {
			t.Fatal(err)
		}
		imgs[iface] = img
		lab.Vblade(b.tgt, iface, 1, 2, img)
	}
	m0, m1 := lab.MAC(b.tgt, "t0").String(), lab.MAC(b.tgt, "t1").String()
	sums := func() [2][32]byte {
		a, _ := os.ReadFile(imgs["t0"])
		c, _ := os.ReadFile(imgs["t1"])
		return [2][32]byte{sha256.Sum256(a), sha256.Sum256(c)}
	}
	before := sums()
	out := filepath.Join(t.TempDir(), "out")
	for _, args := range [][]string{
		{"read", "-o", out},
		{"write", "--offset", "1M"},
		{"bench", "--write", "--duration", "100ms"},
	} {
		r := b.aoe(t, runOpts{stdin: "must not land"}, append([]string{args[0], "e1.2", "-i", "i0,i1", "--sysfs", "/nonexistent"}, args[1:]...)...)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "e1.2: different disks answer for this address") ||
			!strings.Contains(r.stderr, "capacity 32768 vs 16384 sectors") || !strings.Contains(r.stderr, m0) || !strings.Contains(r.stderr, m1) ||
			!strings.Contains(r.stderr, "choose one with --target MAC") || r.stdout != "" {
			t.Errorf("%s: exit %d %q", args[0], r.code, r.stderr)
		}
		t.Logf("%s: %s", args[0], r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("read made its output file")
	}
	if sums() != before {
		t.Error("a disk was written")
	}
	r := b.aoe(t, runOpts{}, "read", "e1.2", "-i", "i0,i1", "--target", m1, "-o", out, "--sysfs", "/nonexistent")
	got, _ := os.ReadFile(out)
	if want, _ := os.ReadFile(imgs["t1"]); r.code != 0 || !bytes.Equal(got, want) {
		t.Errorf("read --target %s: exit %d, %d bytes %q", m1, r.code, len(got), r.stderr)
	}
	r = b.aoe(t, runOpts{stdin: "chosen"}, "write", "e1.2", "-i", "i0,i1", "--target", m0, "--offset", "9M", "--sysfs", "/nonexistent")
	if img, _ := os.ReadFile(imgs["t0"]); r.code != 0 || string(img[9<<20:9<<20+6]) != "chosen" {
		t.Errorf("write --target %s: exit %d %q", m0, r.code, r.stderr)
	}
	r = b.aoe(t, runOpts{}, "read", "e1.2", "-i", "i0,i1", "--target", "02:00:00:00:00:01", "--sysfs", "/nonexistent")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "did not answer from 02:00:00:00:00:01") || !strings.Contains(r.stderr, m0) || !strings.Contains(r.stderr, m1) {
		t.Errorf("--target absent: exit %d %q", r.code, r.stderr)
	}
}
