package cmd

import (
	"strings"
	"testing"

	"github.com/goaoe/aoe/initiator/aoetest"
)

// selfMAC returns the MAC of i0 in the initiator namespace.
func (w *wireLab) selfMAC(t *testing.T) string {
	return w.MAC(w.ini, "i0").String()
}

func TestMaskAndReserveFakeTarget(t *testing.T) {
	w := newWireLab(t)
	tg := &aoetest.Target{Shelf: 4, Slot: 2, BufferCount: 16, Sectors: 2048, Model: "fake", Serial: "f", MaxMasks: 3}
	w.ServeTarget(w.tgt, "t0", tg)
	self := w.selfMAC(t)
	other, third, fourth := "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
	mask := func(args ...string) run {
		return w.aoe(t, append([]string{"aoe", "mask", "e4.2", "-i", "i0"}, args...)...)
	}

	if r := mask(); r.code != 0 || r.stdout != "e4.2 via "+tg.MAC.String()+" on i0: mask (empty: every initiator)\n" {
		t.Errorf("empty mask (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
	r := mask("--add", other)
	if r.code != 1 || !strings.Contains(r.stderr, "would become "+other+", without this host ("+self+")") || len(tg.Masks()) != 0 {
		t.Errorf("lockout (exit %d): %q, list %v", r.code, r.stderr, tg.Masks())
	}
	if r = mask("--add", "self", "--add", strings.ReplaceAll(other, ":", "")); r.code != 0 || !strings.HasSuffix(r.stdout, "mask "+self+" "+other+"\n") {
		t.Errorf("add (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
	if r = mask("--add", third+","+fourth); r.code != 1 || !strings.Contains(r.stderr, "directive 2: aoe: mask list full") {
		t.Errorf("full (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
	if r = mask("--del", "self"); r.code != 1 || !strings.Contains(r.stderr, "without this host") {
		t.Errorf("deleting self (exit %d): %q", r.code, r.stderr)
	}
	if r = mask("--del", other); r.code != 0 || !strings.HasSuffix(r.stdout, "mask "+self+"\n") {
		t.Errorf("del (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
	if r = mask("--del", "self", "--force"); r.code != 0 || len(tg.Masks()) != 0 {
		t.Errorf("--force (exit %d): %q %v", r.code, r.stderr, tg.Masks())
	}
	if r = mask("--add", "bogus"); r.code != ExitUsage {
		t.Errorf("bad MAC (exit %d): %q", r.code, r.stderr)
	}

	reserve := func(args ...string) run {
		return w.aoe(t, append([]string{"aoe", "reserve", "e4.2", "-i", "i0"}, args...)...)
	}
	if r = reserve("--set", "self"); r.code != 0 || !strings.HasSuffix(r.stdout, "reserve "+self+"\n") {
		t.Errorf("reserve self (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
	if r = reserve("--set", other); r.code != 1 || !strings.Contains(r.stderr, "would leave this host ("+self+") out") {
		t.Errorf("reserve lockout (exit %d): %q", r.code, r.stderr)
	}
	if r = reserve("--set", other, "--force"); r.code != 0 || len(tg.Reserved()) != 1 || tg.Reserved()[0].String() != other {
		t.Errorf("force (exit %d): %q %v", r.code, r.stderr, tg.Reserved())
	}
	if r = reserve("--release"); r.code != 1 || !strings.Contains(r.stderr, "is reserved by "+other+"; --force takes it over") {
		t.Errorf("release of another's reservation (exit %d): %q", r.code, r.stderr)
	}
	if r = reserve("--release", "--force"); r.code != 0 || len(tg.Reserved()) != 0 || !strings.HasSuffix(r.stdout, "reserve (empty: not reserved)\n") {
		t.Errorf("forced release (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
	if r = w.aoe(t, "aoe", "reserve", "e4.9", "-i", "i0", "--timeout", "300ms"); r.code != 1 || !strings.Contains(r.stderr, "e4.9 did not answer on i0") {
		t.Errorf("unknown device (exit %d): %q", r.code, r.stderr)
	}
}

// TestMaskAndReserveVblade: what vblade 25 does correctly (no deletes, at
// most two mask entries: see the docs).
func TestMaskAndReserveVblade(t *testing.T) {
	w := newWireLab(t)
	w.Vblade(w.tgt, "t0", 1, 2, w.Image(1<<20))
	self := w.selfMAC(t)
	other := "02:00:00:00:00:0a"
	if r := w.aoe(t, "aoe", "mask", "e1.2", "-i", "i0", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"list": []`) {
		t.Errorf("empty mask (exit %d): %s %s", r.code, r.stdout, r.stderr)
	}
	if r := w.aoe(t, "aoe", "mask", "e1.2", "-i", "i0", "--add", other); r.code != 1 || !strings.Contains(r.stderr, "without this host") {
		t.Errorf("lockout (exit %d): %q", r.code, r.stderr)
	}
	if r := w.aoe(t, "aoe", "mask", "e1.2", "-i", "i0", "--add", "self,"+other); r.code != 0 || !strings.HasSuffix(r.stdout, "mask "+self+" "+other+"\n") {
		t.Errorf("add two (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
	// The target still answers us (we are in the list).
	if r := w.aoe(t, "aoe", "ping", "e1.2", "-i", "i0", "-c", "1"); r.code != 0 {
		t.Errorf("ping with the mask set (exit %d): %s", r.code, r.stderr)
	}
	if r := w.aoe(t, "aoe", "reserve", "e1.2", "-i", "i0", "--set", "self,"+other); r.code != 0 || !strings.HasSuffix(r.stdout, "reserve "+self+" "+other+"\n") {
		t.Errorf("reserve (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
	if r := w.aoe(t, "aoe", "ping", "e1.2", "-i", "i0", "-c", "1", "--identify"); r.code != 0 {
		t.Errorf("identify while reserved for us (exit %d): %s", r.code, r.stderr)
	}
	if r := w.aoe(t, "aoe", "reserve", "e1.2", "-i", "i0", "--set", other, "--force"); r.code != 0 {
		t.Errorf("reserve for another, forced (exit %d): %q", r.code, r.stderr)
	}
	if r := w.aoe(t, "aoe", "reserve", "e1.2", "-i", "i0", "--release"); r.code != 1 || !strings.Contains(r.stderr, "is reserved by "+other) {
		t.Errorf("release while reserved by another (exit %d): %q", r.code, r.stderr)
	}
	if r := w.aoe(t, "aoe", "reserve", "e1.2", "-i", "i0", "--release", "--force"); r.code != 0 || !strings.Contains(r.stdout, "not reserved") {
		t.Errorf("forced release (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
}

// TestAoepingSMART: aoeping -S against the SMART-capable fake target
// (vblade has no SMART).
func TestAoepingSMART(t *testing.T) {
	w := newWireLab(t)
	w.ServeTarget(w.tgt, "t0", &aoetest.Target{Shelf: 1, Slot: 1, BufferCount: 16, Sectors: 2048, Model: "smart", Serial: "s", SMART: true})
	r := w.aoe(t, "aoeping", "-s", "2", "-S", "return_status", "1", "1", "i0")
	want := "ATA registers:\n            Features: 0x00\n        Sector Count: 0x00\n             LBA Low: 0x00\n             LBA Mid: 0x4f\n            LBA High: 0xc2\n              Status: 0x40\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("return_status (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
	r = w.aoe(t, "aoeping", "-s", "2", "-S", "read_data:0x3", "1", "1", "i0")
	if r.code != 0 || !strings.Contains(r.stdout, "             LBA Low: 0x03\n") || !strings.Contains(r.stdout, "SMART data:\nd0 d0 ") || strings.Count(r.stdout, "\n") != 7+1+32+1 {
		t.Errorf("read_data (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
	if r = w.aoe(t, "aoeping", "-s", "2", "-S", "bogus", "1", "1", "i0"); r.code != 1 || r.stderr != "aoeping Error: no such SMART command: bogus\n" {
		t.Errorf("bogus (exit %d): %q", r.code, r.stderr)
	}
	if r = w.aoe(t, "aoeping", "-s", "2", "-S", "write_log", "1", "1", "i0"); r.code != 1 || !strings.Contains(r.stderr, "write_log needs 512 bytes on standard input") {
		t.Errorf("write_log without input (exit %d): %q", r.code, r.stderr)
	}
	w.Do(w.ini, func() {
		r = execute(t, []string{"aoeping", "-s", "2", "-S", "write_log:0x80", "1", "1", "i0"}, runOpts{stdin: strings.Repeat("L", 512)})
	})
	if r.code != 0 || !strings.Contains(r.stdout, "             LBA Low: 0x80\n") || strings.Contains(r.stdout, "SMART data") {
		t.Errorf("write_log (exit %d): %q %q", r.code, r.stdout, r.stderr)
	}
}
