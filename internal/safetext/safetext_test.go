package safetext

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestBytes(t *testing.T) {
	for in, want := range map[string]string{
		"rack-3":                   "rack-3",
		"ünï":                      "ünï",
		"a\tb\x1b[31m":             `a\x09b\x1b[31m`,
		"\xff\xfe":                 `\xff\xfe`,
		`back\slash`:               `back\\slash`,
		"\u0085 \u200b":            `\xc2\x85 \xe2\x80\x8b`,
		"\u009b31m":                `\xc2\x9b31m`,
		"\x9b31m":                  `\x9b31m`,
		"a\u202eb\u2066c":          `a\xe2\x80\xaeb\xe2\x81\xa6c`,
		"\u200e\u200f\u061c\u2069": `\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c\xe2\x81\xa9`,
		"line\nforged\r\b\x07\x7f": `line\x0aforged\x0d\x08\x07\x7f`,
		"é\xc3":                    `é\xc3`,
		"\ufffd":                   "\ufffd", // a real replacement character is printable
	} {
		if got := Bytes([]byte(in)); got != want {
			t.Errorf("Bytes(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Classic([]byte(`rack\3 ünï` + "\x1b")); got != `rack\3 ünï\x1b` {
		t.Errorf("Classic: %q", got)
	}
}

func TestJSON(t *testing.T) {
	in := "ok\x1b\u009b\u202e\u2066\u200e\u061c\u2028\U000e0001é\xff"
	b, _ := json.Marshal(map[string]string{"s": in})
	out := JSON(b)
	if strings.ContainsAny(string(out), "\u009b\u202e\u2066\u200e\u061c\U000e0001") {
		t.Errorf("raw control left: %q", out)
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil || back["s"] != strings.ToValidUTF8(in, "\ufffd") {
		t.Errorf("round trip: %v %q", err, back["s"])
	}
}

// unsafe reports a rune a terminal could act on.
func unsafe(r rune) bool {
	return r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && !unicode.IsPrint(r)))
}

func FuzzBytes(f *testing.F) {
	for _, s := range []string{"rack-3", "\x1b[2J", "a\u202eb", "\xff\\x", "é\xc3", "\u009b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, out := range []string{Bytes(b), Classic(b)} {
			if !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8 out of %q: %q", b, out)
			}
			for _, r := range out {
				if unsafe(r) || r == '\n' {
					t.Fatalf("raw %U out of %q: %q", r, b, out)
				}
			}
		}
		// Bytes is reversible: \\ and \xHH are the only escapes.
		if got := unescape(t, Bytes(b)); got != string(b) {
			t.Fatalf("Bytes(%q) reads back as %q", b, got)
		}
	})
}

func unescape(t *testing.T, s string) string {
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\\' {
			out.WriteByte('\\')
			i++
			continue
		}
		if i+3 >= len(s) || s[i+1] != 'x' {
			t.Fatalf("bad escape in %q", s)
		}
		n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteByte(byte(n))
		i += 3
	}
	return out.String()
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{"rack-3", "\x1b[2J", "a\u202eb", "\xff", "\U000e0001", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.MarshalIndent([]any{s, map[string]string{s: s}}, "", "  ")
		if err != nil {
			t.Skip()
		}
		out := JSON(b)
		for _, r := range string(out) {
			if unsafe(r) {
				t.Fatalf("raw %U in %q", r, out)
			}
		}
		var a, c any
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatalf("invalid JSON %q: %v", out, err)
		}
		json.Unmarshal(b, &c)
		if x, y := mustJSON(a), mustJSON(c); x != y {
			t.Fatalf("meaning changed: %s vs %s", x, y)
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"a\x1bb", 4, `a\x1`},
		{"ééé", 3, "é"},
		{"e1.2\u202e", 100, `e1.2\xe2\x80\xae`},
	} {
		if got := Cut(tc.in, tc.n); got != tc.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
