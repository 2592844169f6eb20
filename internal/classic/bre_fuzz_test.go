package classic

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzBRE: the classic aoe-stat pattern translator never panics, and what
// it accepts is a valid Go regexp that matches ordinary text literally.
func FuzzBRE(f *testing.F) {
	for _, p := range brePatterns {
		f.Add(p, "e1.2")
	}
	f.Fuzz(func(t *testing.T, bre, line string) {
		re, err := CompileBRE(bre)
		if err != nil {
			return
		}
		if _, err := regexp.Compile(re.String()); err != nil {
			t.Fatalf("%q gives an invalid regexp %q: %v", bre, re, err)
		}
		re.MatchString(line)
		// Letters, digits and blanks are literals in a BRE.
		if bre != "" && strings.Trim(bre, "abcdefghijklmnopqrstuvwxyz0123456789 ") == "" && !re.MatchString("x"+bre+"x") {
			t.Fatalf("%q does not match itself (%q)", bre, re)
		}
	})
}
