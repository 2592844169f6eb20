package cmd

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestDocsUpToDate regenerates the man and Markdown pages and compares them
// with the committed ones, and checks that generation is byte-stable.
func TestDocsUpToDate(t *testing.T) {
	for _, d := range []struct{ kind, committed string }{{"man", "../man"}, {"md", "../docs"}} {
		a, b := t.TempDir(), t.TempDir()
		gen := func(dir string) {
			var err error
			if d.kind == "man" {
				err = GenDocs(dir, "")
			} else {
				err = GenDocs("", dir)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		gen(a)
		gen(b)
		if err := checkDocs(a, b); err != nil {
			t.Errorf("generating %s pages twice differs: %v", d.kind, err)
		}
		if err := checkDocs(a, filepath.Clean(d.committed)); err != nil {
			t.Error(err)
		}
	}
}

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
