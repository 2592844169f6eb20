package aoelab

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaoe/aoe/initiator/aoetest"
	"github.com/goaoe/aoe/initiator/wire"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// Lab builds a test network out of network namespaces that it creates and
// removes: veth pairs between them, packet loss, and processes (vblade)
// inside them. Every AoE frame a test sends stays inside its namespaces;
// processes are killed by PID at cleanup. It needs root.
type Lab struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	nss    []string
	procs  []*exec.Cmd
}

var labSeq atomic.Int32

// NewLab returns a lab that cleans up after t. Without root it skips the
// test, except in CI (CI set), where it fails: CI runs as root.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("network namespace tests need root, and CI runs as root")
		}
		t.Skip("network namespace tests need root")
	}
	for _, tool := range []string{"ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install iproute2)", tool)
		}
	}
	l := &Lab{t: t, prefix: fmt.Sprintf("aoet%d-%d", os.Getpid()%100000, labSeq.Add(1))}
	t.Cleanup(l.cleanup)
	return l
}

func (l *Lab) cleanup() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.procs {
		if p.Process != nil {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}
	for _, ns := range l.nss {
		// Deleting a namespace removes the interfaces in it.
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			l.t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	}
}

// Run runs a command in the root namespace (ip, nft...) and fails the test
// if it fails.
func (l *Lab) Run(argv ...string) string {
	l.t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// Namespace creates a network namespace and returns its name.
func (l *Lab) Namespace(name string) string {
	l.t.Helper()
	ns := l.prefix + "-" + name
	l.Run("ip", "netns", "add", ns)
	l.mu.Lock()
	l.nss = append(l.nss, ns)
	l.mu.Unlock()
	l.Run("ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// Veth creates a veth pair with end a in namespace nsA and end b in nsB,
// sets the MTU, brings both up and waits until both are operationally up
// (frames sent before that are lost).
func (l *Lab) Veth(nsA, a, nsB, b string, mtu int) {
	l.t.Helper()
	l.Run("ip", "-n", nsA, "link", "add", a, "mtu", fmt.Sprint(mtu), "type", "veth", "peer", "name", b, "mtu", fmt.Sprint(mtu), "netns", nsB)
	l.Run("ip", "-n", nsA, "link", "set", a, "up")
	l.Run("ip", "-n", nsB, "link", "set", b, "up")
	l.WaitUp(nsA, a)
	l.WaitUp(nsB, b)
}

// WaitUp waits until an interface's operational state is UP.
func (l *Lab) WaitUp(ns, ifname string) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := l.Run("ip", "-n", ns, "-j", "link", "show", ifname)
		var links []struct {
			OperState string `json:"operstate"`
		}
		if err := json.Unmarshal([]byte(out), &links); err == nil && len(links) == 1 && links[0].OperState == "UP" {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s in %s is not up: %s", ifname, ns, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Loss drops percent of the AoE frames arriving on an interface: with tc
// netem when the kernel has it, else with an nftables ingress rule.
func (l *Lab) Loss(ns, ifname string, percent int) {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", ifname, "root", "netem", "loss", fmt.Sprintf("%d%%", percent)).CombinedOutput()
	if err == nil {
		return
	}
	if _, lerr := exec.LookPath("nft"); lerr != nil {
		l.t.Fatalf("tc netem failed (%v: %s) and nft is missing (apt-get install nftables)", err, out)
	}
	rules := fmt.Sprintf(`table netdev aoeloss_%[1]s {
  chain in_%[1]s {
    type filter hook ingress device %[2]q priority 0; policy accept;
    ether type 0x88a2 numgen random mod 100 < %[3]d drop
  }
}
`, strings.ReplaceAll(ifname, "-", "_"), ifname, percent)
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("nft: %v: %s", err, out)
	}
}

// Image creates a sparse disk image of size bytes.
func (l *Lab) Image(size int64) string {
	l.t.Helper()
	f, err := os.CreateTemp(l.t.TempDir(), "disk-*.img")
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		l.t.Fatal(err)
	}
	return f.Name()
}

// Start starts a process inside a namespace; it is killed at cleanup. Its
// output goes to the returned buffer.
func (l *Lab) Start(ns string, argv ...string) (*exec.Cmd, *SyncBuffer) {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	out := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	l.mu.Lock()
	l.procs = append(l.procs, cmd)
	l.mu.Unlock()
	return cmd, out
}

// Vblade starts vblade exporting image as shelf.slot on ifname in ns, and
// waits until it has opened its socket (its "pid N: eX.Y" line).
func (l *Lab) Vblade(ns, ifname string, shelf, slot int, image string, opts ...string) *exec.Cmd {
	l.t.Helper()
	path, err := exec.LookPath("vblade")
	if err != nil {
		l.t.Fatal("vblade is needed (apt-get install vblade)")
	}
	argv := append([]string{path}, opts...)
	argv = append(argv, fmt.Sprint(shelf), fmt.Sprint(slot), ifname, image)
	cmd, out := l.Start(ns, argv...)
	want := fmt.Sprintf(": e%d.%d, ", shelf, slot)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			l.t.Fatalf("vblade e%d.%d on %s did not start: %q", shelf, slot, ifname, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cmd
}

// MAC returns the hardware address of ifname in namespace ns.
func (l *Lab) MAC(ns, ifname string) net.HardwareAddr {
	l.t.Helper()
	var mac net.HardwareAddr
	l.Do(ns, func() {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			l.t.Fatal(err)
		}
		mac = ifi.HardwareAddr
	})
	return mac
}

// Do runs fn with the calling goroutine's thread inside namespace ns, so
// that the sockets fn opens belong to ns (they keep it afterwards).
func (l *Lab) Do(ns string, fn func()) {
	l.t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		l.t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		runtime.UnlockOSThread()
		l.t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		l.t.Fatalf("setns %s: %v", ns, err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: the runtime ends it with the goroutine.
			l.t.Errorf("setns back: %v", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns the output's lines.
func (s *SyncBuffer) Lines() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// ServeTarget serves t on a raw socket on ifname inside ns, with the
// interface's MAC, until cleanup.
func (l *Lab) ServeTarget(ns, ifname string, t *aoetest.Target) {
	l.t.Helper()
	l.serveRaw(ns, ifname, func(mac net.HardwareAddr) func(net.PacketConn) error {
		t.MAC = mac
		return t.Serve
	})
}

// ServeHostile runs a misbehaving AoE peer (aoetest.Hostile: floods,
// forged sources, error flags, delays, impostors) on a raw socket on
// ifname in namespace ns until the test ends; its MAC defaults to the
// interface's. Its floods are bounded: Flood replies per request.
func (l *Lab) ServeHostile(ns, ifname string, h *aoetest.Hostile) {
	l.t.Helper()
	l.serveRaw(ns, ifname, func(mac net.HardwareAddr) func(net.PacketConn) error {
		if h.MAC == nil {
			h.MAC = mac
		}
		if h.Target != nil {
			h.Target.MAC = mac
		}
		return h.Serve
	})
}

// serveRaw opens a raw AoE socket on ifname inside ns and runs the server
// that setup returns for the interface's MAC on it, until cleanup, which
// waits for the server to stop.
func (l *Lab) serveRaw(ns, ifname string, setup func(mac net.HardwareAddr) func(net.PacketConn) error) {
	l.t.Helper()
	l.Do(ns, func() {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			l.t.Fatal(err)
		}
		conn, err := packet.Listen(ifi, packet.Raw, wire.EtherType, nil)
		if err != nil {
			l.t.Fatal(err)
		}
		serve := setup(ifi.HardwareAddr)
		done := make(chan struct{})
		go func() {
			defer close(done)
			serve(conn)
		}()
		l.t.Cleanup(func() {
			conn.SetDeadline(time.Now())
			conn.Close()
			<-done
		})
	})
}
