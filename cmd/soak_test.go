package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goaoe/aoe/initiator"
	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/internal/soak"
	"github.com/goaoe/aoe/sysfs"
)

// The soak scenarios (internal/soak) run through the commands: every read
// is `aoe read --offset --length -o FILE`, every write `aoe write --offset`
// with the data on stdin, each a process of its own on the in-memory
// network; the invariant is the same: exit 0 with the model's bytes in
// the file, or a non-zero exit; an acknowledged (exit 0) write is on the
// disk. Flushes are left out (no command flushes a target).
const (
	cmdSoakSeeds = 12
	cmdSoakOps   = 10
)

// TestSoakCommands runs the fixed seeds through aoe read and aoe write.
func TestSoakCommands(t *testing.T) {
	seeds := []uint64{}
	if s := os.Getenv("AOE_SOAK_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, seed)
	} else {
		for i := range uint64(cmdSoakSeeds) {
			seeds = append(seeds, 2001+i)
		}
	}
	var st soak.Stats
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { soakCommands(t, t.TempDir(), seed, cmdSoakOps, &st) })
	}
	t.Logf("executions: %v", &st)
}

// exitErr is a command's non-zero exit, named for the counters by its
// code (5: the deadline).
type exitErr struct {
	code   int
	stderr string
}

func (e *exitErr) Error() string {
	return fmt.Sprintf("exit %d: %s", e.code, strings.TrimSpace(e.stderr))
}

func (e *exitErr) SoakKind() string {
	if e.code == ExitTimeout {
		return "exit-5/deadline"
	}
	for _, k := range []string{"wrong LBA", "short", "remaining", "different disks", "ATA", "did not answer", "do not fit", "past the end"} {
		if strings.Contains(e.stderr, k) {
			return fmt.Sprintf("exit-%d/%s", e.code, k)
		}
	}
	return fmt.Sprintf("exit-%d", e.code)
}

// cmdDevice runs the scenario's reads and writes as commands.
type cmdDevice struct {
	dir   string
	setup func(*Env)
	ifs   string
}

func (d *cmdDevice) run(stdin []byte, argv ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	env := &Env{
		Stdin: bytes.NewReader(stdin), Stdout: &stdout, Stderr: &stderr,
		Getenv:     func(k string) string { return map[string]string{"sysfs_dir": "/nonexistent"}[k] },
		Version:    "test",
		Host:       sysfs.Host{},
		NodeWriter: func(string, []byte) error { return fmt.Errorf("no control node writes in a soak") },
	}
	d.setup(env)
	argv = append(argv, "-i", d.ifs, "--timeout", "50ms", "--deadline", soak.DiskOptions.Deadline.String(), "--sysfs", "/nonexistent")
	if code := Main(context.Background(), argv, env); code != 0 {
		return stdout.String(), &exitErr{code, stderr.String()}
	}
	return stdout.String(), nil
}

func (d *cmdDevice) ReadAt(p []byte, off int64) (int, error) {
	out := filepath.Join(d.dir, "read.out")
	defer os.Remove(out)
	if _, err := d.run(nil, "aoe", "read", aoeaddr.Address{Shelf: soak.Shelf, Slot: soak.Slot}.String(), "--offset", strconv.FormatInt(off, 10),
		"--length", strconv.Itoa(len(p)), "-o", out); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return 0, err
	}
	if len(b) > len(p) {
		return 0, fmt.Errorf("aoe read --length %d wrote %d bytes", len(p), len(b))
	}
	n := copy(p, b)
	if n < len(p) {
		return n, io.EOF // the command stops at the end of the disk
	}
	return n, nil
}

func (d *cmdDevice) WriteAt(p []byte, off int64) (int, error) {
	if _, err := d.run(p, "aoe", "write", aoeaddr.Address{Shelf: soak.Shelf, Slot: soak.Slot}.String(), "--offset", strconv.FormatInt(off, 10)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (d *cmdDevice) Sync() error { return fmt.Errorf("no command flushes a target") }

// PartialPastEnd: aoe write from stdin past the end writes up to the end,
// then fails (exit 2) saying how much it wrote.
func (d *cmdDevice) PartialPastEnd() bool { return true }

// soakCommands runs one seed's scenario through the commands.
func soakCommands(t testing.TB, dir string, seed uint64, maxOps int, st *soak.Stats) {
	sc := soak.NewScenario(seed, maxOps)
	l := soak.NewLab(t, sc)
	l.OpenEachOp = true
	l.FinalChunk = 4 << 20 // one command reads it all
	st.Add(func(s *soak.Stats) { s.Seeds++ })
	var ifaces []net.Interface
	var names []string
	for i, mtu := range sc.MTUs {
		ifaces = append(ifaces, net.Interface{Index: i + 2, Name: soak.Interface(i), MTU: mtu, HardwareAddr: soak.HostMAC(i),
			Flags: net.FlagUp | net.FlagBroadcast})
		names = append(names, soak.Interface(i))
	}
	dev := &cmdDevice{dir: dir, ifs: strings.Join(names, ",")}
	dev.setup = func(env *Env) {
		env.Interfaces = func() ([]net.Interface, error) { return ifaces, nil }
		env.OpenClient = func(name string) (*initiator.Client, error) {
			for i, n := range names {
				if n == name {
					return l.Client(i), nil
				}
			}
			return nil, fmt.Errorf("aoe: interface %s: no such network interface", name)
		}
	}
	if sc.Impostor {
		// Every command must refuse the address (or, when one answer
		// comes late, use one disk): the first read says which.
		l.Peer.SetMix(soak.Mix{})
		_, err := dev.run(nil, "aoe", "read", aoeaddr.Address{Shelf: soak.Shelf, Slot: soak.Slot}.String(), "--length", "512")
		if err == nil {
			t.Logf("%v: with an impostor, aoe read opened one of the two", sc)
			st.Add(func(s *soak.Stats) { s.OneOfTwo++ })
			return // which one is not said by the command: the library's soak checks this case
		}
		if !strings.Contains(err.Error(), "different disks") || err.(*exitErr).code != ExitFailure {
			t.Errorf("%v: with an impostor, aoe read: %v, want exit 1 saying different disks answer", sc, err)
		}
		st.Add(func(s *soak.Stats) { s.Refused++ })
		return
	}
	for i, op := range sc.Ops {
		if op.Kind == soak.OpSync {
			continue
		}
		if !l.Do(t, dev, i, st) {
			break
		}
	}
	l.Final(t, dev, st)
	st.AddPeer(l.Peer.Stats())
}
