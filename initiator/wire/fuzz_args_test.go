package wire

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// argSeeds returns the argument bytes (after the 24-byte header) of the
// captured frames whose names contain one of the words.
func argSeeds(f *testing.F, words ...string) [][]byte {
	files, _ := filepath.Glob("testdata/frames/*.bin")
	var out [][]byte
	for _, file := range files {
		for _, w := range words {
			if strings.Contains(filepath.Base(file), w) {
				b, err := os.ReadFile(file)
				if err != nil {
					f.Fatal(err)
				}
				if len(b) > HeaderLen {
					out = append(out, b[HeaderLen:])
				}
				break
			}
		}
	}
	return out
}

// codec is an argument: a frame encodes and decodes it.
type codec = Arg

// roundTrip checks the decoder's contract on b: no panic; what decodes
// encodes, and decodes again to the same value.
func roundTrip(t *testing.T, b []byte, fresh func() codec) {
	a := fresh()
	if err := a.decodeArg(b); err != nil {
		return
	}
	out, err := a.appendArg(nil)
	if err != nil {
		t.Fatalf("decoded %x but cannot encode it: %v", b, err)
	}
	again := fresh()
	if err := again.decodeArg(out); err != nil {
		t.Fatalf("re-decoding %x: %v", out, err)
	}
	if !reflect.DeepEqual(a, again) {
		t.Fatalf("round trip changed the value:\n%#v\n%#v", a, again)
	}
}

// FuzzConfigArg: the Query Config argument (captures of every config
// sub-command as seeds).
func FuzzConfigArg(f *testing.F) {
	for _, s := range argSeeds(f, "qc-") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Version 0 is documented to be sent as 1: compare from there.
		if len(b) > 5 && b[5]>>4 == 0 {
			b = append([]byte(nil), b...)
			b[5] |= version << 4
		}
		roundTrip(t, b, func() codec { return new(ConfigArg) })
	})
}

// FuzzATAArg: the ATA argument (IDENTIFY, READ, WRITE, CHECK POWER
// captures as seeds).
func FuzzATAArg(f *testing.F) {
	for _, s := range argSeeds(f, "ata-") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a := new(ATAArg)
		if err := a.decodeArg(b); err != nil {
			return
		}
		if len(a.Data) > len(b) {
			t.Fatalf("data longer than the input: %d > %d", len(a.Data), len(b))
		}
		if _, err := a.appendArg(nil); err != nil {
			t.Fatalf("decoded %x but cannot encode it: %v", b, err)
		}
	})
}

// FuzzMaskArg: the Mac Mask List argument.
func FuzzMaskArg(f *testing.F) {
	for _, a := range []*MaskArg{
		{},
		{Edit: true, Directives: []Directive{{Command: DirectiveAdd, MAC: bytes.Repeat([]byte{2}, 6)}, {Command: DirectiveDelete, MAC: bytes.Repeat([]byte{3}, 6)}}},
		{Edit: true, Error: MaskListFull, FailedIndex: 1},
	} {
		b, err := a.appendArg(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a := new(MaskArg)
		if err := a.decodeArg(b); err != nil {
			return
		}
		if 4+8*len(a.Directives) > len(b) {
			t.Fatalf("%d directives from %d bytes", len(a.Directives), len(b))
		}
		if _, err := a.appendArg(nil); err != nil {
			t.Fatalf("decoded %x but cannot encode it: %v", b, err)
		}
	})
}

// FuzzReserveArg: the Reserve/Release argument.
func FuzzReserveArg(f *testing.F) {
	for _, a := range []*ReserveArg{
		{Command: ReserveRead},
		{Command: ReserveSet, MACs: []net.HardwareAddr{bytes.Repeat([]byte{2}, 6), bytes.Repeat([]byte{4}, 6)}},
	} {
		b, err := a.appendArg(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a := new(ReserveArg)
		if err := a.decodeArg(b); err != nil {
			return
		}
		if 2+6*len(a.MACs) > len(b) {
			t.Fatalf("%d MACs from %d bytes", len(a.MACs), len(b))
		}
		if _, err := a.appendArg(nil); err != nil {
			t.Fatalf("decoded %x but cannot encode it: %v", b, err)
		}
	})
}

// TestIdentityCapacityBeyondLBA48: a claim beyond 2^48 sectors is clamped
// to the limit, never turned into a wrapped count.
func TestIdentityCapacityBeyondLBA48(t *testing.T) {
	for _, tc := range []struct {
		sectors uint64
		clamped bool
	}{
		{1 << 20, false},
		{maxLBA48Sectors, false},
		{maxLBA48Sectors + 1, true},
		{1 << 56, true},
		{1<<64 - 1, true},
	} {
		id := Identity{LBA48: true, LBA48Sectors: tc.sectors}
		n, clamped := id.Capacity()
		if clamped != tc.clamped || (!clamped && n != tc.sectors) || (clamped && n != maxLBA48Sectors) {
			t.Errorf("%d sectors: Capacity() = %d, %v; want clamped=%v", tc.sectors, n, clamped, tc.clamped)
		}
	}
}
