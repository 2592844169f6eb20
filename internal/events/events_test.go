package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func snap(loaded bool, devs map[string]Device) Snapshot {
	return Snapshot{Loaded: loaded, Devices: devs}
}

func TestDiff(t *testing.T) {
	up := Device{State: "up", Interfaces: []string{"eth0", "eth1"}, Payload: "1024", Size: "2097152", MAC: "02ae00000102"}
	down := up
	down.State, down.Size = "down", "0"
	closewait := down
	closewait.State = "down,closewait"
	oneIf := up
	oneIf.Interfaces = []string{"eth1"}
	moreIf := up
	moreIf.Interfaces = []string{"eth0", "eth1", "eth2"}
	jumbo := up
	jumbo.Payload = "8704"

	for _, c := range []struct {
		name     string
		old, new Snapshot
		want     []Event
	}{
		{"nothing", snap(true, map[string]Device{"e1.2": up}), snap(true, map[string]Device{"e1.2": up}), nil},
		{"driver loaded", snap(false, nil), snap(true, map[string]Device{}), []Event{{Kind: KindDriverLoaded}}},
		{"driver unloaded", snap(true, map[string]Device{"e1.2": up}), snap(false, nil), []Event{
			{Kind: KindDriverUnloaded}, {Kind: KindRemoved, Device: "e1.2", Old: "up"}}},
		{"appeared in order", snap(true, nil), snap(true, map[string]Device{"e10.1": up, "e2.1": up, "e2.10": up, "e2.9": down}), []Event{
			{Kind: KindAppeared, Device: "e2.1", New: "up"}, {Kind: KindAppeared, Device: "e2.9", New: "down"},
			{Kind: KindAppeared, Device: "e2.10", New: "up"}, {Kind: KindAppeared, Device: "e10.1", New: "up"}}},
		{"removed", snap(true, map[string]Device{"e1.2": down}), snap(true, map[string]Device{}), []Event{
			{Kind: KindRemoved, Device: "e1.2", Old: "down"}}},
		{"up to down", snap(true, map[string]Device{"e1.2": up}), snap(true, map[string]Device{"e1.2": down}), []Event{
			{Kind: KindState, Device: "e1.2", Old: "up", New: "down"},
			{Kind: KindSize, Device: "e1.2", Old: "2097152", New: "0"}}},
		{"closewait", snap(true, map[string]Device{"e1.2": down}), snap(true, map[string]Device{"e1.2": closewait}), []Event{
			{Kind: KindState, Device: "e1.2", Old: "down", New: "down,closewait"}}},
		{"down to up", snap(true, map[string]Device{"e1.2": down}), snap(true, map[string]Device{"e1.2": up}), []Event{
			{Kind: KindState, Device: "e1.2", Old: "down", New: "up"},
			{Kind: KindSize, Device: "e1.2", Old: "0", New: "2097152"}}},
		{"interface lost", snap(true, map[string]Device{"e1.2": up}), snap(true, map[string]Device{"e1.2": oneIf}), []Event{
			{Kind: KindInterfaceLost, Device: "e1.2", Interface: "eth0"}}},
		{"interface added", snap(true, map[string]Device{"e1.2": up}), snap(true, map[string]Device{"e1.2": moreIf}), []Event{
			{Kind: KindInterfaceAdded, Device: "e1.2", Interface: "eth2"}}},
		{"payload", snap(true, map[string]Device{"e1.2": up}), snap(true, map[string]Device{"e1.2": jumbo}), []Event{
			{Kind: KindPayload, Device: "e1.2", Old: "1024", New: "8704"}}},
		{"mac", snap(true, map[string]Device{"e1.2": up}), snap(true, map[string]Device{"e1.2": {State: "up", Interfaces: up.Interfaces, Payload: "1024", Size: "2097152", MAC: "02ae00000199"}}), []Event{
			{Kind: KindMAC, Device: "e1.2", Old: "02ae00000102", New: "02ae00000199"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Diff(c.old, c.new)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Diff:\n got %+v\nwant %+v", got, c.want)
			}
			// Pure: the inputs are unchanged and a second call agrees.
			if again := Diff(c.old, c.new); !reflect.DeepEqual(again, got) {
				t.Errorf("Diff is not repeatable: %+v", again)
			}
		})
	}
}

func TestParseErrMessage(t *testing.T) {
	for msg, want := range map[string]Event{
		"aoecmd_ata_rsp: ata response for unknown device 1.2\n": {Kind: KindUnknownDevice, Device: "e1.2",
			Message: "aoecmd_ata_rsp: ata response for unknown device 1.2", Source: SourceErr},
		" unexpected rsp e1.2    tag=0003a1b2@00012f00 s=06f7b776b26b d=6254768a3725\n": {Kind: KindUnexpectedResponse, Device: "e1.2",
			Message: "unexpected rsp e1.2    tag=0003a1b2@00012f00 s=06f7b776b26b d=6254768a3725", Source: SourceErr},
		"     retransmit e7.0 oldtag=00000001@00000002 newtag=00000003 s=06f7b776b26b d=6254768a3725 nout=3\n": {Kind: KindRetransmit, Device: "e7.0",
			Message: "retransmit e7.0 oldtag=00000001@00000002 newtag=00000003 s=06f7b776b26b d=6254768a3725 nout=3", Source: SourceErr},
		"     retransmit e99999.1 oldtag=0\n": {Kind: KindRetransmit, Message: "retransmit e99999.1 oldtag=0", Source: SourceErr},
		"something \x1b[31m else\n":           {Kind: KindDriverMessage, Message: "something \x1b[31m else", Source: SourceErr},
	} {
		if got := ParseErrMessage(msg); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseErrMessage(%q) = %+v, want %+v", msg, got, want)
		}
	}
}

func TestParseUevent(t *testing.T) {
	b := []byte("add@/devices/virtual/block/etherd!e1.2\x00ACTION=add\x00DEVPATH=/devices/virtual/block/etherd!e1.2\x00SUBSYSTEM=block\x00MAJOR=152\x00MINOR=16\x00DEVNAME=etherd/e1.2\x00DEVTYPE=disk\x00SEQNUM=1234\x00")
	u, ok := ParseUevent(b)
	if !ok || u.Action != "add" || u.Subsystem != "block" || u.DevName != "etherd/e1.2" || u.Env["MINOR"] != "16" || !u.AoE() {
		t.Errorf("%+v %v", u, ok)
	}
	for _, other := range []string{
		"add@/devices/virtual/block/loop0\x00ACTION=add\x00SUBSYSTEM=block\x00DEVNAME=loop0\x00",
		"change@/devices/virtual/net/eth0\x00SUBSYSTEM=net\x00",
	} {
		if u, ok := ParseUevent([]byte(other)); !ok || u.AoE() {
			t.Errorf("%q: %+v %v", other, u, ok)
		}
	}
	if u, ok := ParseUevent([]byte("remove@/module/aoe\x00SUBSYSTEM=module\x00")); !ok || !u.AoE() {
		t.Errorf("module: %+v", u)
	}
	if _, ok := ParseUevent([]byte("libudev\x00\xfe\xed\xca\xfe")); ok {
		t.Error("libudev message taken")
	}
	if _, ok := ParseUevent(nil); ok {
		t.Error("empty taken")
	}
}

func TestRender(t *testing.T) {
	when := time.Date(2026, 11, 22, 3, 4, 5, 123456789, time.UTC)
	evs := []Event{
		{Time: when, Kind: KindState, Device: "e1.2", Old: "up", New: "down", Source: SourcePoll},
		{Time: when, Kind: KindRemoved, Device: "e1.2", Old: "down", Source: SourceUevent},
		{Time: when, Kind: KindInterfaceLost, Device: "e1.2", Interface: "eth\x1b0", Source: SourcePoll},
		{Time: when, Kind: KindDriverMessage, Message: "bad \x1b]0;x\x07 \xff\"\\ end", Source: SourceErr},
		{Time: when, Kind: KindDriverLoaded, Source: SourcePoll},
	}
	var human, js bytes.Buffer
	for _, e := range evs {
		if err := WriteHuman(&human, e); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(&js, e); err != nil {
			t.Fatal(err)
		}
	}
	wantHuman := `2026-11-22T03:04:05.123Z e1.2 state up -> down
2026-11-22T03:04:05.123Z e1.2 removed (was down)
2026-11-22T03:04:05.123Z e1.2 interface-lost eth\x1b0
2026-11-22T03:04:05.123Z - driver-message: bad \x1b]0;x\x07 \xff"\\ end
2026-11-22T03:04:05.123Z - driver-loaded
`
	if human.String() != wantHuman {
		t.Errorf("human:\n%s\nwant:\n%s", human.String(), wantHuman)
	}
	if out := human.String() + js.String(); strings.ContainsAny(out, "\x1b\x07") || strings.IndexByte(out, 0xff) >= 0 {
		t.Error("raw control bytes in the output")
	}
	lines := strings.Split(strings.TrimSuffix(js.String(), "\n"), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("%d JSON lines", len(lines))
	}
	for i, l := range lines {
		var m map[string]string
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		if m["event"] != evs[i].Kind || m["source"] != evs[i].Source || m["time"] != "2026-11-22T03:04:05.123456789Z" {
			t.Errorf("line %d: %v", i, m)
		}
	}
	if !strings.Contains(lines[3], `"message":"bad \\x1b]0;x\\x07 \\xff\"\\\\ end"`) {
		t.Errorf("message: %s", lines[3])
	}
	// Every field is there; those the event has none of are null.
	if !strings.Contains(lines[0], `"device":"e1.2","old":"up","new":"down","interface":null,"message":null,"source":"poll"}`) {
		t.Errorf("state line: %s", lines[0])
	}
}

// collector gathers emitted events for a test.
type collector struct {
	mu  sync.Mutex
	evs []Event
}

func (c *collector) emit(e Event) error {
	c.mu.Lock()
	c.evs = append(c.evs, e)
	c.mu.Unlock()
	return nil
}

func (c *collector) wait(t *testing.T, kind, dev string) Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, e := range c.evs {
			if e.Kind == kind && e.Device == dev {
				c.mu.Unlock()
				return e
			}
		}
		c.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("no %s event for %s; got %+v", kind, dev, c.evs)
	return Event{}
}

// TestWatchFixture watches a fixture tree being changed as the driver
// would change it, and ends on cancel.
func TestWatchFixture(t *testing.T) {
	root := filepath.Join(t.TempDir(), "sys")
	if out, err := exec.Command("cp", "-a", "../../sysfs/testdata/basic", root).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{}
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, Options{SysfsRoot: root, Interval: 20 * time.Millisecond, Initial: true, Uevents: true,
			ErrNode: filepath.Join(t.TempDir(), "err")}, c.emit)
	}()
	if e := c.wait(t, KindPresent, "e7.0"); e.New != "up" {
		t.Errorf("present: %+v", e)
	}
	dev := filepath.Join(root, "devices/virtual/block/etherd!e1.2")
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dev, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("state", "down\n")
	if e := c.wait(t, KindState, "e1.2"); e.Old != "up" || e.New != "down" || e.Source != SourcePoll || e.Time.IsZero() {
		t.Errorf("state: %+v", e)
	}
	write("netif", "eth0,eth1\n")
	if e := c.wait(t, KindInterfaceAdded, "e1.2"); e.Interface != "eth1" {
		t.Errorf("interface: %+v", e)
	}
	if err := os.Remove(filepath.Join(root, "block/etherd!e1.2")); err != nil {
		t.Fatal(err)
	}
	c.wait(t, KindRemoved, "e1.2")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Watch did not end on cancel")
	}
}

// TestWatchEmitError: an output error ends the watch with that error.
func TestWatchEmitError(t *testing.T) {
	errBoom := os.ErrClosed
	err := Watch(context.Background(), Options{SysfsRoot: "../../sysfs/testdata/basic", Initial: true},
		func(Event) error { return errBoom })
	if err != errBoom {
		t.Errorf("Watch: %v", err)
	}
	if err := Watch(context.Background(), Options{SysfsRoot: t.TempDir()}, nil); err == nil {
		t.Error("no error for a tree without block/")
	}
}

// TestEventsIntervalBounds: an interval below MinInterval (a nanosecond,
// zero or less excepted: 0 is the default) is refused before anything is
// read, rather than burning a CPU.
func TestEventsIntervalBounds(t *testing.T) {
	for _, d := range []time.Duration{time.Nanosecond, MinInterval - 1, -time.Second} {
		err := Watch(context.Background(), Options{SysfsRoot: "../../sysfs/testdata/basic", Interval: d}, func(Event) error {
			t.Fatalf("%v: an event was emitted", d)
			return nil
		})
		if !errors.Is(err, ErrInterval) {
			t.Errorf("%v: %v, want ErrInterval", d, err)
		}
	}
	// At the floor (and 0, the default) it runs until canceled.
	for _, d := range []time.Duration{MinInterval, 0} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := Watch(ctx, Options{SysfsRoot: "../../sysfs/testdata/basic", Interval: d}, func(Event) error { return nil }); err != nil {
			t.Errorf("%v: %v", d, err)
		}
	}
}
