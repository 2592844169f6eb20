package wire

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzFrame: decoding never panics, never reads past the input, and what
// decodes (and is not an unparsed error reply) encodes again.
func FuzzFrame(f *testing.F) {
	files, _ := filepath.Glob("testdata/frames/*.bin")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		if err := fr.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := fr.MarshalBinary()
		if err != nil {
			if _, ok := fr.Arg.(*ConfigArg); ok {
				t.Fatalf("decoded config frame does not encode: %v", err)
			}
			return
		}
		var again Frame
		if err := again.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-decoding %x: %v", out, err)
		}
		if again.Tag != fr.Tag || again.Shelf != fr.Shelf || again.Slot != fr.Slot || again.Command != fr.Command {
			t.Fatalf("round trip changed the header: %+v vs %+v", fr, again)
		}
	})
}

// FuzzIdentify: any 512 bytes parse.
func FuzzIdentify(f *testing.F) {
	var fr Frame
	if err := fr.UnmarshalBinary(readFrame(f, "eth0--ata-identify-response-e1.2.bin")); err == nil {
		f.Add(fr.Arg.(*ATAArg).Data)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := ParseIdentify(b)
		if err == nil && len(id.Model) > 40 {
			t.Fatalf("model longer than 40 bytes: %q", id.Model)
		}
	})
}
