package boot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goaoe/aoe/internal/aoectl"
	"github.com/goaoe/aoe/sysfs"
)

// fakeSystem is a sysfs and /dev tree in a temporary directory, a fake
// modprobe and driver that finds targets after some discoveries, and a fake
// clock.
type fakeSystem struct {
	t        *testing.T
	sys, dev string
	now      time.Time
	modprobe [][]string
	writes   []string
	// targets answer at the n-th discovery: name -> partitions.
	targets   map[string][]int
	answersAt int
	discovers int
	// nodesAfter is how many polls the control nodes take to appear.
	nodesAfter int
	polls      int
	inUse      map[string]bool
}

func newFakeSystem(t *testing.T) *fakeSystem {
	d := t.TempDir()
	f := &fakeSystem{t: t, sys: filepath.Join(d, "sys"), dev: filepath.Join(d, "dev", "etherd"),
		now: time.Unix(1000, 0), targets: map[string][]int{}, inUse: map[string]bool{}}
	for _, p := range []string{"block", "class/net/eth0", "class/net/eth1"} {
		f.mkdir(filepath.Join(f.sys, p))
	}
	f.mkdir(f.dev)
	return f
}

func (f *fakeSystem) mkdir(p string) {
	if err := os.MkdirAll(p, 0o755); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeSystem) write(p, s string) {
	f.mkdir(filepath.Dir(p))
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeSystem) loadModule() {
	f.write(filepath.Join(f.sys, "module/aoe/parameters/aoe_iflist"), "\n")
}

func (f *fakeSystem) env() Env {
	return Env{
		SysfsRoot: f.sys,
		DevDir:    f.dev,
		Modprobe: func(ctx context.Context, args ...string) error {
			f.modprobe = append(f.modprobe, args)
			f.loadModule()
			f.write(filepath.Join(f.dev, sysfs.NodeDiscover), "")
			return nil
		},
		Control: aoectl.Control{Dir: f.dev, Writer: f.control},
		CheckNode: func(node string) error {
			if _, err := os.Stat(filepath.Join(f.sys, "module/aoe")); err != nil {
				return err
			}
			_, err := os.Stat(filepath.Join(f.dev, sysfs.NodeDiscover))
			return err
		},
		Clock: aoectl.Clock{
			Now: func() time.Time { return f.now },
			Sleep: func(ctx context.Context, d time.Duration) error {
				f.now = f.now.Add(d)
				f.polls++
				if f.polls == f.nodesAfter {
					f.write(filepath.Join(f.dev, "discover"), "")
				}
				return ctx.Err()
			},
		},
		IsBlockDevice: func(p string) bool { _, err := os.Stat(p); return err == nil },
		Poll:          250 * time.Millisecond,
		Rediscover:    5 * time.Second,
	}
}

// control is the fake driver's control nodes: they exist once the module
// is loaded (and, with nodesAfter, after some polls).
func (f *fakeSystem) control(path string, data []byte) error {
	if _, err := os.Stat(filepath.Join(f.sys, "module/aoe")); err != nil {
		return errors.New("no driver")
	}
	f.writes = append(f.writes, filepath.Base(path)+"="+strings.ReplaceAll(string(data), "\x00", "\\0"))
	switch filepath.Base(path) {
	case sysfs.NodeDiscover:
		f.discovers++
		if f.discovers >= f.answersAt {
			for name, parts := range f.targets {
				f.appear(name, parts)
			}
		}
	case sysfs.NodeFlush:
		entries, _ := os.ReadDir(filepath.Join(f.sys, "block"))
		for _, e := range entries {
			name := strings.TrimPrefix(e.Name(), sysfs.DiskPrefix)
			if !f.inUse[name] {
				os.RemoveAll(filepath.Join(f.sys, "block", e.Name()))
				os.Remove(filepath.Join(f.dev, name))
			}
		}
	}
	return nil
}

func (f *fakeSystem) appear(name string, parts []int) {
	dir := filepath.Join(f.sys, "block", sysfs.DiskPrefix+name)
	f.write(filepath.Join(dir, "state"), "up\n")
	f.write(filepath.Join(f.dev, name), "")
	for _, p := range parts {
		pn := name + "p" + string(rune('0'+p))
		f.write(filepath.Join(dir, sysfs.DiskPrefix+pn, "dev"), "152:1\n")
		f.write(filepath.Join(f.dev, pn), "")
	}
}

func upConfig(wait ...string) Config {
	c := Default()
	c.Boot, c.Interfaces, c.Wait = true, []string{"eth0", "eth1"}, wait
	return c
}

func TestUpOffDoesNothing(t *testing.T) {
	f := newFakeSystem(t)
	res, err := Up(context.Background(), f.env(), Default())
	if err != nil || !res.Off || len(f.modprobe) != 0 || len(f.writes) != 0 {
		t.Fatalf("off: %+v %v modprobe=%v writes=%v", res, err, f.modprobe, f.writes)
	}
}

func TestUpLoadsRestrictedAndWaits(t *testing.T) {
	f := newFakeSystem(t)
	f.targets["e1.2"] = []int{1}
	f.answersAt = 3 // the first two broadcasts find nothing
	res, err := Up(context.Background(), f.env(), upConfig("e1.2", "e1.2p1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"aoe", "aoe_iflist=eth0 eth1"}}; !reflect.DeepEqual(f.modprobe, want) {
		t.Errorf("modprobe %v, want %v", f.modprobe, want)
	}
	if !res.Loaded || !reflect.DeepEqual(res.Ready, []string{"e1.2", "e1.2p1"}) {
		t.Errorf("%+v", res)
	}
	if f.discovers != 3 {
		t.Errorf("%d discoveries, want 3 (one every 5s)", f.discovers)
	}
	// Idempotent: again, with the driver loaded, it sets the interfaces
	// and finds everything at once.
	f.modprobe, f.writes = nil, nil
	if _, err := Up(context.Background(), f.env(), upConfig("e1.2p1")); err != nil {
		t.Fatal(err)
	}
	if len(f.modprobe) != 0 || !reflect.DeepEqual(f.writes, []string{"interfaces=eth0 eth1\\0", "discover=\n"}) {
		t.Errorf("second run: modprobe %v writes %q", f.modprobe, f.writes)
	}
}

func TestUpTimeoutNamesMissing(t *testing.T) {
	f := newFakeSystem(t)
	f.targets["e1.2"] = nil // no partition table
	cfg := upConfig("e1.2", "e1.2p1", "e3.4")
	cfg.Timeout = 20 * time.Second
	start := f.now
	_, err := Up(context.Background(), f.env(), cfg)
	var te *aoectl.TimeoutError
	if !errors.Is(err, aoectl.ErrTimeout) || !errors.As(err, &te) {
		t.Fatalf("got %v, want a timeout", err)
	}
	if want := []string{"e1.2p1 (no partition 1)", "e3.4 (not found)"}; !reflect.DeepEqual(missingStrings(te), want) {
		t.Errorf("missing %q, want %q", missingStrings(te), want)
	}
	if el := f.now.Sub(start); el < 20*time.Second || el > 21*time.Second {
		t.Errorf("gave up after %v of fake time", el)
	}
	if !strings.Contains(err.Error(), "timed out after 20s waiting for e1.2p1 (no partition 1), e3.4 (not found)") {
		t.Errorf("message: %v", err)
	}
}

func TestUpDownDevice(t *testing.T) {
	f := newFakeSystem(t)
	f.loadModule()
	f.write(filepath.Join(f.dev, "discover"), "")
	f.write(filepath.Join(f.sys, "block", sysfs.DiskPrefix+"e1.2", "state"), "down,closewait\x1b\n")
	cfg := upConfig("e1.2")
	cfg.Timeout = time.Second
	_, err := Up(context.Background(), f.env(), cfg)
	if err == nil || !strings.Contains(err.Error(), `e1.2 (down,closewait\x1b)`) {
		t.Errorf("got %v", err)
	}
}

func TestUpNodesLate(t *testing.T) {
	f := newFakeSystem(t)
	f.nodesAfter = 4
	f.targets["e1.2"] = nil
	env := f.env()
	env.Modprobe = func(ctx context.Context, args ...string) error {
		f.loadModule()
		os.Remove(filepath.Join(f.dev, "discover"))
		return nil
	}
	if _, err := Up(context.Background(), env, upConfig("e1.2")); err != nil {
		t.Fatal(err)
	}
	if f.polls < 4 {
		t.Errorf("did not wait for the control nodes (%d polls)", f.polls)
	}
}

func TestUpErrors(t *testing.T) {
	f := newFakeSystem(t)
	cfg := upConfig()
	cfg.Interfaces = []string{"eth9"}
	if _, err := Up(context.Background(), f.env(), cfg); !errors.Is(err, ErrNoInterface) {
		t.Errorf("missing interface: %v", err)
	}
	env := f.env()
	env.Modprobe = func(context.Context, ...string) error { return errors.New("modprobe: FATAL: Module aoe not found") }
	if _, err := Up(context.Background(), env, upConfig()); !errors.Is(err, ErrNoDriver) {
		t.Errorf("modprobe failure: %v", err)
	}
	env = f.env()
	env.Modprobe = func(context.Context, ...string) error { f.loadModule(); return nil }
	cfg = upConfig()
	cfg.Timeout = 3 * time.Second
	if _, err := Up(context.Background(), env, cfg); !errors.Is(err, ErrNoDriver) {
		t.Errorf("nodes never appear: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f2 := newFakeSystem(t)
	f2.loadModule()
	f2.write(filepath.Join(f2.dev, "discover"), "")
	if _, err := Up(ctx, f2.env(), upConfig("e1.2")); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

func TestUpAllInterfaces(t *testing.T) {
	f := newFakeSystem(t)
	cfg := Default()
	cfg.Boot, cfg.AllInterfaces = true, true
	if _, err := Up(context.Background(), f.env(), cfg); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.modprobe, [][]string{{"aoe"}}) {
		t.Errorf("modprobe %v", f.modprobe)
	}
}

func TestDownFlushesOnlyUnused(t *testing.T) {
	f := newFakeSystem(t)
	// Not loaded: nothing to do.
	if res, err := Down(context.Background(), f.env()); err != nil || len(f.writes) != 0 || res.Flushed != nil {
		t.Fatalf("%+v %v %v", res, err, f.writes)
	}
	f.loadModule()
	f.write(filepath.Join(f.dev, "discover"), "")
	f.appear("e1.2", []int{1})
	f.appear("e1.3", nil)
	f.inUse["e1.2"] = true
	res, err := Down(context.Background(), f.env())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, DownResult{Flushed: []string{"e1.3"}, Kept: []string{"e1.2"}}) || !reflect.DeepEqual(f.writes, []string{"flush=all"}) {
		t.Errorf("%+v writes %q", res, f.writes)
	}
}

// missingStrings is what a timeout names: "e1.2p1 (no partition 1)".
func missingStrings(te *aoectl.TimeoutError) []string {
	var out []string
	for _, m := range te.Missing {
		out = append(out, m.String())
	}
	return out
}
