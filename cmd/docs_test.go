package cmd

import (
	"os"
	"sort"
	"strings"
	"testing"
)

// TestMakefileClassicNames: make creates a symlink for every classic name
// the binary answers to, and no other.
func TestMakefileClassicNames(t *testing.T) {
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CLASSIC := "); ok {
			got = strings.Fields(v)
		}
	}
	sort.Strings(got)
	if want := ClassicNames(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Makefile CLASSIC = %v, the binary answers to %v", got, want)
	}
}
