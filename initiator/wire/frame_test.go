package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goaoe/aoe/initiator/aoeaddr"
	"github.com/goaoe/aoe/internal/ata"
)

func readFrame(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "frames", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// TestCapturedFrames decodes every frame captured from vblade 25 and checks
// that re-encoding a decoded request gives the captured bytes.
func TestCapturedFrames(t *testing.T) {
	files, err := filepath.Glob("testdata/frames/*.bin")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var f Frame
		if err := f.UnmarshalBinary(b); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		isReq := strings.Contains(file, "request")
		if isReq == f.Response {
			t.Errorf("%s: Response = %v", file, f.Response)
		}
		if isReq {
			got, err := f.MarshalBinary()
			if err != nil {
				t.Errorf("%s: marshal: %v", file, err)
			} else if !bytes.Equal(got[:min(len(got), len(b))], b) || !allZero(got[min(len(got), len(b)):]) {
				t.Errorf("%s: round trip differs:\n got %x\nwant %x", file, got, b)
			}
		}
	}
}

func TestQueryConfigResponse(t *testing.T) {
	// 32 bytes: vblade's reply arrives unpadded on a veth.
	b := readFrame(t, "eth0--qc-response-e1.2.bin")
	if len(b) != 32 {
		t.Fatalf("capture is %d bytes", len(b))
	}
	var f Frame
	if err := f.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	want := Frame{
		Destination: mustMAC("52:54:00:ae:00:01"),
		Source:      mustMAC("02:ae:00:00:01:02"),
		Version:     1, Response: true,
		Shelf: 1, Slot: 2, Command: CommandQueryConfig, Tag: 0x8000a001,
		Arg: &ConfigArg{BufferCount: 16, FirmwareVersion: 0x4019, SectorCount: 2, Version: 1},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got %+v %+v\nwant %+v %+v", f, f.Arg, want, want.Arg)
	}
	if p := f.Arg.(*ConfigArg).PayloadForMTU(1500); p != 1024 {
		t.Errorf("payload at MTU 1500 = %d", p)
	}
}

func TestConfigString(t *testing.T) {
	var f Frame
	if err := f.UnmarshalBinary(readFrame(t, "cfg-set--qc-response-e1.2.bin")); err != nil {
		t.Fatal(err)
	}
	a := f.Arg.(*ConfigArg)
	if string(a.String) != "hello-lab" || a.Command != ConfigSet {
		t.Errorf("config %q ccmd %v", a.String, a.Command)
	}
	// set again on a non-empty string: E flag, error 4, current string.
	if err := f.UnmarshalBinary(readFrame(t, "cfg-set-again--qc-response-e1.2.bin")); err != nil {
		t.Fatal(err)
	}
	if !f.Error || f.Err != ErrConfigStringPresent {
		t.Errorf("set again: E=%v err=%v", f.Error, f.Err)
	}
}

func TestStartupAnnouncement(t *testing.T) {
	// vblade announces itself with flags 0x08: version 0, tag 0.
	b := readFrame(t, "eth0--qc-response-e1.2.bin")
	b[14] = 0x08
	copy(b[20:24], []byte{0, 0, 0, 0})
	var f Frame
	if err := f.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if f.Version != 0 || !f.Response || f.Tag != 0 {
		t.Errorf("announcement: %+v", f)
	}
}

func TestIdentifyResponse(t *testing.T) {
	var f Frame
	if err := f.UnmarshalBinary(readFrame(t, "eth0--ata-identify-response-e1.3.bin")); err != nil {
		t.Fatal(err)
	}
	a := f.Arg.(*ATAArg)
	if a.CmdStatus&ata.StatusFailed != 0 || a.CmdStatus != ata.StatusDRDY {
		t.Errorf("status %#x", a.CmdStatus)
	}
	id, err := ParseIdentify(a.Data)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{Model: "Coraid EtherDrive vblade", Serial: "1.3:aoelab", Firmware: "V25",
		LBA28Sectors: 20971520, LBA48Sectors: 20971520, LBA48: true, Flush: true}
	if id != want {
		t.Errorf("identity %+v\nwant %+v", id, want)
	}
	if id.Sectors() != 20971520 {
		t.Errorf("Sectors() = %d", id.Sectors())
	}
}

func TestErrorReplies(t *testing.T) {
	var f Frame
	// Unknown AoE command 5: E flag, error 1, the request echoed.
	if err := f.UnmarshalBinary(readFrame(t, "bad-aoe-cmd--aoe-cmd5-response-e1.2.bin")); err != nil {
		t.Fatal(err)
	}
	if !f.Error || f.Err != ErrUnrecognizedCommand || f.Command != 5 {
		t.Errorf("%+v", f)
	}
	if _, ok := f.Arg.(*rawArg); !ok {
		t.Errorf("arg %T", f.Arg)
	}
	if f.Err.Error() != "aoe: unrecognized command code" {
		t.Errorf("%q", f.Err.Error())
	}
	// Write to a read-only target: ATA abort.
	if err := f.UnmarshalBinary(readFrame(t, "e5.5-readonly--ata-write-response-e5.5.bin")); err != nil {
		t.Fatal(err)
	}
	a := f.Arg.(*ATAArg)
	if a.CmdStatus&ata.StatusFailed == 0 || a.CmdStatus != 0x41 || a.FeatureErr != ata.ErrAbort {
		t.Errorf("read-only write: status %#x err %#x", a.CmdStatus, a.FeatureErr)
	}
}

func TestMarshalPadsAndSetsFields(t *testing.T) {
	f := Frame{
		Destination: mustMAC("ff:ff:ff:ff:ff:ff"), Source: mustMAC("52:54:00:ae:00:01"),
		Shelf: aoeaddr.BroadcastShelf, Slot: aoeaddr.BroadcastSlot, Command: CommandQueryConfig, Tag: 0x8000a001,
		Arg: &ConfigArg{},
	}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if want := readFrame(t, "eth0--qc-request.bin"); !bytes.Equal(b, want) {
		t.Errorf("got  %x\nwant %x", b, want)
	}
	if len(b) != minFrameLen {
		t.Errorf("length %d", len(b))
	}
}

func TestATARequestMatchesCapture(t *testing.T) {
	f := Frame{
		Destination: mustMAC("02:ae:00:00:01:02"), Source: mustMAC("52:54:00:ae:00:01"),
		Shelf: 1, Slot: 2, Command: CommandATA, Tag: 0x8000a002, Arg: NewIdentify(),
	}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := readFrame(t, "eth0--ata-identify-request-e1.2.bin")
	if !bytes.Equal(b, want[:len(b)]) || len(b) > len(want) {
		t.Errorf("got  %x\nwant %x", b, want)
	}
}

func TestLBA(t *testing.T) {
	// lbaBytes encodes a and returns the six LBA bytes, after decoding
	// them back into a copy that must equal a.
	lbaBytes := func(a *ATAArg) [6]byte {
		t.Helper()
		b, err := a.appendArg(nil)
		if err != nil {
			t.Fatal(err)
		}
		var back ATAArg
		if err := back.decodeArg(b); err != nil || !reflect.DeepEqual(&back, a) {
			t.Errorf("round trip: %+v, %v; want %+v", back, err, a)
		}
		return [6]byte(b[4:10])
	}
	a := NewRead(0x0123456789ab, 2, true)
	if got := lbaBytes(a); got != [6]byte{0xab, 0x89, 0x67, 0x45, 0x23, 0x01} || a.CmdStatus != ata.ReadSectorsExt {
		t.Errorf("LBA48 %x", got)
	}
	a = NewRead(0x0abcdef1, 1, false)
	if got := lbaBytes(a); got != [6]byte{0xf1, 0xde, 0xbc, 0xea, 0, 0} || a.CmdStatus != ata.ReadSectors {
		t.Errorf("LBA28 %x", got)
	}
	if got := lbaBytes(&ATAArg{CmdStatus: ata.FlushCache}); got != [6]byte{0, 0, 0, 0xe0, 0, 0} {
		t.Errorf("flush %x", got)
	}
	if got := lbaBytes(NewIdentify()); got != [6]byte{0, 0, 0, 0xa0, 0, 0} {
		t.Errorf("identify %x", got)
	}
	// LBA28 sends 28 bits: the rest is not sent, and decodes as zero.
	b, _ := (&ATAArg{LBA: 0x7fabcdef1}).appendArg(nil)
	if [6]byte(b[4:10]) != [6]byte{0xf1, 0xde, 0xbc, 0xea, 0, 0} {
		t.Errorf("LBA28 beyond 28 bits %x", b[4:10])
	}
	w := NewWrite(7, make([]byte, 1024), true)
	if !w.Write || w.SectorCount != 2 || w.CmdStatus != ata.WriteSectorsExt {
		t.Errorf("write %+v", w)
	}
}

// PutHeader writes every byte of the fixed part: a buffer reused for
// another frame keeps nothing of the one before.
func TestPutHeaderOverwrites(t *testing.T) {
	args := []*ATAArg{
		NewRead(0x0123456789ab, 2, true),
		NewRead(0x0abcdef1, 1, false),
		{Extended: true, Device: true, Async: true, Write: true, FeatureErr: 0xff, SectorCount: 0xff, CmdStatus: 0xff, LBA: 1<<48 - 1},
		NewIdentify(),
		{CmdStatus: ata.FlushCache},
		NewWrite(7, nil, false),
	}
	buf := make([]byte, ataArgLen)
	for i := range buf {
		buf[i] = 0xa5
	}
	for _, a := range args {
		want, _ := a.appendArg(nil)
		a.PutHeader(buf)
		if !bytes.Equal(buf, want) {
			t.Errorf("%+v: PutHeader %x, appendArg %x", a, buf, want)
		}
	}
}

func TestShortAndBadInput(t *testing.T) {
	good := readFrame(t, "cfg-set--qc-response-e1.2.bin")
	var f Frame
	for n := 0; n < len(good); n++ {
		err := f.UnmarshalBinary(good[:n])
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%d bytes: %v, want ErrUnexpectedEOF", n, err)
		}
	}
	notAoE := append([]byte(nil), good...)
	notAoE[12], notAoE[13] = 0x08, 0x00
	if err := f.UnmarshalBinary(notAoE); !errors.Is(err, errNotAoE) {
		t.Errorf("IPv4 frame: %v", err)
	}
	long := append([]byte(nil), good...)
	long[30], long[31] = 0x04, 0x01 // cslen 1025
	if err := f.UnmarshalBinary(long); !errors.Is(err, ErrConfigStringTooLong) {
		t.Errorf("cslen 1025: %v", err)
	}
	if _, err := (&ConfigArg{String: make([]byte, 1025)}).appendArg(nil); !errors.Is(err, ErrConfigStringTooLong) {
		t.Errorf("marshal 1025-byte string: %v", err)
	}
	if _, err := (&Frame{Destination: []byte{1}, Source: make([]byte, 6)}).MarshalBinary(); !errors.Is(err, errBadAddress) {
		t.Errorf("bad MAC: %v", err)
	}
}

// TestUnpadded: an Unpadded frame ends with its argument, as vblade sends
// on virtual links.
func TestUnpadded(t *testing.T) {
	f := &Frame{Destination: BroadcastMAC, Source: make([]byte, 6), Command: CommandQueryConfig, Arg: &ConfigArg{String: []byte("ab")}, Unpadded: true}
	b, err := f.MarshalBinary()
	if err != nil || len(b) != HeaderLen+configArgLen+2 {
		t.Fatalf("unpadded frame of %d bytes, %v", len(b), err)
	}
	var got Frame
	if err := got.UnmarshalBinary(b); err != nil || string(got.Arg.(*ConfigArg).String) != "ab" || got.Unpadded {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}

func TestMaskAndReserve(t *testing.T) {
	a, b := mustMAC("02:00:00:00:00:01"), mustMAC("02:00:00:00:00:02")
	m := &MaskArg{Edit: true, Directives: []Directive{{DirectiveAdd, a}, {DirectiveDelete, b}}}
	enc, err := m.appendArg(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) != 4+16 || enc[1] != 1 || enc[3] != 2 || enc[5] != 1 || enc[13] != 2 {
		t.Errorf("mask %x", enc)
	}
	var got MaskArg
	if err := got.decodeArg(append(enc, 0, 0, 0)); err != nil || !reflect.DeepEqual(&got, m) {
		t.Errorf("mask round trip %+v %v", got, err)
	}
	// A directive error: count is the failing index, no directives.
	if err := got.decodeArg([]byte{0, 1, 3, 1}); err != nil || got.Error != MaskListFull || got.FailedIndex != 1 {
		t.Errorf("mask error reply %+v %v", got, err)
	}
	enc, err = (&MaskArg{Edit: true, Error: MaskListFull, FailedIndex: 4}).appendArg(nil)
	if err != nil || !bytes.Equal(enc, []byte{0, 1, 3, 4}) {
		t.Errorf("mask error reply encodes as %x, %v", enc, err)
	}
	// A sub-command other than read (0) and edit (1).
	if err := got.decodeArg([]byte{0, 2, 0, 0}); !errors.Is(err, ErrBadArgument) {
		t.Errorf("mcmd 2: %v, want ErrBadArgument", err)
	}
	if err := got.decodeArg([]byte{0, 0, 0, 2, 0, 0, 1, 2, 3, 4, 5, 6}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short mask list: %v", err)
	}
	r := &ReserveArg{Command: ReserveSet, MACs: []net.HardwareAddr{a, b}}
	enc, err = r.appendArg(nil)
	if err != nil || len(enc) != 2+12 {
		t.Fatalf("reserve %x %v", enc, err)
	}
	var rr ReserveArg
	if err := rr.decodeArg(enc); err != nil || !reflect.DeepEqual(&rr, r) {
		t.Errorf("reserve round trip %+v %v", rr, err)
	}
	if err := rr.decodeArg([]byte{0, 1, 1, 2}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reserve list: %v", err)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// NewWrite (tests) returns the argument of a WRITE SECTORS (EXT) request carrying
// data, whose length must be a multiple of 512.
func NewWrite(lba uint64, data []byte, extended bool) *ATAArg {
	a := &ATAArg{Extended: extended, Write: true, SectorCount: uint8(len(data) / 512), CmdStatus: ata.WriteSectors, Data: data, LBA: lba}
	if extended {
		a.CmdStatus = ata.WriteSectorsExt
	}
	return a
}

// BenchmarkAppendATA: encoding a READ request, as the data path does per
// frame (into a reused buffer).
func BenchmarkAppendATA(b *testing.B) {
	arg := &ATAArg{Extended: true, SectorCount: 2, CmdStatus: 0x24, LBA: 123456}
	f := &Frame{Destination: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Source: net.HardwareAddr{2, 0, 0, 0, 0, 2}, Shelf: 1, Slot: 2, Command: CommandATA, Tag: 0x80000001, Arg: arg}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = f.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
