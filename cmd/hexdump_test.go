package cmd

import (
	"strings"
	"testing"
)

// TestHexdumpC: aoe ping --identify --hex dumps as hexdump -C does,
// indented by two blanks, a short last line padded (the layout of the
// hand-written dump encoding/hex.Dump replaced).
func TestHexdumpC(t *testing.T) {
	var b strings.Builder
	hexdumpC(&b, []byte("AoE\x00\xff target ~\x7f model 12345"))
	want := "  00000000  41 6f 45 00 ff 20 74 61  72 67 65 74 20 7e 7f 20  |AoE.. target ~. |\n" +
		"  00000010  6d 6f 64 65 6c 20 31 32  33 34 35                 |model 12345|\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	if hexdumpC(&b, nil); b.Len() != 0 {
		t.Errorf("no data: %q", b.String())
	}
}
