package aoetest

import (
	"bytes"
	"testing"

	"github.com/goaoe/aoe/initiator/wire"
)

// TestTargetBadMaskCommand: a Mac Mask List sub-command other than read
// and edit is answered as vblade answers it: error 2 (bad argument), the
// request's argument echoed, the list unchanged.
func TestTargetBadMaskCommand(t *testing.T) {
	tg := &Target{Shelf: 1, Slot: 2, MAC: tgtMAC, Sectors: 8}
	req := &wire.Frame{Destination: tgtMAC, Source: iniMAC, Shelf: 1, Slot: 2, Command: wire.CommandMACMask, Tag: 7, Arg: &wire.MaskArg{}, Unpadded: true}
	b, err := req.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b[wire.HeaderLen+1] = 2 // mcmd 2: not defined
	var f wire.Frame
	if err := f.UnmarshalBinary(b); err != wire.ErrBadArgument || f.Command != wire.CommandMACMask || f.Tag != 7 {
		t.Fatalf("decoding mcmd 2: %v, %+v", err, f)
	}
	rep := tg.Handle(b)
	if err := f.UnmarshalBinary(rep); err != nil {
		t.Fatal(err)
	}
	if !f.Response || !f.Error || f.Err != wire.ErrBadArgument || f.Tag != 7 {
		t.Errorf("reply %+v", f)
	}
	if !bytes.Equal(rep[wire.HeaderLen:], b[wire.HeaderLen:]) {
		t.Errorf("argument %x, want the request's %x", rep[wire.HeaderLen:], b[wire.HeaderLen:])
	}
	if len(tg.Masks()) != 0 {
		t.Errorf("masks %v", tg.Masks())
	}
}
