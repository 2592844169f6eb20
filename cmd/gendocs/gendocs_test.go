package main

import (
	"path/filepath"
	"testing"
)

// TestDocsUpToDate regenerates the man and Markdown pages and compares them
// with the committed ones, and checks that generation is byte-stable.
func TestDocsUpToDate(t *testing.T) {
	for _, d := range []struct{ kind, committed string }{{"man", "../../man"}, {"md", "../../docs"}} {
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
